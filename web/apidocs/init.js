// The API reference at /api/docs: the pinned Swagger UI (vendor/, see vendor.sh) showing the
// OpenAPI document this server generates. Everything comes from this server: no validator badge
// (it would call validator.swagger.io), and the page's Content-Security-Policy allows nothing else.
window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  docExpansion: 'list',
});
