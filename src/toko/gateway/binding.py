"""Building a route's request message from the path, the query string and the JSON body, and back.

Binding follows grpc-gateway and Envoy's transcoder: path variables set the
fields they name; ``body: "*"`` maps the whole body onto the request,
``body: "field"`` onto that field; every other field may come from the query
(``?ids=a&ids=b``, ``?filter.shopId=x``). The pieces are assembled into one
proto3 JSON document and parsed once by ``json_format``, so every value gets the
same validation and a bad one names its field. Responses go out through
``rendering``, which prints them as ``json_format.MessageToDict`` would, faster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from toko.gateway.error_codes import ErrorCode
from toko.gateway.problems import Problem, bad_request
from toko.gateway.rendering import renderer
from toko.gateway.templates import PathTemplate
from toko.platform.errors import FieldViolation

# Well-known types whose proto3 JSON form is a single string, number or bool: fit for a query value.
SCALAR_WELL_KNOWN = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    }
)
_MAX_QUERY_FIELDS = 256
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]*)"')
_AT_PATH = re.compile(r" at ([A-Za-z_][\w.\[\]\"]*?)\.*$")
_CHAIN = re.compile(r"Failed to parse (\S+) field: ")
_FRIENDLIER = (
    (re.compile(r"invalid literal for int\(\) with base 10: (.*)"), r"not an integer: \1"),
    (re.compile(r"could not convert string to float: (.*)"), r"not a number: \1"),
    (re.compile(r"expected string or bytes-like object.*"), "expected a string"),
    (re.compile(r"'\w+' object is not (iterable|subscriptable)"), "expected a JSON object"),
    (re.compile(r"'\w+' object has no attribute .*"), "expected a JSON object"),
)


def is_message(field: FieldDescriptor) -> bool:
    """True for message (and map) fields."""
    return field.type == FieldDescriptor.TYPE_MESSAGE


def message_of(field: FieldDescriptor) -> Descriptor:
    """The message type of a message field."""
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return field.message_type


def is_map(field: FieldDescriptor) -> bool:
    """True for ``map<K, V>`` fields."""
    return is_message(field) and message_of(field).GetOptions().map_entry


def is_repeated(field: FieldDescriptor) -> bool:
    """True for repeated fields (maps included)."""
    return field.is_repeated


def find_field(message: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by its proto name or its JSON name, as proto3 JSON parsers accept both."""
    found = message.fields_by_name.get(name)
    if found is not None:
        return found
    for field in message.fields:
        if field.json_name == name:
            return field
    return None


def resolve_path(message: Descriptor, path: Sequence[str]) -> list[FieldDescriptor]:
    """The fields along a dotted path; raise ``LookupError`` when it leads nowhere."""
    fields: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for name in path:
        if current is None:
            raise LookupError(f"{'.'.join(path)}: {fields[-1].name} is not a message")
        field = find_field(current, name)
        if field is None:
            raise LookupError(f"{'.'.join(path)}: {current.full_name} has no field {name!r}")
        fields.append(field)
        nested = is_message(field) and not is_repeated(field)
        current = message_of(field) if nested else None
    return fields


class Binding:
    """How one route turns an HTTP request into its request message and its response into JSON."""

    def __init__(
        self, method: MethodDescriptor, template: PathTemplate, body: str, response_body: str = ""
    ) -> None:
        self.request_class: type[Message] = GetMessageClass(method.input_type)
        self.response_class: type[Message] = GetMessageClass(method.output_type)
        self.body = body
        self._input = method.input_type
        self._path_fields = {
            variable.field_path: resolve_path(method.input_type, variable.field_path)
            for variable in template.variables
        }
        for path, fields in self._path_fields.items():
            if is_repeated(fields[-1]) or (is_message(fields[-1]) and not _scalar_like(fields[-1])):
                raise LookupError(f"path variable {'.'.join(path)} must name a singular scalar field")
        self._body_fields = resolve_path(method.input_type, body.split(".")) if body not in ("", "*") else []
        # Field numbers bound by the path or the body: the query may not set them again.
        self._taken = {tuple(f.number for f in fields) for fields in self._path_fields.values()}
        if self._body_fields:
            self._taken.add(tuple(f.number for f in self._body_fields))
        # The common case (GET /things/{id}) skips json_format: path values go straight to the fields.
        self._direct = (
            not body
            and all(len(fields) == 1 for fields in self._path_fields.values())
            and all(fields[0].type == FieldDescriptor.TYPE_STRING for fields in self._path_fields.values())
        )
        # proto3 enums are open: json_format keeps unknown numbers, the edge turns them away.
        self._has_enums = _has_enums(method.input_type, set())
        self._response_field = (
            resolve_path(method.output_type, response_body.split(".")) if response_body else []
        )
        # Compiled now, at startup, rather than on the first response.
        self._to_json = renderer(method.output_type)

    @property
    def has_body(self) -> bool:
        """True when the route reads a request body."""
        return bool(self.body)

    def path_fields(self) -> dict[tuple[str, ...], list[FieldDescriptor]]:
        """The fields bound by path variables."""
        return dict(self._path_fields)

    def body_fields(self) -> list[FieldDescriptor]:
        """The fields leading to the body field; empty for none or ``*``."""
        return list(self._body_fields)

    def response_fields(self) -> list[FieldDescriptor]:
        """The fields leading to the ``response_body`` field; empty when the whole response is sent."""
        return list(self._response_field)

    def request(self, params: dict[tuple[str, ...], str], query: bytes, body: bytes | None) -> Message:
        """Build the request message; raise ``Problem`` (400) when the input does not fit it."""
        if self._direct and not query:
            message = self.request_class()
            for path, value in params.items():
                setattr(message, path[0], value)
            return message
        document: dict[str, Any] = {}
        if self.body:
            self._bind_body(document, body or b"")
        if query:
            self._bind_query(document, query)
        for path, value in params.items():
            fields = self._path_fields[path]
            _put(
                document,
                fields,
                _path_value(fields[-1], value, ".".join(path), ErrorCode.INVALID_PATH_PARAMETER),
            )
        message = self.request_class()
        try:
            json_format.ParseDict(document, message, ignore_unknown_fields=False)
        except json_format.ParseError as error:
            raise _field_problem(str(error)) from error
        except (ValueError, TypeError, RecursionError) as error:
            raise bad_request(
                ErrorCode.INVALID_BODY, "the request does not fit the operation's message"
            ) from error
        if self._has_enums:
            undeclared = _undeclared_enum(message, "")
            if undeclared is not None:
                violation = FieldViolation(undeclared, "not a value of the enum", ErrorCode.INVALID_VALUE)
                raise bad_request(
                    ErrorCode.INVALID_FIELD, f"{undeclared}: {violation.description}", [violation]
                )
        return message

    def render(self, response: Message) -> bytes:
        """The response as proto3 JSON (lowerCamelCase names), or only its ``response_body`` field."""
        document: Any = self._to_json(response)
        for field in self._response_field:
            value = document.get(field.json_name)
            if value is None:
                value = [] if is_repeated(field) and not is_map(field) else {} if is_message(field) else None
            document = value
        return orjson.dumps(document)

    def _bind_body(self, document: dict[str, Any], body: bytes) -> None:
        if not body.strip():
            return
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise bad_request(
                ErrorCode.MALFORMED_JSON, f"the request body is not valid JSON: {error}"
            ) from error
        if self.body == "*":
            if not isinstance(value, dict):
                raise bad_request(ErrorCode.BODY_NOT_OBJECT, "the request body must be a JSON object")
            document.update(value)
        else:
            _put(document, self._body_fields, value)

    def _bind_query(self, document: dict[str, Any], query: bytes) -> None:
        try:
            pairs = parse_qsl(
                query.decode("latin-1"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=_MAX_QUERY_FIELDS,
            )
        except UnicodeDecodeError as error:
            raise bad_request(ErrorCode.INVALID_QUERY, "the query string is not valid UTF-8") from error
        except ValueError as error:
            # parse_qsl's only ValueError here: more fields than max_num_fields.
            raise bad_request(
                ErrorCode.TOO_MANY_QUERY_PARAMETERS,
                f"the query string has more than {_MAX_QUERY_FIELDS} parameters",
            ) from error
        seen: set[tuple[int, ...]] = set()
        for key, raw in pairs:
            fields = self._query_fields(key)
            numbers = tuple(f.number for f in fields)
            leaf = fields[-1]
            value = _path_value(leaf, raw, key, ErrorCode.INVALID_QUERY_PARAMETER)
            if is_repeated(leaf):
                _append(document, fields, value)
            elif numbers in seen:
                raise _query_problem(key, "given more than once for a field that takes one value")
            else:
                _put(document, fields, value)
            seen.add(numbers)

    def _query_fields(self, key: str) -> list[FieldDescriptor]:
        if self.body == "*":
            raise _query_problem(key, "this operation takes its input from the body, not the query")
        try:
            fields = resolve_path(self._input, key.split("."))
        except LookupError as error:
            raise _query_problem(key, "no such field", ErrorCode.UNKNOWN_FIELD) from error
        numbers = tuple(f.number for f in fields)
        if any(numbers[: len(taken)] == taken for taken in self._taken):
            raise _query_problem(key, "this field is bound by the path or the body")
        leaf = fields[-1]
        if is_map(leaf) or (is_message(leaf) and (is_repeated(leaf) or not _scalar_like(leaf))):
            raise _query_problem(key, "this field cannot be given in the query; name its sub-fields")
        return fields


def _has_enums(message: Descriptor, seen: set[str]) -> bool:
    seen.add(message.full_name)
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_ENUM:
            return True
        if (
            is_message(field)
            and message_of(field).full_name not in seen
            and _has_enums(message_of(field), seen)
        ):
            return True
    return False


def _undeclared_enum(message: Message, prefix: str) -> str | None:
    """The path of the first enum value that its enum does not declare, or None."""
    for field, value in message.ListFields():
        name = prefix + field.json_name
        if is_map(field):
            value_field = message_of(field).fields_by_name["value"]
            for key, item in value.items():
                found = _undeclared_item(value_field, item, f"{name}[{key!r}]")
                if found is not None:
                    return found
        elif is_repeated(field):
            for index, item in enumerate(value):
                found = _undeclared_item(field, item, f"{name}[{index}]")
                if found is not None:
                    return found
        else:
            found = _undeclared_item(field, value, name)
            if found is not None:
                return found
    return None


def _undeclared_item(field: FieldDescriptor, value: Any, name: str) -> str | None:
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return None if value in field.enum_type.values_by_number else name
    if is_message(field):
        return _undeclared_enum(value, name + ".")
    return None


def _scalar_like(field: FieldDescriptor) -> bool:
    return message_of(field).full_name in SCALAR_WELL_KNOWN


def _path_value(field: FieldDescriptor, raw: str, name: str, problem: ErrorCode) -> str | bool:
    """A text value as proto3 JSON wants it: bools as bools, everything else as a string it parses."""
    is_bool = field.type == FieldDescriptor.TYPE_BOOL or (
        is_message(field) and message_of(field).full_name == "google.protobuf.BoolValue"
    )
    if not is_bool:
        return raw
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    description = f"expected true or false, got {raw!r}"
    raise bad_request(
        problem, f"{name}: {description}", [FieldViolation(name, description, ErrorCode.INVALID_VALUE)]
    )


def _container(document: dict[str, Any], fields: Sequence[FieldDescriptor]) -> dict[str, Any]:
    node = document
    for field in fields[:-1]:
        key = field.name if field.name in node else field.json_name
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    return node


def _put(document: dict[str, Any], fields: Sequence[FieldDescriptor], value: Any) -> None:
    node = _container(document, fields)
    leaf = fields[-1]
    # The body may have used the other spelling of the name; the bound value wins, as in grpc-gateway.
    node.pop(leaf.name, None)
    node[leaf.json_name] = value


def _append(document: dict[str, Any], fields: Sequence[FieldDescriptor], value: Any) -> None:
    node = _container(document, fields)
    cast(list[Any], node.setdefault(fields[-1].json_name, [])).append(value)


def _query_problem(
    key: str, description: str, reason: ErrorCode = ErrorCode.INVALID_QUERY_PARAMETER
) -> Problem:
    return bad_request(
        ErrorCode.INVALID_QUERY_PARAMETER,
        f"query parameter {key}: {description}",
        [FieldViolation(key, description, reason)],
    )


def _field_problem(message: str) -> Problem:
    """Translate a ``json_format.ParseError`` into a 400 that names the field at fault."""
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown is not None:
        name, where = unknown.groups()
        _, _, parent = where.partition(".")
        field = f"{parent}.{name}" if parent else name
        violation = FieldViolation(field, "unknown field", ErrorCode.UNKNOWN_FIELD)
    else:
        chain = _CHAIN.findall(message)
        inner = _CHAIN.sub("", message)
        at = _AT_PATH.search(inner)
        field = ""
        if at is not None:
            _, _, field = at.group(1).partition(".")
            inner = inner[: at.start()]
        field = field or ".".join(chain) or "body"
        description = inner.strip().rstrip(".") or "invalid value"
        for pattern, replacement in _FRIENDLIER:
            description = pattern.sub(replacement, description)
        violation = FieldViolation(field, description, ErrorCode.INVALID_VALUE)
    return bad_request(ErrorCode.INVALID_FIELD, f"{violation.field}: {violation.description}", [violation])
