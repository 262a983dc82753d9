"""The compiled renderer prints every message exactly as ``json_format.MessageToDict`` does."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toko.common.v1 import money_pb2
from toko.gateway.descriptors import load_contracts
from toko.gateway.rendering import converter, renderer
from toko.product.v1 import product_pb2

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32,
    "fixed64": _F.TYPE_FIXED64,
    "fixed32": _F.TYPE_FIXED32,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "uint32": _F.TYPE_UINT32,
    "sfixed32": _F.TYPE_SFIXED32,
    "sfixed64": _F.TYPE_SFIXED64,
    "sint32": _F.TYPE_SINT32,
    "sint64": _F.TYPE_SINT64,
}
_WELL_KNOWN_MODULES = (
    any_pb2,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
_WELL_KNOWN: list[Descriptor] = [
    any_pb2.Any.DESCRIPTOR,
    duration_pb2.Duration.DESCRIPTOR,
    empty_pb2.Empty.DESCRIPTOR,
    field_mask_pb2.FieldMask.DESCRIPTOR,
    struct_pb2.Struct.DESCRIPTOR,
    struct_pb2.Value.DESCRIPTOR,
    struct_pb2.ListValue.DESCRIPTOR,
    timestamp_pb2.Timestamp.DESCRIPTOR,
    *wrappers_pb2.DESCRIPTOR.message_types_by_name.values(),
]


# --- A schema with every kind of field, in a pool of its own ------------------------------------------


def _field(name: str, number: int, kind: int, type_name: str = "", **options: Any) -> _F:
    field = _F(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL, **options)
    if type_name:  # Set, even to "", it must name a type.
        field.type_name = type_name
    return field


def _repeated(name: str, number: int, kind: int, type_name: str = "") -> _F:
    field = _field(name, number, kind, type_name)
    field.label = _F.LABEL_REPEATED
    return field


def _map(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, key: int, value: tuple[int, str]
) -> None:
    entry = "".join(part.title() for part in name.split("_")) + "Entry"
    message.nested_type.add(
        name=entry,
        field=[_field("key", 1, key), _field("value", 2, *value)],
        options=descriptor_pb2.MessageOptions(map_entry=True),
    )
    message.field.append(_repeated(name, number, _F.TYPE_MESSAGE, entry))


def _sink_file() -> descriptor_pb2.FileDescriptorProto:
    """proto3: every scalar singular, optional and repeated, a oneof, maps of every key type, WKTs."""
    file = descriptor_pb2.FileDescriptorProto(
        name="rendertest/sink.proto",
        package="rendertest",
        syntax="proto3",
        dependency=[
            f"google/protobuf/{name}.proto"
            for name in ("any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers")
        ],
    )
    file.enum_type.add(
        name="Colour",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name="COLOUR_UNSPECIFIED", number=0),
            descriptor_pb2.EnumValueDescriptorProto(name="RED", number=1),
            descriptor_pb2.EnumValueDescriptorProto(name="CRIMSON", number=1),
            descriptor_pb2.EnumValueDescriptorProto(name="BLUE", number=-3),
        ],
        options=descriptor_pb2.EnumOptions(allow_alias=True),
    )
    file.message_type.add(
        name="Leaf", field=[_field("text", 1, _F.TYPE_STRING), _field("big", 2, _F.TYPE_SINT64)]
    )
    sink = file.message_type.add(name="Sink")
    colour, leaf, null = ".rendertest.Colour", ".rendertest.Leaf", ".google.protobuf.NullValue"
    # Declared backwards: the JSON keys must still come in field-number order.
    for number, (name, kind) in reversed(list(enumerate(_SCALARS.items(), start=1))):
        sink.field.append(_field(f"s_{name}", number, kind))
    sink.field.append(_field("s_colour", 16, _F.TYPE_ENUM, colour))
    for number, (name, kind) in enumerate(_SCALARS.items(), start=41):
        sink.field.append(_repeated(f"r_{name}", number, kind))
    sink.field.append(_repeated("r_colour", 56, _F.TYPE_ENUM, colour))
    sink.field.extend(
        [
            _field("leaf", 60, _F.TYPE_MESSAGE, leaf),
            _repeated("leaves", 61, _F.TYPE_MESSAGE, leaf),
            _field("child", 62, _F.TYPE_MESSAGE, ".rendertest.Sink"),
            _repeated("children", 63, _F.TYPE_MESSAGE, ".rendertest.Sink"),
        ]
    )
    sink.oneof_decl.add(name="choice")
    for number, (name, kind, type_name) in enumerate(
        [
            ("c_string", _F.TYPE_STRING, ""),
            ("c_int64", _F.TYPE_INT64, ""),
            ("c_leaf", _F.TYPE_MESSAGE, leaf),
            ("c_null", _F.TYPE_ENUM, null),
            ("c_colour", _F.TYPE_ENUM, colour),
            ("c_double", _F.TYPE_DOUBLE, ""),
            ("c_bytes", _F.TYPE_BYTES, ""),
        ],
        start=70,
    ):
        sink.field.append(_field(name, number, kind, type_name, oneof_index=0))
    values = [
        (_F.TYPE_STRING, ""),
        (_F.TYPE_MESSAGE, leaf),
        (_F.TYPE_ENUM, colour),
        (_F.TYPE_BYTES, ""),
        (_F.TYPE_DOUBLE, ""),
        (_F.TYPE_FLOAT, ""),
        (_F.TYPE_INT64, ""),
        (_F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        (_F.TYPE_MESSAGE, ".google.protobuf.Value"),
        (_F.TYPE_BOOL, ""),
        (_F.TYPE_UINT64, ""),
        (_F.TYPE_SINT32, ""),
    ]
    keys = [kind for name, kind in _SCALARS.items() if name not in ("double", "float", "bytes")]
    for index, key in enumerate(keys):
        _map(sink, f"m_{index}", 80 + index, key, values[index % len(values)])
    well_known = [
        ("timestamp", "Timestamp"),
        ("duration", "Duration"),
        ("field_mask", "FieldMask"),
        ("struct", "Struct"),
        ("value", "Value"),
        ("list_value", "ListValue"),
        ("empty", "Empty"),
        ("any", "Any"),
        *((f"w_{name.lower()}", name) for name in wrappers_pb2.DESCRIPTOR.message_types_by_name),
    ]
    for number, (name, type_name) in enumerate(well_known, start=100):
        sink.field.append(_field(name, number, _F.TYPE_MESSAGE, f".google.protobuf.{type_name}"))
    sink.field.extend(
        [
            _repeated("timestamps", 130, _F.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
            _repeated("values", 131, _F.TYPE_MESSAGE, ".google.protobuf.Value"),
            _repeated("nulls", 132, _F.TYPE_ENUM, null),
            _field("null", 133, _F.TYPE_ENUM, null),
            _field("from", 134, _F.TYPE_STRING),
            _field("renamed", 135, _F.TYPE_STRING, json_name="customName"),
        ]
    )
    # proto3 optional: a synthetic oneof of its own each, after the real ones.
    for number, (name, kind) in enumerate([*_SCALARS.items(), ("colour", _F.TYPE_ENUM)], start=21):
        sink.oneof_decl.add(name=f"_o_{name}")
        sink.field.append(
            _field(
                f"o_{name}",
                number,
                kind,
                colour if kind == _F.TYPE_ENUM else "",
                oneof_index=len(sink.oneof_decl) - 1,
                proto3_optional=True,
            )
        )
    return file


def _legacy_file() -> descriptor_pb2.FileDescriptorProto:
    """proto2: defaults, a closed enum, a group, and a message that carries extensions."""
    file = descriptor_pb2.FileDescriptorProto(
        name="rendertest/legacy.proto", package="rendertest2", syntax="proto2"
    )
    file.enum_type.add(
        name="Closed",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name="CLOSED_ZERO", number=0),
            descriptor_pb2.EnumValueDescriptorProto(name="CLOSED_ONE", number=1),
        ],
    )
    plain = file.message_type.add(name="Plain")
    plain.nested_type.add(name="Bunch", field=[_field("size", 9, _F.TYPE_INT32)])
    plain.field.extend(
        [
            _field("count", 1, _F.TYPE_INT32, default_value="7"),
            _field("label", 2, _F.TYPE_STRING, default_value="x"),
            _field("state", 3, _F.TYPE_ENUM, ".rendertest2.Closed", default_value="CLOSED_ONE"),
            _field("ratio", 4, _F.TYPE_DOUBLE),
            _field("data", 5, _F.TYPE_BYTES),
            _repeated("numbers", 6, _F.TYPE_UINT64),
            _field("bunch", 8, _F.TYPE_GROUP, ".rendertest2.Plain.Bunch"),
            _field("extended", 10, _F.TYPE_MESSAGE, ".rendertest2.Extended"),
        ]
    )
    file.message_type.add(
        name="Extended",
        field=[_field("id", 1, _F.TYPE_STRING), _field("next", 2, _F.TYPE_MESSAGE, ".rendertest2.Plain")],
        extension_range=[descriptor_pb2.DescriptorProto.ExtensionRange(start=100, end=200)],
    )
    file.extension.extend(
        [
            _field("note", 100, _F.TYPE_STRING, extendee=".rendertest2.Extended"),
            _F(
                name="marks",
                number=101,
                type=_F.TYPE_INT32,
                label=_F.LABEL_REPEATED,
                extendee=".rendertest2.Extended",
            ),
        ]
    )
    return file


def _test_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in _WELL_KNOWN_MODULES:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(_sink_file().SerializeToString())
    pool.AddSerializedFile(_legacy_file().SerializeToString())
    return pool


POOL = _test_pool()
SINK = POOL.FindMessageTypeByName("rendertest.Sink")
LEGACY = [POOL.FindMessageTypeByName("rendertest2.Plain"), POOL.FindMessageTypeByName("rendertest2.Extended")]


def _response_types() -> list[Descriptor]:
    """The response message of every RPC, loaded as the gateway loads them."""
    found = {
        method.output_type.full_name: method.output_type
        for service in load_contracts().services.values()
        for method in service.methods
    }
    return [found[name] for name in sorted(found)]


RESPONSES = _response_types()


# --- Messages drawn at random ----------------------------------------------------------------------

_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _duration(sign: int, seconds: int, nanos: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=sign * seconds, nanos=sign * nanos)


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


_NANOS = st.one_of(
    st.just(0),
    st.integers(0, 999).map(lambda n: n * 1_000_000),
    st.integers(0, 999_999).map(lambda n: n * 1_000),
    st.integers(0, 999_999_999),
)
_TIMESTAMPS = st.builds(
    timestamp_pb2.Timestamp, seconds=st.integers(-62135596800, 253402300799), nanos=_NANOS
)
# Well-known types with rules of their own (valid ranges, JSON values), as default-pool messages.
_WELL_KNOWN_VALUES: dict[str, st.SearchStrategy[Message]] = {
    "google.protobuf.Timestamp": _TIMESTAMPS,
    "google.protobuf.Duration": st.builds(
        _duration, st.sampled_from([1, -1]), st.integers(0, 315576000000), _NANOS
    ),
    "google.protobuf.FieldMask": st.builds(
        field_mask_pb2.FieldMask,
        paths=st.lists(
            st.from_regex(r"\A[a-z][a-z0-9]{0,4}(_[a-z][a-z0-9]{0,4}){0,2}(\.[a-z]{1,4}){0,2}\Z"), max_size=3
        ),
    ),
    "google.protobuf.Struct": st.dictionaries(st.text(max_size=4), _JSON, max_size=3).map(
        lambda value: json_format.ParseDict(value, struct_pb2.Struct())
    ),
    "google.protobuf.Value": st.just(struct_pb2.Value())
    | _JSON.map(lambda value: json_format.ParseDict(value, struct_pb2.Value())),
    "google.protobuf.ListValue": st.lists(_JSON, max_size=3).map(
        lambda value: json_format.ParseDict(value, struct_pb2.ListValue())
    ),
    "google.protobuf.Any": st.one_of(
        st.just(any_pb2.Any()),
        _TIMESTAMPS.map(_packed),
        st.builds(money_pb2.Money, amount=st.integers(-(2**63), 2**63 - 1), currency=st.text(max_size=3)).map(
            _packed
        ),
        st.builds(wrappers_pb2.Int64Value, value=st.integers(-(2**63), 2**63 - 1)).map(_packed),
    ),
}


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        assert field.enum_type is not None
        declared = st.sampled_from(sorted(field.enum_type.values_by_number))
        if field.enum_type.is_closed:
            return declared
        return declared | st.integers(-(2**31), 2**31 - 1)
    if cpp_type in _INT_RANGES:
        low, high = _INT_RANGES[cpp_type]
        return st.sampled_from([0, low, high]) | st.integers(low, high)
    if cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return st.floats(width=32)
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return st.floats()
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=6)
    return st.text(max_size=6)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    """Values of one field: a value, a list or a dict; None when too deep for a message."""
    if _is_map(field):
        assert field.message_type is not None
        entry = field.message_type.fields_by_name
        value = _values(entry["value"], depth)
        if value is None:
            return None
        return st.dictionaries(_scalars(entry["key"]), value, max_size=3)
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        assert field.message_type is not None
        if depth == 0 and field.message_type.full_name not in _WELL_KNOWN_VALUES:
            return None
        single = messages(field.message_type, depth - 1)
    else:
        single = _scalars(field)
    return st.lists(single, max_size=3) if field.is_repeated else single


@functools.cache
def messages(descriptor: Descriptor, depth: int = 3) -> st.SearchStrategy[Message]:
    """Messages of the type with any subset of their fields (and extensions) set, nested ``depth`` deep."""
    message_class = GetMessageClass(descriptor)
    well_known = _WELL_KNOWN_VALUES.get(descriptor.full_name)
    if well_known is not None:
        # Through the wire format: the type may live in another pool than the one they were made in.
        return well_known.map(lambda message: message_class.FromString(message.SerializeToString()))
    fields = list(descriptor.fields)
    if descriptor.extension_ranges:
        fields += descriptor.file.pool.FindAllExtensions(descriptor)
    optional: dict[FieldDescriptor, st.SearchStrategy[Any]] = {}
    for field in fields:
        values = _values(field, depth)
        if values is not None:
            optional[field] = values
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: _build(message_class, values))


def _build(message_class: type[Message], values: dict[FieldDescriptor, Any]) -> Message:
    message = message_class()
    for field, value in values.items():
        is_message = field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE
        if field.is_extension:
            if field.is_repeated:
                message.Extensions[field].extend(value)
            else:
                message.Extensions[field] = value
        elif _is_map(field):
            target = getattr(message, field.name)
            assert field.message_type is not None
            if field.message_type.fields_by_name["value"].cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
                for key, item in value.items():
                    target[key].MergeFrom(item)
            else:
                target.update(value)
        elif field.is_repeated:
            target = getattr(message, field.name)
            if is_message:
                for item in value:
                    target.add().MergeFrom(item)
            else:
                target.extend(value)
        elif is_message:
            # Set even when empty: a present empty message prints as {}.
            getattr(message, field.name).SetInParent()
            getattr(message, field.name).MergeFrom(value)
        else:
            # Also sets optional and oneof fields to their default, which must still print.
            setattr(message, field.name, value)
    return message


def _assert_same(message: Message) -> None:
    expected = json_format.MessageToDict(message, preserving_proto_field_name=False)
    actual = converter(message.DESCRIPTOR)(message)
    # Bytes, not ==: 1, 1.0 and True are equal in Python, and key order counts too.
    assert orjson.dumps(actual) == orjson.dumps(expected)
    assert orjson.dumps(renderer(message.DESCRIPTOR)(message)) == orjson.dumps(expected)


# --- The tests ------------------------------------------------------------------------------------

_PER_RESPONSE = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("descriptor", RESPONSES, ids=[d.full_name for d in RESPONSES])
@_PER_RESPONSE
@given(data=st.data())
def test_every_response_type_renders_as_json_format_does(descriptor: Descriptor, data: st.DataObject) -> None:
    _assert_same(data.draw(messages(descriptor)))


@pytest.mark.parametrize("descriptor", _WELL_KNOWN, ids=[d.full_name for d in _WELL_KNOWN])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_well_known_types_render_as_json_format_does(descriptor: Descriptor, data: st.DataObject) -> None:
    _assert_same(data.draw(messages(descriptor)))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(message=messages(SINK, depth=2))
def test_every_kind_of_proto3_field_renders_as_json_format_does(message: Message) -> None:
    _assert_same(message)


@pytest.mark.parametrize("descriptor", LEGACY, ids=[d.full_name for d in LEGACY])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_proto2_defaults_groups_and_extensions_render_as_json_format_does(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    _assert_same(data.draw(messages(descriptor)))


def test_a_catalog_page_renders_byte_for_byte() -> None:
    products = [
        product_pb2.Product(
            id=f"p{index}",
            title="Kopi Gayo 250 g ☕",
            status=product_pb2.PRODUCT_STATUS_ACTIVE,
            skus=[
                product_pb2.Sku(
                    id="s1", option_values={"Giling": "Halus"}, price=money_pb2.Money(amount=85_000)
                )
            ],
            create_time=timestamp_pb2.Timestamp(seconds=1_755_424_800, nanos=120_000_000),
            version=2**62,
        )
        for index in range(20)
    ]
    _assert_same(product_pb2.ListProductsResponse(products=products, next_page_token="next"))


def _struct_with_nan() -> Message:
    value = struct_pb2.Struct()
    value.fields["x"].number_value = float("nan")
    return value


def _sink(**values: Any) -> Message:
    message = GetMessageClass(SINK)()
    for name, value in values.items():
        getattr(message, name).MergeFrom(value)
    return message


def _in_pool(message: Message) -> Message:
    return GetMessageClass(POOL.FindMessageTypeByName(message.DESCRIPTOR.full_name)).FromString(
        message.SerializeToString()
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: timestamp_pb2.Timestamp(seconds=253402300800),
        lambda: _sink(timestamp=_in_pool(timestamp_pb2.Timestamp(seconds=0, nanos=-1))),
        lambda: _sink(children=[_sink(duration=_in_pool(duration_pb2.Duration(seconds=1, nanos=-1)))]),
        lambda: field_mask_pb2.FieldMask(paths=["Upper"]),
        lambda: _sink(struct=_in_pool(_struct_with_nan())),
        lambda: struct_pb2.Value(number_value=float("inf")),
        lambda: any_pb2.Any(type_url="type.googleapis.com/no.such.Type", value=b"\x08\x01"),
    ],
    ids=["timestamp", "nested-timestamp", "deep-duration", "field-mask", "struct-nan", "value-inf", "any"],
)
def test_values_json_format_refuses_raise_its_very_error(make: Callable[[], Message]) -> None:
    message = make()
    with pytest.raises(Exception) as expected:  # noqa: PT011 - whatever json_format raises
        json_format.MessageToDict(message, preserving_proto_field_name=False)
    with pytest.raises(expected.type) as actual:
        renderer(message.DESCRIPTOR)(message)
    assert str(actual.value) == str(expected.value)
