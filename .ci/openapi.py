"""The OpenAPI document the server serves at /api/v1/openapi.json is valid OpenAPI (checked with
openapi-spec-validator, pinned in .ci/requirements.txt), and its operationIds are unique."""

import json
import os
import sys

from openapi_spec_validator import validate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import Server  # noqa: E402


def main():
    with Server() as server:
        status, content_type, text = server.get("/api/v1/openapi.json")
    doc = json.loads(text)
    failed = 0
    try:
        validate(doc)
        print(f"ok   /api/v1/openapi.json is valid OpenAPI {doc['openapi']}")
    except Exception as e:  # the validator raises its own error types
        failed += 1
        print(f"FAIL /api/v1/openapi.json: {e}")
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    if len(ids) == len(set(ids)):
        print(f"ok   {len(ids)} operations, each with its own operationId")
    else:
        failed += 1
        print(f"FAIL operationIds repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
