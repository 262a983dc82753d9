"""Path templates: parsing the google.api.http grammar and matching request paths."""

from __future__ import annotations

import pytest

from toko.gateway.templates import Match, PathTemplate, PathTrie, TemplateError


def _trie(*bindings: tuple[str, str]) -> PathTrie[str]:
    trie: PathTrie[str] = PathTrie()
    for method, template in bindings:
        trie.add(method, PathTemplate.parse(template), f"{method} {template}")
    return trie


def test_parses_variables_nested_fields_patterns_and_verbs() -> None:
    template = PathTemplate.parse("/v1/{name=shops/*/products/*}/{product.id}:archive")
    assert template.segments == ("v1", "shops", "*", "products", "*", "*")
    assert [(v.name, v.start, v.end) for v in template.variables] == [("name", 1, 5), ("product.id", 5, 6)]
    assert template.verb == "archive"
    assert template.openapi_path() == "/v1/{name}/{product_id}:archive"


def test_double_star_runs_to_the_end() -> None:
    template = PathTemplate.parse("/v1/{path=files/**}")
    assert template.variables[0].end is None


@pytest.mark.parametrize(
    "bad",
    ["v1/x", "/v1/{id", "/v1/{id}}", "/v1/**/x", "/v1/{1bad}", "/v1/{id}/{id}", "/v1/x:", "/v1/a b{"],
)
def test_rejects_malformed_templates(bad: str) -> None:
    with pytest.raises(TemplateError):
        PathTemplate.parse(bad)


def test_matches_a_variable_and_decodes_it() -> None:
    found = _trie(("GET", "/v1/products/{id}")).match("GET", "/v1/products/abc%20d%C3%A9f")
    assert isinstance(found, Match)
    assert found.value == "GET /v1/products/{id}"
    assert found.params == {("id",): "abc déf"}


def test_binds_nested_field_paths() -> None:
    found = _trie(("PATCH", "/v1/products/{product.id}")).match("PATCH", "/v1/products/p1")
    assert isinstance(found, Match)
    assert found.params == {("product", "id"): "p1"}


def test_custom_verb_beats_a_plain_variable_holding_a_colon() -> None:
    trie = _trie(("GET", "/v1/products/{id}"), ("POST", "/v1/products/{id}:archive"))
    archive = trie.match("POST", "/v1/products/p1:archive")
    assert isinstance(archive, Match)
    assert archive.value == "POST /v1/products/{id}:archive"
    assert archive.params == {("id",): "p1"}
    # The same path with GET falls back to the plain template, colon and all.
    get = trie.match("GET", "/v1/products/p1:archive")
    assert isinstance(get, Match)
    assert get.params == {("id",): "p1:archive"}


def test_verb_on_a_literal_segment() -> None:
    found = _trie(("GET", "/v1/skus:batchGet")).match("GET", "/v1/skus:batchGet")
    assert isinstance(found, Match)
    assert _trie(("GET", "/v1/skus:batchGet")).match("GET", "/v1/skus") == []


def test_literals_win_over_wildcards() -> None:
    trie = _trie(("GET", "/v1/products/{id}"), ("GET", "/v1/products/featured"))
    found = trie.match("GET", "/v1/products/featured")
    assert isinstance(found, Match)
    assert found.value == "GET /v1/products/featured"


def test_backtracks_to_a_wildcard_that_has_the_method() -> None:
    trie = _trie(("GET", "/v1/products/{id}"), ("POST", "/v1/products/featured"))
    found = trie.match("GET", "/v1/products/featured")
    assert isinstance(found, Match)
    assert found.params == {("id",): "featured"}


def test_double_star_matches_zero_or_more_segments() -> None:
    trie = _trie(("GET", "/v1/{path=files/**}"))
    deep = trie.match("GET", "/v1/files/a/b%2Fc/d")
    assert isinstance(deep, Match)
    assert deep.params == {("path",): "files/a/b%2Fc/d"}
    shallow = trie.match("GET", "/v1/files")
    assert isinstance(shallow, Match)
    assert shallow.params == {("path",): "files"}


def test_pattern_with_literals_inside_a_variable() -> None:
    trie = _trie(("GET", "/v1/{name=shops/*}"))
    found = trie.match("GET", "/v1/shops/s1")
    assert isinstance(found, Match)
    assert found.params == {("name",): "shops/s1"}
    assert trie.match("GET", "/v1/users/u1") == []


def test_unknown_path_and_wrong_method() -> None:
    trie = _trie(("GET", "/v1/products/{id}"), ("DELETE", "/v1/products/{id}"))
    assert trie.match("GET", "/v1/nothing") == []
    assert trie.match("PUT", "/v1/products/p1") == ["DELETE", "GET"]


def test_empty_segments_do_not_match_a_variable() -> None:
    trie = _trie(("GET", "/v1/products/{id}"))
    assert trie.match("GET", "/v1/products/") == []
    assert trie.match("GET", "v1/products/x") == []


def test_the_same_binding_twice_is_an_error() -> None:
    trie = _trie(("GET", "/v1/products/{id}"))
    with pytest.raises(TemplateError):
        trie.add("GET", PathTemplate.parse("/v1/products/{other}"), "again")
