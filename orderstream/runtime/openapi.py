"""The OpenAPI 3.1 document of a context's API, made from its registered routes and models."""

import re
from typing import Any

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                   "field": {"type": "string"}, "rule": {"type": "string"}}}}}
ERRORS = {"400": "malformed JSON", "401": "missing or wrong bearer token",
          "403": "a read-only token on a call that writes", "404": "unknown id",
          "405": "method not allowed", "409": "not allowed in the current state",
          "413": "body too large", "422": "a field breaks a rule", "503": "not ready; retry"}

ACCEPTED = {"type": "object", "required": ["accepted", "message_id", "location"],
            "properties": {"accepted": {"type": "string"}, "message_id": {"type": "string"},
                           "location": {"type": "string"}}}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "description": "a retry with the same key makes the very same command",
                   "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
LOCATION = {"Location": {"description": "where to follow the command's aggregate",
                         "schema": {"type": "string"}}}


def _answer(status: str, route: dict) -> dict[str, Any]:
    """The success response: JSON unless the route says otherwise (a page is text/html)."""
    media = route.get("media", "application/json")
    if media != "application/json":
        schema: dict[str, Any] = {"type": "string"}
    else:
        schema = ACCEPTED if status == "202" else {"type": "object"}
    answer = {"description": route.get("returns", "OK"), "content": {media: {"schema": schema}}}
    return answer | ({"headers": LOCATION} if status == "202" else {})


def _operation(path: str, method: str, route: dict, schemas: dict, secured: bool,
               read_only: bool = False) -> dict[str, Any]:
    status = str(route.get("status", 200 if method == "get" else 202))
    shown = {"401": secured, "403": secured and read_only and route.get("mutating", False)}
    op: dict[str, Any] = {
        "summary": route["summary"],
        "operationId": f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', path)}",
        "parameters": [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 100}}
                       for name in re.findall(r"{(\w+)}", path)],
        "responses": {status: _answer(status, route)}
        | {code: {"description": text, "content": {"application/json": {"schema": ERROR}}}
           for code, text in ERRORS.items() if shown.get(code, True)},
    }
    op["parameters"] += route.get("query", [])
    if route.get("mutating"):
        op["parameters"].append(IDEMPOTENCY_KEY)
    if route.get("body") is not None:
        model = route["body"]
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}
    if secured:
        op["security"] = [{"bearer": []}]
    return op


def document(api) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    token, reads = api.settings.api_token is not None, api.settings.auth_reads

    def secured(route: dict) -> bool:  # as Api._authorize decides: only with a token configured
        return token and (route.get("mutating", False) or reads)

    read_only = api.settings.api_read_token is not None
    paths = {path: {method: _operation(path, method, route, schemas, secured(route), read_only)
                    for method, route in methods.items()}
             for path, methods in api.routes.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": api.title, "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
