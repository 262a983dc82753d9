"""Path templates of ``google.api.http`` rules, and a trie that matches request paths against them.

Grammar (from ``google/api/http.proto``)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

``{field}`` is short for ``{field=*}``; ``**`` matches zero or more segments and
must be the last segment. Matching prefers literal segments over wildcards, as
grpc-gateway and Envoy's transcoder do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

STAR = "*"
DOUBLE_STAR = "**"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[^/{}*=:]+$")

T = TypeVar("T")


class TemplateError(ValueError):
    """A path template that does not follow the grammar."""


@dataclass(frozen=True)
class Variable:
    """A variable of a template: the field it binds and the segments it spans."""

    field_path: tuple[str, ...]
    start: int
    # None when the variable ends with ``**`` and so runs to the end of the path.
    end: int | None

    @property
    def name(self) -> str:
        """The dotted field path, as written in the template."""
        return ".".join(self.field_path)

    @property
    def parameter(self) -> str:
        """The name of the variable as an OpenAPI path parameter (no dots: tools read them as attributes)."""
        return "_".join(self.field_path)


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template: its segments (literals, ``*``, ``**``), variables and verb."""

    source: str
    segments: tuple[str, ...]
    variables: tuple[Variable, ...]
    verb: str | None

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        """Parse ``template``; raise ``TemplateError`` when it is malformed."""
        if not template.startswith("/"):
            raise TemplateError(f"{template!r}: a path template starts with '/'")
        body, verb = _split_verb(template)
        segments: list[str] = []
        variables: list[Variable] = []
        for part in _split_top_level(body[1:]):
            if part.startswith("{"):
                if not part.endswith("}"):
                    raise TemplateError(f"{template!r}: unbalanced braces")
                name, _, pattern = part[1:-1].partition("=")
                if not _IDENT.match(name):
                    raise TemplateError(f"{template!r}: bad field path {name!r}")
                if any(v.name == name for v in variables):
                    raise TemplateError(f"{template!r}: {name!r} bound twice")
                inner = pattern.split("/") if pattern else [STAR]
                for segment in inner:
                    _check_plain_segment(template, segment)
                start = len(segments)
                segments.extend(inner)
                end = None if inner[-1] == DOUBLE_STAR else len(segments)
                variables.append(Variable(tuple(name.split(".")), start, end))
            else:
                _check_plain_segment(template, part)
                segments.append(part)
        if DOUBLE_STAR in segments[:-1]:
            raise TemplateError(f"{template!r}: '**' must be the last segment")
        return cls(template, tuple(segments), tuple(variables), verb)

    @property
    def has_unnamed_wildcards(self) -> bool:
        """True when a ``*`` or ``**`` stands outside any variable (OpenAPI has no way to say so)."""
        covered: set[int] = set()
        for variable in self.variables:
            covered.update(
                range(variable.start, len(self.segments) if variable.end is None else variable.end)
            )
        return any(
            segment in (STAR, DOUBLE_STAR) and index not in covered
            for index, segment in enumerate(self.segments)
        )

    def openapi_path(self, names: list[str] | None = None) -> str:
        """The template as an OpenAPI path: variables become ``{name}``, by default ``{field_path}``."""
        names = names if names is not None else [v.parameter for v in self.variables]
        parts: list[str] = []
        index = 0
        starts = {v.start: (v, name) for v, name in zip(self.variables, names, strict=True)}
        while index < len(self.segments):
            found = starts.get(index)
            if found is not None:
                variable, name = found
                parts.append("{" + name + "}")
                index = len(self.segments) if variable.end is None else variable.end
                continue
            parts.append(self.segments[index])
            index += 1
        path = "/" + "/".join(parts)
        return f"{path}:{self.verb}" if self.verb else path

    def openapi_shape(self) -> str:
        """The OpenAPI path with every variable unnamed: templates with the same shape are one path."""
        return self.openapi_path([""] * len(self.variables))


def _check_plain_segment(template: str, segment: str) -> None:
    if segment not in (STAR, DOUBLE_STAR) and not _LITERAL.match(segment):
        raise TemplateError(f"{template!r}: bad segment {segment!r}")


def _split_verb(template: str) -> tuple[str, str | None]:
    depth = 0
    colon = -1
    for index, char in enumerate(template):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            colon = -1
        elif char == ":" and depth == 0:
            colon = index
    if depth != 0:
        raise TemplateError(f"{template!r}: unbalanced braces")
    if colon < 0:
        return template, None
    verb = template[colon + 1 :]
    if not _LITERAL.match(verb):
        raise TemplateError(f"{template!r}: bad verb {verb!r}")
    return template[:colon], verb


def _split_top_level(path: str) -> Iterator[str]:
    depth = 0
    start = 0
    for index, char in enumerate(path):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            yield path[start:index]
            start = index + 1
    yield path[start:]


@dataclass
class _Node(Generic[T]):
    literals: dict[str, _Node[T]] = field(default_factory=dict)
    star: _Node[T] | None = None
    # Templates ending in ``**`` here, by verb and then HTTP method.
    rest: dict[str | None, dict[str, tuple[PathTemplate, T]]] = field(default_factory=dict)
    # Templates ending exactly here, by verb and then HTTP method.
    leaves: dict[str | None, dict[str, tuple[PathTemplate, T]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Match(Generic[T]):
    """The value a request path and method resolved to, with the path variables' values."""

    value: T
    template: PathTemplate
    params: dict[tuple[str, ...], str]


class PathTrie(Generic[T]):
    """Maps (HTTP method, path template) to values; matches request paths segment by segment."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()

    def add(self, method: str, template: PathTemplate, value: T) -> None:
        """Register ``value``; raise ``TemplateError`` when the same method and path are taken."""
        node = self._root
        segments = template.segments
        ends_in_rest = bool(segments) and segments[-1] == DOUBLE_STAR
        for segment in segments[:-1] if ends_in_rest else segments:
            if segment == STAR:
                node.star = node.star or _Node()
                node = node.star
            else:
                node = node.literals.setdefault(segment, _Node())
        table = (node.rest if ends_in_rest else node.leaves).setdefault(template.verb, {})
        if method in table:
            raise TemplateError(f"{method} {template.source} is bound twice")
        table[method] = (template, value)

    def match(self, method: str, path: str) -> Match[T] | list[str]:
        """The match for ``method`` and the raw (still percent-encoded) ``path``.

        Without one, the methods the path allows (for a 405), empty when no template fits it (404).
        """
        if not path.startswith("/"):
            return []
        segments = path[1:].split("/")
        tables: list[dict[str, tuple[PathTemplate, T]]] = []
        last = segments[-1]
        colon = last.rfind(":")
        if colon >= 0:
            # A custom verb is tried first; the colon may as well belong to a plain variable's value.
            verb_segments = [*segments[:-1], last[:colon]]
            self._collect(self._root, verb_segments, 0, last[colon + 1 :], tables)
        self._collect(self._root, segments, 0, None, tables)
        for table in tables:
            found = table.get(method)
            if found is not None:
                template, value = found
                used = segments if template.verb is None else [*segments[:-1], last[:colon]]
                return Match(value, template, _bind(template, used))
        allowed: set[str] = set()
        for table in tables:
            allowed.update(table)
        return sorted(allowed)

    def _collect(
        self,
        node: _Node[T],
        segments: list[str],
        index: int,
        verb: str | None,
        out: list[dict[str, tuple[PathTemplate, T]]],
    ) -> None:
        if index == len(segments):
            leaf = node.leaves.get(verb)
            if leaf:
                out.append(leaf)
        else:
            segment = segments[index]
            child = node.literals.get(segment)
            if child is not None:
                self._collect(child, segments, index + 1, verb, out)
            if node.star is not None and segment:
                self._collect(node.star, segments, index + 1, verb, out)
        rest = node.rest.get(verb)
        if rest:
            out.append(rest)


def _bind(template: PathTemplate, segments: list[str]) -> dict[tuple[str, ...], str]:
    params: dict[tuple[str, ...], str] = {}
    for variable in template.variables:
        span = segments[variable.start : variable.end]
        if len(span) == 1:
            params[variable.field_path] = unquote(span[0], errors="replace")
        else:
            # Across segments, an encoded slash stays encoded so the value keeps its structure.
            params[variable.field_path] = "/".join(
                unquote(part.replace("%2F", "%252F").replace("%2f", "%252F"), errors="replace")
                for part in span
            )
    return params
