"""Response messages as proto3 JSON values, the same as ``json_format.MessageToDict`` but compiled.

``json_format`` decides per field of every message, by reflection, how to print it. Here that
decision is taken once per message type: its descriptor is compiled into a plain function that
reads each field as an attribute, tests presence exactly as ``ListFields`` does (so as
``json_format``), converts the value as chosen for its type (``str`` for 64-bit integers, a dict
lookup for enums, ...) and visits fields by number, so even the key order, and thus the encoded
bytes, are the same. Timestamp, Duration, FieldMask, Struct, Value, ListValue and the wrappers have
hand-written converters; ``Any`` and messages that can carry extensions are left to ``json_format``.
A value ``json_format`` refuses (an out-of-range Timestamp, NaN in a ``Value``) makes the renderer
run ``json_format`` itself, so the error raised is its own.
"""

from __future__ import annotations

import binascii
import datetime
import keyword
import math
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.internal.type_checkers import ToShortestFloat
from google.protobuf.message import Message

# A message to its JSON-ready value: dict, list, str, int, float, bool or None.
Converter = Callable[[Message], Any]

_CACHE: dict[Descriptor, Converter] = {}
# One compilation at a time, so a converter is published only with every converter it calls.
_BUILD = threading.Lock()

_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_FLOATS = frozenset({FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE})
_WRAPPERS_FILE = "google/protobuf/wrappers.proto"
_NULL_VALUE = "google.protobuf.NullValue"
# As in json_format; outside these bounds it raises, and so do we (through it).
_TIMESTAMP_SECONDS_MIN = -62135596800
_TIMESTAMP_SECONDS_MAX = 253402300799
_EPOCH = datetime.date(1970, 1, 1)
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(60))

# The conversion of a value printed as it is (strings, bools, 32-bit integers).
_IDENTITY = "{v}"


def converter(descriptor: Descriptor) -> Converter:
    """The compiled converter of a message type; it fails where ``json_format`` does, not always alike."""
    found = _CACHE.get(descriptor)
    if found is not None:
        return found
    with _BUILD:
        found = _CACHE.get(descriptor)
        if found is None:
            built: dict[Descriptor, Converter] = {}
            found = _Compiler(built).message(descriptor)
            # Published together: a converter may call one of a type still being compiled.
            _CACHE.update(built)
        return found


def renderer(descriptor: Descriptor) -> Converter:
    """A message of this type as its proto3 JSON value, exactly as ``json_format.MessageToDict`` gives it."""
    convert = converter(descriptor)

    def render(message: Message) -> Any:
        try:
            return convert(message)
        except (ValueError, TypeError, json_format.Error):
            # A value json_format refuses: let it raise its own error (or, should it not, answer).
            return json_format.MessageToDict(message, preserving_proto_field_name=False)

    return render


class _Compiler:
    """Compiles converters into ``built``, reusing the published ones."""

    def __init__(self, built: dict[Descriptor, Converter]) -> None:
        self._built = built

    def message(self, descriptor: Descriptor) -> Converter:
        """The converter of a message type, compiling it (and those of its fields) when new."""
        found = _CACHE.get(descriptor) or self._built.get(descriptor)
        if found is not None:
            return found
        special = _well_known(descriptor)
        if special is not None:
            self._built[descriptor] = special
            return special
        if descriptor.file.name == _WRAPPERS_FILE:
            compiled = self._wrapper(descriptor)
        elif descriptor.extension_ranges:
            # Extensions are found only by ListFields; such messages are rare in APIs.
            compiled = _delegate
        else:
            # A recursive type reaches itself while compiled: it then finds itself in the cache when called.
            self._built[descriptor] = lambda message: _CACHE[descriptor](message)  # noqa: PLW0108
            compiled = self._regular(descriptor)
        self._built[descriptor] = compiled
        return compiled

    def _wrapper(self, descriptor: Descriptor) -> Converter:
        template, used = self._conversion(descriptor.fields_by_name["value"])
        lines = ["    v = m.value", f"    return {template.format(v='v', g='g0')}"]
        return _compile(descriptor, lines, {"g0": used})

    def _regular(self, descriptor: Descriptor) -> Converter:
        namespace: dict[str, object] = {"copysign": math.copysign}
        lines = ["    out = {}"]
        # One WhichOneof call per oneof rather than one HasField per member.
        chosen: dict[str, str] = {}
        for index, oneof in enumerate(descriptor.oneofs):
            if len(oneof.fields) > 1:
                chosen[oneof.full_name] = f"w{index}"
                lines.append(f"    w{index} = m.WhichOneof({oneof.name!r})")
        # ListFields, hence json_format, orders fields by number.
        for index, field in enumerate(sorted(descriptor.fields, key=lambda f: f.number)):
            global_name = f"g{index}"
            read = _read(field)
            if _is_map(field):
                entry = _message_type(field)
                template, namespace[global_name] = self._conversion(entry.fields_by_name["value"])
                lines += [f"    v = {read}", "    if v:"]
                value = _map_value(entry, template.format(v="v[k]", g=global_name))
            elif field.is_repeated:
                template, namespace[global_name] = self._conversion(field)
                lines += [f"    v = {read}", "    if v:"]
                # Slicing copies a repeated scalar field to a list fastest.
                value = (
                    "v[:]"
                    if template == _IDENTITY
                    else f"[{template.format(v='x', g=global_name)} for x in v]"
                )
            else:
                template, namespace[global_name] = self._conversion(field)
                lines += _test_singular(field, read, chosen)
                value = template.format(v="v", g=global_name)
            lines.append(f"        out[{field.json_name!r}] = {value}")
        lines.append("    return out")
        return _compile(descriptor, lines, namespace)

    def _conversion(self, field: FieldDescriptor) -> tuple[str, object]:
        """How one value of the field becomes JSON: an expression over ``{v}`` using the object ``{g}``."""
        cpp_type = field.cpp_type
        if cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            return "{g}({v})", self.message(_message_type(field))
        if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
            enum = field.enum_type
            if enum is None or enum.full_name == _NULL_VALUE:
                return "None", None
            names = _enum_names(enum)
            if enum.is_closed:
                return "{g}({v})", _ClosedEnum(names)
            # proto3 enums are open: json_format prints an undeclared number as the number.
            return "{g}.get({v}, {v})", names
        if cpp_type == FieldDescriptor.CPPTYPE_STRING:
            return ("{g}({v})", _base64) if field.type == FieldDescriptor.TYPE_BYTES else (_IDENTITY, None)
        if cpp_type in _INT64:
            return "str({v})", None
        if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
            return "{g}({v})", _float
        if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
            return "{g}({v})", _double
        return _IDENTITY, None


def _compile(descriptor: Descriptor, body: list[str], namespace: dict[str, object]) -> Converter:
    """Define ``convert(m)`` from its body lines, with ``namespace`` as its globals."""
    source = "\n".join(["def convert(m):", *body])
    # The source holds only literals made by repr(), checked identifiers and names of our making.
    code = compile(source, f"<rendering {descriptor.full_name}>", "exec")
    exec(code, namespace)  # noqa: S102
    function: Converter = namespace["convert"]  # type: ignore[assignment]
    return function


def _read(field: FieldDescriptor) -> str:
    """The expression reading the field of ``m``; keywords (``from``) are reachable only by getattr."""
    if field.name.isidentifier() and not keyword.iskeyword(field.name):
        return f"m.{field.name}"
    return f"getattr(m, {field.name!r})"


def _test_singular(field: FieldDescriptor, read: str, chosen: dict[str, str]) -> list[str]:
    """The lines setting ``v`` and testing whether a singular field is printed, as ListFields lists it."""
    oneof = field.containing_oneof
    if oneof is not None and oneof.full_name in chosen:
        return [f"    if {chosen[oneof.full_name]} == {field.name!r}:", f"        v = {read}"]
    if field.has_presence:
        return [f"    if m.HasField({field.name!r}):", f"        v = {read}"]
    # Implicit presence means "not zero": -0.0 is not zero, ListFields lists it.
    zero = " or copysign(1.0, v) < 0.0" if field.cpp_type in _FLOATS else ""
    return [f"    v = {read}", f"    if v{zero}:"]


def _map_value(entry: Descriptor, value: str) -> str:
    """The expression of a map's JSON object, keys as strings (bools as ``true``/``false``)."""
    key_field = entry.fields_by_name["key"]
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        key = "k"
    elif key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        key = "('true' if k else 'false')"
    else:
        key = "str(k)"
    # Iterating keys and indexing is json_format's order, and faster than items() on upb maps.
    return f"{{{key}: {value} for k in v}}"


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and _message_type(field).GetOptions().map_entry


def _message_type(field: FieldDescriptor) -> Descriptor:
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return field.message_type


def _enum_names(enum: EnumDescriptor) -> dict[int, str]:
    """Each number's JSON name: the first name declared for it, or its ``pb.enumvalue.json`` option."""
    extension = _enum_json_extension()
    names: dict[int, str] = {}
    by_number = enum.values_by_number
    # Indexed, not iterated: with aliases, iteration yields every name, the index the one json_format uses.
    for number in {value.number for value in enum.values}:
        value = by_number[number]
        name = value.name
        if extension is not None:
            options = value.GetOptions()
            if options.HasExtension(extension):
                name = options.Extensions[extension].string
        names[number] = name
    return names


def _enum_json_extension() -> Any:
    """The ``pb.enumvalue.json`` extension when the default pool has it, as json_format looks it up."""
    try:
        return descriptor_pool.Default().FindExtensionByName("pb.enumvalue.json")
    except KeyError:
        return None


class _ClosedEnum:
    """A closed (proto2) enum's names; json_format refuses an undeclared number."""

    def __init__(self, names: dict[int, str]) -> None:
        self._names = names

    def __call__(self, number: int) -> str:
        name = self._names.get(number)
        if name is None:
            raise json_format.SerializeToJsonError(
                "Enum field contains an integer value which can not mapped to an enum value."
            )
        return name


def _base64(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _double(value: float) -> float | str:
    if math.isinf(value):
        return "-Infinity" if value < 0.0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return value


def _float(value: float) -> float | str:
    if math.isinf(value):
        return "-Infinity" if value < 0.0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    # The shortest decimal that reads back as the same 32-bit float, as json_format prints it.
    return ToShortestFloat(value)


def _delegate(message: Message) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=False)


def _to_json_string(message: Any) -> str:
    """Duration and FieldMask: their own ``ToJsonString``, which json_format calls too."""
    text: str = message.ToJsonString()
    return text


@lru_cache(maxsize=4096)
def _date(days: int) -> str:
    return (_EPOCH + datetime.timedelta(days)).isoformat()


def _timestamp(message: Any) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as ``Timestamp.ToJsonString`` gives it."""
    seconds: int = message.seconds
    nanos: int = message.nanos
    if not (_TIMESTAMP_SECONDS_MIN <= seconds <= _TIMESTAMP_SECONDS_MAX and 0 <= nanos < 1_000_000_000):
        return _to_json_string(message)  # raises its ValueError
    # Format specs ({:02d}) cost more than the rest together: digits come from a table and str().
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    text = f"{_date(days)}T{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minutes]}:{_TWO_DIGITS[rest]}"
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{str(1_000 + nanos // 1_000_000)[1:]}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{str(1_000_000 + nanos // 1_000)[1:]}Z"
    return f"{text}.{str(1_000_000_000 + nanos)[1:]}Z"


def _struct(message: Any) -> dict[str, Any]:
    fields = message.fields
    return {key: _value(fields[key]) for key in fields}


def _list_value(message: Any) -> list[Any]:
    return [_value(value) for value in message.values]


def _value(message: Any) -> Any:
    kind = message.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        number: float = message.number_value
        if math.isinf(number) or math.isnan(number):
            # json_format refuses: it would read back as a string.
            raise ValueError(f"Fail to serialize {number} for Value.number_value")
        return number
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return _list_value(message.list_value)
    return getattr(message, kind)  # string_value, bool_value


def _well_known(descriptor: Descriptor) -> Converter | None:
    """The hand-written converter of a well-known type with a JSON form of its own, if it is one."""
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return _timestamp
    if name in ("google.protobuf.Duration", "google.protobuf.FieldMask"):
        return _to_json_string
    if name == "google.protobuf.Struct":
        return _struct
    if name == "google.protobuf.Value":
        return _value
    if name == "google.protobuf.ListValue":
        return _list_value
    if name == "google.protobuf.Any":
        # Rare, and it needs the type registry: json_format's own.
        return _delegate
    return None
