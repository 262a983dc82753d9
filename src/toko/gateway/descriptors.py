"""The compiled contracts: service descriptors from the generated code, comments from the descriptor set.

The generated ``_pb2`` modules register every file in the default descriptor pool,
which is what ``json_format`` and the message classes use; their embedded
descriptors carry no comments, so those come from ``descriptors.binpb``, which
``scripts/protogen.py`` writes with ``--include_source_info``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import resources

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

DESCRIPTOR_SET = "descriptors.binpb"

# Field numbers of FileDescriptorProto / DescriptorProto / ... used in source_code_info paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE = 2
_SERVICE_METHOD = 2


class ContractError(ValueError):
    """The descriptors and the gateway's configuration do not fit together."""


@dataclass(frozen=True)
class Contracts:
    """Every service of the descriptor set and the comments of every element, by full name."""

    services: dict[str, ServiceDescriptor]
    comments: dict[str, str]

    def comment(self, full_name: str) -> str:
        """The leading comment of an element, or an empty string."""
        return self.comments.get(full_name, "")


def load_contracts(descriptor_set: bytes | None = None) -> Contracts:
    """Import the generated code of every file in the descriptor set and index it."""
    if descriptor_set is None:
        descriptor_set = resources.files("toko").joinpath(DESCRIPTOR_SET).read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    for file in files.file:
        module = file.name.removesuffix(".proto").replace("/", ".") + "_pb2"
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ContractError(f"{file.name}: its generated module {module} is missing") from error
    pool = descriptor_pool.Default()
    services: dict[str, ServiceDescriptor] = {}
    comments: dict[str, str] = {}
    for file in files.file:
        for service in file.service:
            name = f"{file.package}.{service.name}" if file.package else service.name
            services[name] = pool.FindServiceByName(name)
        comments.update(_comments(file))
    return Contracts(services, comments)


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    names: dict[tuple[int, ...], str] = {}
    prefix = f"{file.package}." if file.package else ""

    def add_enum(path: tuple[int, ...], scope: str, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        names[path] = scope + enum.name
        for index, value in enumerate(enum.value):
            # Enum values are scoped like siblings of their enum, as in C++.
            names[(*path, _ENUM_VALUE, index)] = f"{scope}{enum.name}.{value.name}"

    def add_message(path: tuple[int, ...], scope: str, message: descriptor_pb2.DescriptorProto) -> None:
        full = scope + message.name
        names[path] = full
        for index, item in enumerate(message.field):
            names[(*path, _MESSAGE_FIELD, index)] = f"{full}.{item.name}"
        for index, nested in enumerate(message.nested_type):
            add_message((*path, _MESSAGE_NESTED, index), full + ".", nested)
        for index, enum in enumerate(message.enum_type):
            add_enum((*path, _MESSAGE_ENUM, index), full + ".", enum)

    for index, message in enumerate(file.message_type):
        add_message((_FILE_MESSAGE, index), prefix, message)
    for index, enum in enumerate(file.enum_type):
        add_enum((_FILE_ENUM, index), prefix, enum)
    for index, service in enumerate(file.service):
        names[(_FILE_SERVICE, index)] = prefix + service.name
        for number, method in enumerate(service.method):
            names[(_FILE_SERVICE, index, _SERVICE_METHOD, number)] = f"{prefix}{service.name}.{method.name}"

    comments: dict[str, str] = {}
    for location in file.source_code_info.location:
        name = names.get(tuple(location.path))
        text = _clean(location.leading_comments)
        if name is not None and text:
            comments[name] = text
    return comments


def _clean(comment: str) -> str:
    lines = [line.strip() for line in comment.strip().splitlines()]
    return "\n".join(lines).strip()
