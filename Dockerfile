# syntax=docker/dockerfile:1
# Confab in a container: a release build in Rust's Debian image, run from debian:bookworm-slim as
# an unprivileged user, listening on 0.0.0.0:8080, data in the volume /var/lib/confab.
#
#   docker build -t confab .
#   docker run -p 8080:8080 -v confab-data:/var/lib/confab confab        # http://127.0.0.1:8080
#   docker stop -t 30 …        # SIGTERM drains for up to the window + 5 s: give it more than 10 s
#
# compose.yaml runs three of these with PostgreSQL, NATS and HAProxy. Settings are CONFAB_*
# variables (README, "Configuration") or a TOML file mounted and named by CONFAB_CONFIG.

FROM rust:1-bookworm AS build
WORKDIR /src
# The workspace, and the web UI and API reference files that the server embeds at compile time.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY web/index.html web/style.css web/*.js web/
COPY web/apidocs web/apidocs
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p confab --bin confab \
    && cp target/release/confab /usr/local/bin/confab

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/confab --create-home \
        --shell /usr/sbin/nologin confab
COPY --from=build /usr/local/bin/confab /usr/local/bin/confab
USER confab
WORKDIR /var/lib/confab
ENV CONFAB_LISTEN=0.0.0.0:8080 \
    CONFAB_DATA_DIR=/var/lib/confab
VOLUME /var/lib/confab
EXPOSE 8080
STOPSIGNAL SIGTERM
# Ready for traffic (503 while draining or while the bus is down). bash's /dev/tcp: the slim image
# has no curl. The port is CONFAB_LISTEN's.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${CONFAB_LISTEN##*:} && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["confab"]
CMD ["serve"]
