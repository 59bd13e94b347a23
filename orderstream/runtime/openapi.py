"""The OpenAPI 3.1 document of a context's API, made from its registered routes and models."""

import re
from typing import Any

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                   "field": {"type": "string"}, "rule": {"type": "string"}}}}}
ERRORS = {"400": "malformed JSON", "401": "missing or wrong bearer token", "404": "unknown id",
          "405": "method not allowed", "409": "not allowed in the current state",
          "413": "body too large", "422": "a field breaks a rule", "503": "not ready; retry"}


def _operation(path: str, method: str, route: dict, schemas: dict) -> dict[str, Any]:
    status = str(route.get("status", 200 if method == "get" else 202))
    op: dict[str, Any] = {
        "summary": route["summary"],
        "operationId": f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', path)}",
        "parameters": [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 100}}
                       for name in re.findall(r"{(\w+)}", path)],
        "responses": {status: {"description": route.get("returns", "OK"),
                               "content": {"application/json": {"schema": {"type": "object"}}}}}
        | {code: {"description": text, "content": {"application/json": {"schema": ERROR}}}
           for code, text in ERRORS.items()},
    }
    op["parameters"] += route.get("query", [])
    if route.get("body") is not None:
        model = route["body"]
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}
    if route.get("mutating"):
        op["security"] = [{"bearer": []}]
    return op


def document(api) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths = {path: {method: _operation(path, method, route, schemas) for method, route in methods.items()}
             for path, methods in api.routes.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": api.title, "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
