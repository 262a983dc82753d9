"""The user service's validation rules: emails, phones, passwords, addresses, shops, birth dates."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.rules import ValidationFailed
from toko.services.user import domain
from toko.services.user.domain import AddressFields, MapPin, ShopFields
from toko.services.user.error_codes import ErrorCode
from toko.services.user.passwords import PasswordHashing, PasswordPolicy
from toko.services.user.tokens import new_recovery_codes, normalise_recovery_code, token_digest

POLICY = PasswordPolicy()


def reasons(error: ValidationFailed) -> set[str]:
    return {v.reason for v in error.violations}


def valid_address(**changes: object) -> AddressFields:
    fields = {
        "label": "Rumah",
        "recipient": "Budi Santoso",
        "phone": "081234567890",
        "province": "Jawa Barat",
        "city": "Kota Bandung",
        "district": "Coblong",
        "sub_district": "Dago",
        "postal_code": "40135",
        "street": "Jl. Ir. H. Juanda No. 102",
        "pin": None,
    } | changes
    return AddressFields(**fields)  # type: ignore[arg-type]


# --- email --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Budi@Example.COM", "budi@example.com"),
        ("  siti.rahayu+toko@mail.co.id ", "siti.rahayu+toko@mail.co.id"),
    ],
)
def test_emails_are_stored_lowercase(raw: str, stored: str) -> None:
    assert domain.normalise_email(raw) == stored


@pytest.mark.parametrize(
    "raw", ["", "budi", "budi@", "@example.com", "budi@@example.com", "budi example@x.com"]
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.normalise_email(raw)
    assert reasons(caught.value) == {ErrorCode.INVALID_EMAIL}


# --- phones -------------------------------------------------------------------------------------------------


@given(st.integers(min_value=11, max_value=13), st.text(string.digits, min_size=7, max_size=9))
def test_indonesian_mobile_numbers_come_out_in_e164(prefix_digit: int, rest: str) -> None:
    local = f"08{prefix_digit}{rest}"
    try:
        e164 = domain.normalise_phone(local)
    except ValidationFailed:
        return  # not every digit string is an allocated range; the ones that are must round-trip
    assert e164.startswith("+628")
    assert domain.normalise_phone(e164) == e164
    assert domain.normalise_phone("+62 " + local[1:]) == e164


@pytest.mark.parametrize("raw", ["", "12345", "+14155552671", "021-555-1234", "0812", "halo", "+62 812"])
def test_foreign_landline_and_malformed_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.normalise_phone(raw)
    assert reasons(caught.value) == {ErrorCode.INVALID_PHONE}


def test_a_local_mobile_number_is_read_as_indonesian() -> None:
    assert domain.normalise_phone("0812-3456-7890") == "+6281234567890"


# --- passwords ----------------------------------------------------------------------------------------------


@given(st.text(min_size=0, max_size=7))
def test_passwords_under_eight_characters_are_weak(password: str) -> None:
    assert [v.reason for v in POLICY.problems(password)] == [ErrorCode.WEAK_PASSWORD]


@given(st.text(min_size=129, max_size=300))
def test_passwords_over_128_characters_are_refused(password: str) -> None:
    assert [v.reason for v in POLICY.problems(password)] == [ErrorCode.WEAK_PASSWORD]


@given(st.sampled_from(sorted(POLICY.common)), st.booleans())
def test_common_passwords_are_refused_whatever_their_case(password: str, upper: bool) -> None:
    candidate = password.upper() if upper else password
    assert [v.reason for v in POLICY.problems(candidate)] == [ErrorCode.WEAK_PASSWORD]


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_!", min_size=20, max_size=40))
def test_long_random_passwords_are_fine(password: str) -> None:
    assert POLICY.problems(password, email="budi@example.com") == []


def test_the_list_is_about_a_thousand_of_the_usual_suspects() -> None:
    assert 900 <= len(POLICY.common) <= 1_100
    assert {"password", "12345678", "qwerty123", "iloveyou", "bismillah"} <= POLICY.common


def test_the_email_address_is_not_a_password() -> None:
    assert POLICY.problems("Budi.Santoso@example.com", email="budi.santoso@example.com") != []


def test_hashes_are_argon2id_with_owasp_parameters_and_verify() -> None:
    hashing = PasswordHashing()
    stored = hashing.hash("kopi-susu-gula-aren")

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hashing.verify(stored, "kopi-susu-gula-aren")
    assert not hashing.verify(stored, "kopi-susu-gula-arem")
    assert not hashing.verify("not a hash", "anything")
    assert not hashing.needs_rehash(stored)


def test_a_hash_with_older_parameters_needs_rehashing() -> None:
    weak = PasswordHashing(memory_kib=8 * 1024, time_cost=1)
    assert PasswordHashing().needs_rehash(weak.hash("kopi-susu-gula-aren"))


# --- addresses ----------------------------------------------------------------------------------------------


@given(st.from_regex(r"[1-9][0-9]{4}", fullmatch=True))
def test_five_digit_postal_codes_not_starting_with_zero_are_valid(code: str) -> None:
    assert domain.is_valid_postal_code(code)
    assert domain.check_address(valid_address(postal_code=code)).postal_code == code


@given(
    st.one_of(
        st.from_regex(r"0[0-9]{4}", fullmatch=True),
        st.from_regex(r"[0-9]{0,4}", fullmatch=True),
        st.from_regex(r"[0-9]{6,9}", fullmatch=True),
        st.text(min_size=5, max_size=5).filter(lambda s: not s.isdigit()),
    )
)
def test_other_postal_codes_are_refused(code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.check_address(valid_address(postal_code=code))
    assert reasons(caught.value) == {ErrorCode.INVALID_POSTAL_CODE}


def test_there_are_thirty_eight_provinces() -> None:
    assert len(set(domain.PROVINCES)) == 38


@given(
    st.sampled_from(domain.PROVINCES), st.sampled_from([str.lower, str.upper, str.title, lambda s: f"  {s} "])
)
def test_province_names_are_recognised_in_any_case(province: str, spell: object) -> None:
    assert domain.normalise_province(spell(province)) == province  # type: ignore[operator]


@given(st.text(max_size=40).filter(lambda s: domain.normalise_province(s) is None))
def test_anything_else_is_not_a_province(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.check_address(valid_address(province=name))
    assert ErrorCode.INVALID_PROVINCE in reasons(caught.value)


def test_common_abbreviations_name_their_province() -> None:
    assert domain.normalise_province("Jakarta") == "DKI Jakarta"
    assert domain.normalise_province("jabar") == "Jawa Barat"


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.check_address(
            valid_address(
                postal_code="0123", province="Narnia", phone="123", pin=MapPin(51.5, -0.1), recipient=""
            )
        )
    assert {v.field for v in caught.value.violations} == {
        "address.postal_code",
        "address.province",
        "address.phone",
        "address.pin",
        "address.recipient",
    }
    assert caught.value.reason == ErrorCode.VALIDATION_FAILED


@given(st.floats(min_value=-11, max_value=6), st.floats(min_value=95, max_value=141))
def test_pins_inside_indonesia_are_kept(latitude: float, longitude: float) -> None:
    assert domain.check_address(valid_address(pin=MapPin(latitude, longitude))).pin == MapPin(
        latitude, longitude
    )


@given(st.floats(allow_nan=True).filter(lambda x: not -11 <= x <= 6))
def test_pins_outside_indonesia_are_refused(latitude: float) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.check_address(valid_address(pin=MapPin(latitude, 110.0)))
    assert reasons(caught.value) == {ErrorCode.INVALID_MAP_PIN}


def test_labels_are_free_text_up_to_thirty_characters() -> None:
    assert domain.check_address(valid_address(label="Rumah Nenek di Garut")).label == "Rumah Nenek di Garut"
    with pytest.raises(ValidationFailed):
        domain.check_address(valid_address(label="x" * 31))


def test_phone_numbers_of_addresses_are_stored_in_e164() -> None:
    assert domain.check_address(valid_address()).phone == "+6281234567890"


# --- shops --------------------------------------------------------------------------------------------------


@given(st.from_regex(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,23}", fullmatch=True))
def test_slug_domains_are_valid_unless_reserved(slug: str) -> None:
    problems = domain.domain_problem(slug)
    if slug in domain.RESERVED_DOMAINS or not 3 <= len(slug) <= 24:
        assert problems
    else:
        assert problems == []


@given(
    st.one_of(
        st.text(alphabet=string.ascii_lowercase, min_size=25, max_size=40),
        st.text(alphabet=string.ascii_lowercase, max_size=2),
        st.from_regex(r"-[a-z]{3,10}", fullmatch=True),
        st.from_regex(r"[a-z]{3,10}-", fullmatch=True),
        st.from_regex(r"[a-z]{2,8}[A-Z_. ][a-z]{2,8}", fullmatch=True),
        st.sampled_from(sorted(domain.RESERVED_DOMAINS)),
    )
)
def test_other_domains_are_refused(slug: str) -> None:
    assert [v.reason for v in domain.domain_problem(slug)] == [ErrorCode.INVALID_DOMAIN]


def test_shop_names_must_be_three_to_sixty_characters() -> None:
    names = ("name", "origin_city")
    assert (
        domain.check_shop(ShopFields(name="  Kopi   Kita ", origin_city="Malang"), names=names).name
        == "Kopi Kita"
    )
    for name in ("Ab", "x" * 61):
        with pytest.raises(ValidationFailed) as caught:
            domain.check_shop(ShopFields(name=name, origin_city="Malang"), names=names)
        assert reasons(caught.value) == {ErrorCode.INVALID_SHOP_NAME}


# --- profile ------------------------------------------------------------------------------------------------


TODAY = date(2025, 6, 15)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2012, 6, 15)))
def test_birth_dates_thirteen_years_ago_or_earlier_are_accepted(born: date) -> None:
    assert domain.parse_birth_date(born.isoformat(), today=TODAY) == born


@given(st.dates(min_value=date(2012, 6, 16), max_value=date(2100, 1, 1)))
def test_younger_or_future_birth_dates_are_refused(born: date) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.parse_birth_date(born.isoformat(), today=TODAY)
    assert reasons(caught.value) == {ErrorCode.INVALID_BIRTH_DATE}


@pytest.mark.parametrize("raw", ["15-06-2000", "2000-13-01", "2000-02-30", "kemarin"])
def test_malformed_birth_dates_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        domain.parse_birth_date(raw, today=TODAY)


@pytest.mark.parametrize(
    "url", ["http://img.example.com/a.png", "javascript:alert(1)", "https://", "ftp://x/y"]
)
def test_avatar_urls_must_be_https(url: str) -> None:
    _, problems = domain.check_avatar_url(url)
    assert [v.reason for v in problems] == [ErrorCode.INVALID_AVATAR_URL]


def test_roles_follow_from_shop_and_admin_flag() -> None:
    assert domain.roles_of(is_admin=False, shop_id=None) == ["buyer"]
    assert domain.roles_of(is_admin=True, shop_id="s") == ["buyer", "seller", "admin"]


# --- tokens -------------------------------------------------------------------------------------------------


def test_recovery_codes_are_ten_distinct_and_read_back_however_typed() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == 10
    assert normalise_recovery_code(codes[0].upper().replace("-", " ")) == codes[0]
    assert token_digest(codes[0]) != codes[0]
