"""The OpenAPI 3.1 document of the HTTP API, generated from the same descriptors as the routes.

Schemas describe the proto3 JSON mapping: lowerCamelCase names, 64-bit integers as
strings (requests may also send numbers), enums by name, well-known types in their
JSON forms. Proto comments become descriptions; ``field_behavior`` marks fields
required (REQUIRED) or read-only (OUTPUT_ONLY); the access option becomes ``security``.
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from toko.gateway.binding import SCALAR_WELL_KNOWN, is_map, is_message, is_repeated, message_of
from toko.gateway.descriptors import Contracts
from toko.gateway.problems import reason_phrase
from toko.gateway.routes import Route

Schema = dict[str, Any]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_QUERY_DEPTH = 3
_T = FieldDescriptor
_FLOAT: Schema = {"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
_INT32: Schema = {"type": "integer", "format": "int32", "minimum": _INT32_MIN, "maximum": _INT32_MAX}
_UINT32: Schema = {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
_SCALARS: dict[int, Schema] = {
    _T.TYPE_DOUBLE: {**_FLOAT, "format": "double"},
    _T.TYPE_FLOAT: {**_FLOAT, "format": "float"},
    # Without an example, /docs fills a request body's integers with their minimum: a weight of
    # -2147483648 grams (and 64-bit ones with a string its pattern allows, a negative amount too).
    # Every count, size, weight and amount of ours is positive; 1 is valid for most.
    _T.TYPE_INT32: {**_INT32, "example": 1},
    _T.TYPE_SINT32: {**_INT32, "example": 1},
    _T.TYPE_SFIXED32: {**_INT32, "example": 1},
    _T.TYPE_UINT32: {**_UINT32, "example": 1},
    _T.TYPE_FIXED32: {**_UINT32, "example": 1},
    # proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision) and reads both.
    _T.TYPE_INT64: {
        "type": ["string", "integer"],
        "format": "int64",
        "pattern": "^-?[0-9]{1,18}$",
        "minimum": _INT64_MIN,
        "maximum": _INT64_MAX,
        "example": "1",
    },
    _T.TYPE_UINT64: {
        "type": ["string", "integer"],
        "format": "uint64",
        "pattern": "^[0-9]{1,19}$",
        "minimum": 0,
        "maximum": 2**64 - 1,
        "example": "1",
    },
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
for _same, _as in (
    (_T.TYPE_SINT64, _T.TYPE_INT64),
    (_T.TYPE_SFIXED64, _T.TYPE_INT64),
    (_T.TYPE_FIXED64, _T.TYPE_UINT64),
):
    _SCALARS[_same] = _SCALARS[_as]

_WRAPPED = {
    "google.protobuf.DoubleValue": _T.TYPE_DOUBLE,
    "google.protobuf.FloatValue": _T.TYPE_FLOAT,
    "google.protobuf.Int64Value": _T.TYPE_INT64,
    "google.protobuf.UInt64Value": _T.TYPE_UINT64,
    "google.protobuf.Int32Value": _T.TYPE_INT32,
    "google.protobuf.UInt32Value": _T.TYPE_UINT32,
    "google.protobuf.BoolValue": _T.TYPE_BOOL,
    "google.protobuf.StringValue": _T.TYPE_STRING,
    "google.protobuf.BytesValue": _T.TYPE_BYTES,
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {
        "type": "string",
        "pattern": "^[A-Za-z0-9.,]*$",
        "description": "Comma-separated lowerCamelCase field paths.",
    },
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
}
for _name, _scalar in _WRAPPED.items():
    _WELL_KNOWN[_name] = {"anyOf": [_SCALARS[_scalar], {"type": "null"}]}

_PROBLEM: Schema = {
    "type": "object",
    "description": "An RFC 9457 problem document; every error has this shape.",
    "required": ["type", "title", "status", "reason", "requestId"],
    "properties": {
        "type": {"type": "string", "description": "urn:problem:toko:<reason in kebab-case>."},
        "title": {"type": "string", "description": "HTTP reason phrase."},
        "status": {"type": "integer", "description": "HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "reason": {"type": "string", "description": "Stable machine-readable reason, UPPER_SNAKE_CASE."},
        "violations": {"type": "array", "items": {"$ref": "#/components/schemas/FieldViolation"}},
        "requestId": {"type": "string", "description": "Id of the request, as in the X-Request-Id header."},
    },
}
_FIELD_VIOLATION: Schema = {
    "type": "object",
    "required": ["field", "description"],
    "properties": {
        "field": {"type": "string", "description": "Path of the field at fault, e.g. skus[0].price."},
        "description": {"type": "string"},
        "reason": {"type": "string"},
    },
}


# The scopes access tokens carry (docs/adr/0006-token-verification.md); the access options name them.
SCOPES: dict[str, str] = {
    "openid": "Sign in with OpenID Connect.",
    "profile": "Your name, birth date and avatar.",
    "email": "Your email address.",
    "phone": "Your phone number.",
    "address": "Your address book.",
    "offline_access": "Stay signed in (a refresh token).",
    "account": "Your own profile, addresses, wishlists, password and second factor.",
    "shop.manage": "Open, change, close or transfer your shop and manage its staff.",
    "catalog.write": "Create, change and archive your shop's products.",
    "admin": "Administer the platform (also needs the admin role).",
}


def build_openapi(
    contracts: Contracts,
    routes: list[Route],
    *,
    public_base_url: str = "http://127.0.0.1:8080",
    docs_client_id: str = "api-docs",
    title: str = "toko API",
    version: str = "v1",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; the OAuth 2 endpoints are under ``public_base_url``, and
    ``docs_client_id`` is the public client that signs in from the docs."""
    schemas = _Schemas(contracts)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    services: dict[str, str] = {}
    # OpenAPI treats /a/{x} and /a/{y} as one path, so the first template of a shape names its parameters.
    names_of_shape: dict[str, list[str]] = {}
    for route in routes:
        template = route.template
        if template.has_unnamed_wildcards:
            continue
        names = names_of_shape.setdefault(template.openapi_shape(), [v.parameter for v in template.variables])
        path = paths.setdefault(template.openapi_path(names), {})
        verb = route.http_method.lower()
        if verb in path or verb not in ("get", "put", "post", "delete", "patch"):
            # Two templates that differ only in a variable's pattern look the same to OpenAPI.
            continue
        path[verb] = _operation(route, contracts, schemas, used_ids, names)
        services[route.service] = contracts.comment(route.service)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "HTTP/JSON API of the toko marketplace. Every operation is a gRPC method transcoded "
                "by the gateway; bodies use the proto3 JSON mapping. Errors are RFC 9457 problem documents."
            ),
        },
        "tags": [
            {"name": name.rsplit(".", 1)[-1], "description": comment} for name, comment in services.items()
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Problem": _PROBLEM,
                "FieldViolation": _FIELD_VIOLATION,
                **dict(sorted(schemas.components.items())),
            },
            "headers": {
                "X-Request-Id": {
                    "description": "Id of the request: the client's X-Request-Id, or one made up (UUIDv7).",
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": _security_schemes(public_base_url.rstrip("/"), routes, docs_client_id),
        },
    }


def _operation(
    route: Route, contracts: Contracts, schemas: _Schemas, used_ids: set[str], names: list[str]
) -> dict[str, Any]:
    method = route.method
    binding = route.binding
    comment = contracts.comment(method.full_name)
    service = route.service.rsplit(".", 1)[-1]
    operation_id = f"{service}_{method.name}" + (f"_{route.index}" if route.index else "")
    while operation_id in used_ids:
        operation_id += "_"
    used_ids.add(operation_id)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [service],
        "summary": comment.split("\n", 1)[0] or method.name,
        "description": _access_note(route, comment),
    }
    path_fields = binding.path_fields()
    parameters: list[dict[str, Any]] = []
    for name, (path, fields) in zip(names, path_fields.items(), strict=True):
        description = contracts.comment(fields[-1].full_name)
        if name != path[-1] or len(path) > 1:
            description = f"{description} (field `{'.'.join(path)}`)".strip()
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schemas.field(fields[-1], item=True),
            }
        )
    if binding.body != "*":
        taken = {tuple(f.number for f in fields) for fields in path_fields.values()}
        if binding.body_fields():
            taken.add(tuple(f.number for f in binding.body_fields()))
        parameters.extend(
            _query_parameters(
                method.input_type,
                prefix=(),
                numbers=(),
                taken=taken,
                contracts=contracts,
                schemas=schemas,
                visiting=set(),
            )
        )
    if parameters:
        operation["parameters"] = parameters
    if binding.body == "*":
        top_level = {fields[0].name for fields in path_fields.values() if len(fields) == 1}
        body_schema = (
            schemas.inline(method.input_type, exclude=top_level)
            if top_level
            else schemas.ref(method.input_type)
        )
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    elif binding.body:
        field = binding.body_fields()[-1]
        # An empty body leaves the field unset; the service decides whether that is an error.
        operation["requestBody"] = {
            "required": False,
            "description": contracts.comment(field.full_name),
            "content": {"application/json": {"schema": schemas.field(field)}},
        }
    output: Schema = schemas.ref(method.output_type)
    output_doc = contracts.comment(method.output_type.full_name)
    if binding.response_fields():
        field = binding.response_fields()[-1]
        output = schemas.field(field)
        output_doc = contracts.comment(field.full_name)
    operation["responses"] = _responses(route, output, output_doc or "OK")
    scopes = sorted(route.rule.scopes)
    operation["security"] = [] if route.rule.public else [{"bearerAuth": []}, {"oauth2": scopes}]
    return operation


def _security_schemes(base: str, routes: list[Route], docs_client_id: str) -> dict[str, Any]:
    used = {scope for route in routes for scope in route.rule.scopes}
    scopes = {**SCOPES, **{scope: scope for scope in sorted(used - SCOPES.keys())}}
    return {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "An OAuth 2 access token (a JWT, RFC 9068) from the authorization server below, "
                "sent as `Authorization: Bearer <token>`. Tokens live 15 minutes."
            ),
        },
        "oauth2": {
            "type": "oauth2",
            "description": (
                "toko's OAuth 2.1 / OpenID Connect provider. The authorization code flow is for public "
                "clients, with PKCE (S256, required) and no secret: these docs sign in as the public "
                f"client `{docs_client_id}` (leave the secret empty). Client credentials are for "
                "confidential clients."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{base}/oauth2/authorize",
                    "tokenUrl": f"{base}/oauth2/token",
                    "refreshUrl": f"{base}/oauth2/token",
                    "scopes": scopes,
                },
                "clientCredentials": {"tokenUrl": f"{base}/oauth2/token", "scopes": scopes},
            },
        },
    }


def _access_note(route: Route, comment: str) -> str:
    rule = route.rule
    if rule.public:
        note = "Public: no token needed."
    else:
        parts = []
        if rule.roles:
            parts.append("one of the roles " + ", ".join(sorted(rule.roles)))
        if rule.scopes:
            parts.append("the scopes " + ", ".join(sorted(rule.scopes)))
        note = "Needs a bearer token with " + " and ".join(parts) + "." if parts else "Needs a bearer token."
    return f"{comment}\n\n{note}" if comment else note


def _responses(route: Route, output: Schema, description: str) -> dict[str, Any]:
    request_id = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    responses: dict[str, Any] = {
        "200": {
            "description": description,
            "headers": request_id,
            "content": {"application/json": {"schema": output}},
        }
    }
    if route.streaming:
        # OpenAPI 3.1 has no schema language for an event stream: each event's data is this message.
        responses["200"]["description"] = (
            f"{description}\n\nServer-Sent Events: each event's `data` is one message as JSON; "
            "an `event: error` carries a problem document and ends the stream."
        )
        responses["200"]["content"] = {"text/event-stream": {"schema": output}}
    statuses = [400, 404, 409, 422, 429, 500, 503, 504]
    if not route.rule.public:
        statuses += [401, 403]
    if route.binding.has_body:
        statuses += [413, 415]
    for status in sorted(statuses):
        responses[str(status)] = _problem_response(reason_phrase(status))
    if not route.rule.public:
        responses["401"]["headers"] = {
            **request_id,
            "WWW-Authenticate": {"description": "The bearer challenge.", "schema": {"type": "string"}},
        }
    responses["default"] = _problem_response("Any other error.")
    return responses


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _query_parameters(
    message: Descriptor,
    *,
    prefix: tuple[str, ...],
    numbers: tuple[int, ...],
    taken: set[tuple[int, ...]],
    contracts: Contracts,
    schemas: _Schemas,
    visiting: set[str],
) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    visiting = visiting | {message.full_name}
    for field in message.fields:
        path = (*numbers, field.number)
        if path in taken:
            continue
        name = (*prefix, field.json_name)
        if is_map(field):
            continue
        if is_message(field) and message_of(field).full_name not in SCALAR_WELL_KNOWN:
            nested = message_of(field)
            if is_repeated(field) or nested.full_name in visiting or len(prefix) + 1 >= _QUERY_DEPTH:
                continue
            if nested.full_name.startswith("google.protobuf."):
                continue
            parameters.extend(
                _query_parameters(
                    nested,
                    prefix=name,
                    numbers=path,
                    taken=taken,
                    contracts=contracts,
                    schemas=schemas,
                    visiting=visiting,
                )
            )
            continue
        parameter: dict[str, Any] = {
            "name": ".".join(name),
            "in": "query",
            "required": _has_behavior(field, field_behavior_pb2.REQUIRED),
            "description": contracts.comment(field.full_name),
            "schema": schemas.field(field),
        }
        if is_repeated(field):
            parameter["style"] = "form"
            parameter["explode"] = True
        parameters.append(parameter)
    return parameters


def _has_behavior(field: FieldDescriptor, behavior: int) -> bool:
    # A repeated extension has no presence: read it and look.
    return behavior in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]


class _Schemas:
    """Collects ``components/schemas`` as messages and enums are referenced."""

    def __init__(self, contracts: Contracts) -> None:
        self.contracts = contracts
        self.components: dict[str, Schema] = {}

    def ref(self, message: Descriptor) -> Schema:
        """A reference to the component of ``message`` (or a well-known type's inline form)."""
        known = _WELL_KNOWN.get(message.full_name)
        if known is not None:
            return dict(known)
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # reserved first: messages may refer to themselves
            self.components[message.full_name] = self.inline(message)
        return {"$ref": f"#/components/schemas/{message.full_name}"}

    def enum(self, enum: EnumDescriptor) -> Schema:
        """A reference to the component of ``enum`` (values by name)."""
        if enum.full_name not in self.components:
            lines = [self.contracts.comment(enum.full_name)]
            for value in enum.values:
                doc = self.contracts.comment(f"{enum.full_name}.{value.name}")
                lines.append(f"- `{value.name}`: {doc}" if doc else f"- `{value.name}`")
            # proto3 JSON reads an enum by name or by number; responses always carry the name.
            self.components[enum.full_name] = {
                "anyOf": [
                    {"type": "string", "enum": [value.name for value in enum.values]},
                    {"type": "integer", "enum": [value.number for value in enum.values]},
                ],
                "description": "\n".join(line for line in lines if line),
            }
        return {"$ref": f"#/components/schemas/{enum.full_name}"}

    def inline(self, message: Descriptor, exclude: frozenset[str] | set[str] = frozenset()) -> Schema:
        """The object schema of ``message``, without the fields named in ``exclude``."""
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in message.fields:
            if field.name in exclude:
                continue
            schema = self.field(field)
            doc = self.contracts.comment(field.full_name)
            if _has_behavior(field, field_behavior_pb2.IMMUTABLE):
                doc = f"{doc} Set on creation; cannot be changed later.".strip()
            if doc:
                schema["description"] = doc
            if _has_behavior(field, field_behavior_pb2.OUTPUT_ONLY):
                schema["readOnly"] = True
            elif _has_behavior(field, field_behavior_pb2.REQUIRED):
                required.append(field.json_name)
            properties[field.json_name] = schema
        result: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            result["required"] = required
        doc = self.contracts.comment(message.full_name)
        if doc:
            result["description"] = doc
        return result

    def field(self, field: FieldDescriptor, *, item: bool = False) -> Schema:
        """The schema of a field's value (of one element when ``item``)."""
        if is_map(field) and not item:
            value = message_of(field).fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.field(value)}
        if is_repeated(field) and not item:
            return {"type": "array", "items": self.field(field, item=True)}
        if is_message(field):
            return self.ref(message_of(field))
        if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            return self.enum(field.enum_type)
        return dict(_SCALARS[field.type])
