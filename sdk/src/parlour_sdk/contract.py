"""Does this SDK agree with a Parlour server? Its endpoint table against the OpenAPI document.

    import httpx
    from parlour_sdk.contract import disagreements

    document = httpx.get("https://chat.example.org/api/v1/openapi.json").json()
    assert disagreements(document) == []

Checked for each endpoint the SDK calls: the path and method exist; each path, query and header
parameter it sends is declared; each request member it sends is in the request schema, and
every member the schema requires is one it sends; each member it reads from the answer is in
the response schema, present whenever the SDK needs it, of the same JSON type, and nullable
only where the SDK accepts None. Parlour's own test suite runs this against the live document.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from typing import Any

from parlour_sdk._decode import hints
from parlour_sdk.endpoints import ENDPOINTS, Endpoint

Schema = dict[str, Any]

__all__ = ["disagreements"]


def disagreements(openapi: Schema, table: tuple[Endpoint[Any], ...] = ENDPOINTS) -> list[str]:
    """Every way the SDK's endpoint table and the API's document disagree, in words."""
    problems: list[str] = []
    for endpoint in table:
        operation = openapi["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
        if operation is None:
            problems.append(f"{endpoint.name}: {endpoint.method} {endpoint.path} is not in the API")
            continue
        problems += _parameters(endpoint, operation)
        problems += _request_body(openapi, endpoint, operation)
        problems += _response(openapi, endpoint, operation)
    return problems


def _parameters(endpoint: Endpoint[Any], operation: Schema) -> list[str]:
    declared = {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}
    path_names = [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]
    wanted = [("path", n) for n in path_names] + [("query", n) for n in endpoint.query]
    wanted += [("header", h) for h in endpoint.headers]
    return [
        f"{endpoint.name}: the API takes no {where} parameter {name!r}"
        for where, name in wanted
        if (where, name.lower()) not in declared
    ]


def _request_body(openapi: Schema, endpoint: Endpoint[Any], operation: Schema) -> list[str]:
    body = operation.get("requestBody")
    if body is None:
        return [f"{endpoint.name}: the API takes no request body"] if endpoint.body else []
    schema = _resolve(openapi, body["content"]["application/json"]["schema"])
    properties = schema.get("properties", {})
    problems = [
        f"{endpoint.name}: the request member {name!r} is not in the API's request schema"
        for name in endpoint.body
        if name not in properties
    ]
    problems += [
        f"{endpoint.name}: the API requires the request member {name!r}, the SDK never sends it"
        for name in schema.get("required", [])
        if name not in endpoint.body
    ]
    if body.get("required") and not endpoint.body:
        problems.append(f"{endpoint.name}: the API requires a request body")
    return problems


def _response(openapi: Schema, endpoint: Endpoint[Any], operation: Schema) -> list[str]:
    ok = [r for s, r in operation["responses"].items() if s.startswith("2") and "content" in r]
    if not ok:
        return [f"{endpoint.name}: the API documents no JSON answer"]
    schema = _resolve(openapi, ok[0]["content"]["application/json"]["schema"])
    where = endpoint.name
    if endpoint.many:
        if schema.get("type") != "array":
            return [f"{where}: the API answers {schema.get('type')}, the SDK reads a list"]
        schema = schema["items"]
    return _model(openapi, endpoint.model, schema, where)


def _resolve(openapi: Schema, schema: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = openapi["components"]["schemas"][name]
    return schema


def _model(openapi: Schema, model: type[Any], schema: Schema, where: str) -> list[str]:
    schema = _resolve(openapi, schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {f.name: f for f in dataclasses.fields(model)}
    problems: list[str] = []
    for name, kind in hints(model).items():
        path = f"{where}: {model.__name__}.{name}"
        if name not in properties:
            problems.append(f"{path} is not in the API's response schema")
            continue
        has_default = fields[name].default is not dataclasses.MISSING or (
            fields[name].default_factory is not dataclasses.MISSING
        )
        if name not in required and not has_default:
            problems.append(f"{path} may be absent from the API's answer")
        problems += _type(openapi, kind, properties[name], path)
    return problems


def _type(openapi: Schema, kind: Any, schema: Schema, path: str) -> list[str]:
    schema = _resolve(openapi, schema)
    options = [_resolve(openapi, s) for s in schema.get("anyOf", [schema])]
    api_nullable = any(s.get("type") == "null" for s in options)
    options = [s for s in options if s.get("type") != "null"]
    args = typing.get_args(kind)
    sdk_nullable = type(None) in args
    if sdk_nullable:
        kind = next(a for a in args if a is not type(None))
    if api_nullable and not sdk_nullable:
        return [f"{path} can be null in the API, the SDK does not accept None"]
    if len(options) != 1:
        return [f"{path} has several types in the API: {options}"]
    return _same_kind(openapi, kind, options[0], path)


_JSON_TYPES: dict[Any, tuple[str, ...]] = {
    str: ("string",),
    int: ("integer",),
    float: ("number", "integer"),
    bool: ("boolean",),
    datetime: ("string",),
}


def _same_kind(openapi: Schema, kind: Any, schema: Schema, path: str) -> list[str]:
    if dataclasses.is_dataclass(kind):
        return _model(openapi, typing.cast(type[Any], kind), schema, path)
    origin = typing.get_origin(kind)
    if origin is list:
        if schema.get("type") != "array":
            return [f"{path} is {schema.get('type')} in the API, the SDK reads a list"]
        return _type(openapi, typing.get_args(kind)[0], schema["items"], f"{path}[]")
    if origin is dict:
        return [] if schema.get("type", "object") == "object" else [f"{path} is not an object"]
    if kind is datetime and schema.get("format") != "date-time":
        return [f"{path} is not a date-time in the API"]
    if schema.get("type") not in _JSON_TYPES.get(kind, ()):
        return [f"{path} is {schema.get('type')} in the API, the SDK reads {kind.__name__}"]
    return []
