"""Page sizes and page tokens."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.errors import InvalidArgument
from toko.platform.pagination import PageSpec, decode_token, encode_token

SPEC = PageSpec(default=20, maximum=100)


def test_zero_page_size_means_the_default() -> None:
    assert SPEC.size(0) == 20


@pytest.mark.parametrize("size", [-1, 101, 10_000])
def test_page_size_outside_the_limits_is_rejected_with_its_reason(size: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        SPEC.size(size)
    assert caught.value.reason == "PAGE_SIZE_OUT_OF_RANGE"
    assert caught.value.violations[0].field == "page_size"


@given(
    key=st.lists(
        st.one_of(st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        min_size=1,
        max_size=3,
    )
)
def test_a_token_continues_after_the_key_it_was_made_from(key: list[str | int]) -> None:
    token = encode_token(key, ["shop-1", 2])
    assert decode_token(token, ["shop-1", 2], len(key)) == key


def test_empty_token_starts_at_the_first_page() -> None:
    assert decode_token("", [], 1) is None


@pytest.mark.parametrize("token", ["%%%", "abc", "e30", "x" * 600, encode_token(["a"], ["other filters"])])
def test_malformed_or_foreign_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, ["these filters"], 1)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
