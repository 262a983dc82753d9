"""The catalog's rules, without any I/O."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.rules import ValidationFailed
from toko.services.product.domain.catalog import (
    MAX_PRICE,
    ArchivedProductError,
    Attribute,
    Condition,
    Dimensions,
    Money,
    Product,
    ProductOption,
    ProductSpec,
    ProductStatus,
    SkuSpec,
    archive_product,
    check_skus,
    derives_slug,
    is_valid_slug,
    new_category,
    new_product,
    numbered_slug,
    slugify,
    update_product,
)

NOW = datetime(2025, 8, 17, 10, 0, tzinfo=UTC)
LATER = datetime(2025, 8, 17, 11, 0, tzinfo=UTC)
COLORS = ProductOption("Warna", ("Hitam", "Putih"))
SIZES = ProductOption("Ukuran", ("M", "L", "XL"))


def id_factory() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


def sku(code: str, price: int = 45_000, **values: str) -> SkuSpec:
    return SkuSpec(code=code, option_values=values, price=Money(price))


def apparel_skus() -> tuple[SkuSpec, ...]:
    return tuple(sku(f"K-{c}-{s}", Warna=c, Ukuran=s) for c in COLORS.values for s in SIZES.values)


def spec(**changes: object) -> ProductSpec:
    base = ProductSpec(
        category_id="cat",
        title="Kaos Polos Hitam Premium",
        slug="",
        description="Adem.",
        condition=Condition.NEW,
        status=ProductStatus.ACTIVE,
        attributes=(Attribute("Bahan", "Katun"),),
        image_urls=("https://img.example.com/a.jpg",),
        weight_grams=200,
        dimensions=Dimensions(300, 200, 20),
        options=(COLORS, SIZES),
        skus=apparel_skus(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def create(**changes: object) -> Product:
    return new_product(product_id="p1", shop_id="s1", spec=spec(**changes), now=NOW, new_id=id_factory())


def violations(**changes: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        create(**changes)
    return [(v.field, v.reason) for v in caught.value.violations]


def reason_of(**changes: object) -> str:
    with pytest.raises(ValidationFailed) as caught:
        create(**changes)
    return caught.value.reason


# --- slugs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Kaos Polos Hitam Premium", "kaos-polos-hitam-premium"),
        ("  Sambal Bawang Bu Rudy 150g ", "sambal-bawang-bu-rudy-150g"),
        ("Handphone & Tablet", "handphone-tablet"),
        ("Café Crème Brûlée", "cafe-creme-brulee"),
        ("Case iPhone 15 Pro -- Silikon!!", "case-iphone-15-pro-silikon"),
    ],
)
def test_slugs_are_derived_from_titles(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_a_title_without_latin_letters_still_gets_a_stable_slug() -> None:
    assert slugify("手机壳") == slugify("手机壳")
    assert slugify("手机壳").startswith("item-")
    assert is_valid_slug(slugify("手机壳"))


@given(st.text(max_size=300))
def test_slug_derivation_always_yields_a_valid_slug(title: str) -> None:
    assert is_valid_slug(slugify(title))


@pytest.mark.parametrize(
    "slug", ["ab", "Kaos", "kaos polos", "-kaos", "kaos-", "kaos--polos", "kaos_polos", "x" * 121]
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    assert violations(slug=slug) == [("slug", "INVALID_SLUG")]


def test_a_given_slug_is_kept_and_an_empty_one_derived() -> None:
    assert create(slug="kaos-keren").slug == "kaos-keren"
    assert create().slug == "kaos-polos-hitam-premium"


def test_a_derived_slug_is_numbered_from_two_and_stays_valid() -> None:
    longest = "k" * 60 + "-" + "p" * 59

    assert [numbered_slug("kaos-polos", n) for n in (1, 2, 3, 10)] == [
        "kaos-polos",
        "kaos-polos-2",
        "kaos-polos-3",
        "kaos-polos-10",
    ]
    assert numbered_slug(longest, 2) == "k" * 60 + "-" + "p" * 57 + "-2"
    # Cut where a hyphen would end the base: the hyphen goes too, or the slug would hold a double one.
    assert numbered_slug("k" * 116 + "-pq", 12) == "k" * 116 + "-12"
    assert all(is_valid_slug(numbered_slug(longest, n)) for n in (2, 99, 12_345))
    assert (derives_slug(spec()), derives_slug(spec(slug="  ")), derives_slug(spec(slug="kaos"))) == (
        True,
        True,
        False,
    )


# --- single fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "ok"), [("ab", False), ("abc", True), ("x" * 200, True), ("x" * 201, False), ("   ab  ", False)]
)
def test_titles_are_3_to_200_characters(title: str, ok: bool) -> None:
    if ok:
        assert create(title=title).title == title.strip()
    else:
        assert reason_of(title=title) == "INVALID_TITLE"


def test_descriptions_are_at_most_ten_thousand_characters() -> None:
    assert create(description="x" * 10_000).description == "x" * 10_000
    assert violations(description="x" * 10_001) == [("description", "DESCRIPTION_TOO_LONG")]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://img.example.com/a.jpg",
        "/static/a.jpg",
        "https://",
        "https://img.example.com/a b.jpg",
        "https://x/" + "a" * 2000,
    ],
)
def test_image_urls_must_be_absolute_http_urls(url: str) -> None:
    assert violations(image_urls=(url,)) == [("image_urls[0]", "INVALID_IMAGE_URL")]


def test_at_most_ten_images_and_fifty_attributes() -> None:
    assert violations(image_urls=("https://a.example/x.jpg",) * 11) == [("image_urls", "TOO_MANY_IMAGES")]
    assert violations(attributes=(Attribute("a", "b"),) * 51) == [("attributes", "TOO_MANY_ATTRIBUTES")]
    assert violations(attributes=(Attribute("", "b"), Attribute("a", "x" * 1001))) == [
        ("attributes[0].name", "INVALID_ATTRIBUTE"),
        ("attributes[1].value", "INVALID_ATTRIBUTE"),
    ]


@pytest.mark.parametrize(
    ("grams", "ok"), [(0, False), (1, True), (500_000, True), (500_001, False), (-3, False)]
)
def test_weight_is_one_gram_to_500_kilograms(grams: int, ok: bool) -> None:
    if ok:
        assert create(weight_grams=grams).weight_grams == grams
    else:
        assert violations(weight_grams=grams) == [("weight_grams", "WEIGHT_OUT_OF_RANGE")]


def test_dimensions_are_zero_to_five_metres() -> None:
    assert create(dimensions=Dimensions(0, 5_000, 0)).dimensions == Dimensions(0, 5_000, 0)
    assert violations(dimensions=Dimensions(-1, 5_001, 10)) == [
        ("dimensions.length_mm", "DIMENSIONS_OUT_OF_RANGE"),
        ("dimensions.width_mm", "DIMENSIONS_OUT_OF_RANGE"),
    ]


def test_missing_condition_or_an_archived_new_product_is_refused() -> None:
    assert violations(condition=None) == [("condition", "INVALID_CONDITION")]
    assert violations(status=ProductStatus.ARCHIVED) == [("status", "INVALID_STATUS")]


# --- options and SKUs ---------------------------------------------------------------------------------------


def test_options_names_are_unique_values_unique_and_at_most_three() -> None:
    assert violations(options=(COLORS, ProductOption("warna", ("Merah",))), skus=(sku("A"),))[0] == (
        "options[1].name",
        "DUPLICATE_OPTION_NAME",
    )
    assert ("options[0].values", "DUPLICATE_OPTION_VALUE") in violations(
        options=(ProductOption("Warna", ("Hitam", "Hitam")),), skus=(sku("A", Warna="Hitam"),)
    )
    four = tuple(ProductOption(f"O{i}", ("a",)) for i in range(4))
    assert ("options", "TOO_MANY_OPTIONS") in violations(
        options=four, skus=(sku("A", O0="a", O1="a", O2="a", O3="a"),)
    )
    assert ("options[0].values", "INVALID_OPTION") in violations(
        options=(ProductOption("Warna", tuple(f"v{i}" for i in range(51))),), skus=(sku("A", Warna="v0"),)
    )


def test_a_product_without_options_has_one_sku_without_option_values() -> None:
    product = create(options=(), skus=(sku("ONLY"),))
    assert [s.code for s in product.skus] == ["ONLY"]
    assert violations(options=(), skus=(sku("A", Warna="Hitam"),)) == [
        ("skus[0].option_values", "SKU_OPTIONS_MISMATCH")
    ]


def test_skus_are_required_and_at_most_two_hundred() -> None:
    assert violations(skus=()) == [("skus", "SKU_REQUIRED")]
    many = tuple(sku(f"S{i}") for i in range(201))
    assert ("skus", "TOO_MANY_SKUS") in violations(options=(), skus=many)


def test_sku_codes_are_unique() -> None:
    skus = apparel_skus()
    clash = (*skus[:1], replace(skus[1], code=skus[0].code), *skus[2:])
    assert violations(skus=clash) == [("skus[1].code", "DUPLICATE_SKU_CODE")]
    assert reason_of(skus=clash) == "DUPLICATE_SKU_CODE"


def test_each_sku_has_one_allowed_value_of_every_option() -> None:
    skus = list(apparel_skus())
    skus[1] = sku("X1", Warna="Hitam")
    skus[2] = sku("X2", Warna="Merah", Ukuran="M")
    skus[3] = sku("X3", Warna="Putih", Ukuran="M", Bahan="Katun")
    assert violations(skus=tuple(skus)) == [
        ("skus[1].option_values", "SKU_OPTIONS_MISMATCH"),
        ("skus[2].option_values", "SKU_OPTIONS_MISMATCH"),
        ("skus[3].option_values", "SKU_OPTIONS_MISMATCH"),
    ]


def test_two_skus_cannot_share_a_combination() -> None:
    assert violations(skus=(sku("A", Warna="Hitam", Ukuran="M"), sku("B", Warna="Hitam", Ukuran="M"))) == [
        ("skus[1].option_values", "DUPLICATE_SKU_COMBINATION")
    ]


def test_a_subset_of_the_combinations_is_fine() -> None:
    product = create(skus=apparel_skus()[:2])
    assert len(product.skus) == 2


# --- prices -------------------------------------------------------------------------------------------------


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_prices_are_one_rupiah_to_one_hundred_billion(amount: int) -> None:
    found = check_skus((), (SkuSpec("A", {}, Money(amount)),))
    in_range = 1 <= amount <= MAX_PRICE
    assert (found == []) is in_range
    if not in_range:
        assert [(v.field, v.reason) for v in found] == [("skus[0].price.amount", "PRICE_OUT_OF_RANGE")]


def test_empty_currency_means_idr_and_others_are_refused() -> None:
    product = create(options=(), skus=(SkuSpec("A", {}, Money(10_000, "")),))
    assert product.skus[0].price == Money(10_000, "IDR")
    assert violations(options=(), skus=(SkuSpec("A", {}, Money(10_000, "USD")),)) == [
        ("skus[0].price.currency", "UNSUPPORTED_CURRENCY")
    ]


def test_min_and_max_price_span_the_skus() -> None:
    product = create(
        skus=(sku("A", 10_000, Warna="Hitam", Ukuran="M"), sku("B", 12_500, Warna="Putih", Ukuran="M"))
    )
    assert (product.min_price, product.max_price) == (Money(10_000), Money(12_500))


def test_every_violation_is_collected() -> None:
    skus = list(apparel_skus())
    skus[1] = replace(skus[1], price=Money(0))
    found = violations(title="ab", weight_grams=0, skus=tuple(skus))
    assert found == [
        ("title", "INVALID_TITLE"),
        ("weight_grams", "WEIGHT_OUT_OF_RANGE"),
        ("skus[1].price.amount", "PRICE_OUT_OF_RANGE"),
    ]
    assert reason_of(title="ab", weight_grams=0) == "VALIDATION_FAILED"


option_sets = st.lists(
    st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=4, unique=True),
    min_size=0,
    max_size=3,
)


@given(option_sets, st.data())
def test_sku_sets_are_accepted_exactly_when_each_is_a_distinct_point_of_the_options(
    values: list[list[str]], data: st.DataObject
) -> None:
    options = tuple(ProductOption(f"opt{i}", tuple(v)) for i, v in enumerate(values))
    everything = [
        dict(zip([o.name for o in options], combo, strict=True)) for combo in itertools.product(*values)
    ]
    chosen = data.draw(
        st.lists(
            st.sampled_from(everything),
            min_size=1,
            max_size=len(everything),
            unique_by=lambda d: tuple(sorted(d.items())),
        )
    )
    skus = [SkuSpec(f"S{i}", combo, Money(1_000)) for i, combo in enumerate(chosen)]

    assert check_skus(options, skus) == []

    # Any one change that leaves the cartesian product or repeats a point is refused.
    victim = data.draw(st.integers(0, len(skus) - 1))
    broken = dict(skus[victim].option_values)
    mutation = data.draw(st.sampled_from(["drop", "extra", "foreign", "repeat"]))
    if mutation == "drop" and broken:
        broken.pop(next(iter(broken)))
    elif mutation == "foreign" and broken:
        broken[next(iter(broken))] = "zzzz"
    elif mutation == "repeat" and len(skus) > 1:
        broken = dict(skus[(victim + 1) % len(skus)].option_values)
    else:
        broken["unknown"] = "a"
    skus[victim] = replace(skus[victim], option_values=broken)
    reasons = {v.reason for v in check_skus(options, skus)}
    assert reasons & {"SKU_OPTIONS_MISMATCH", "DUPLICATE_SKU_COMBINATION"}


# --- changes over time --------------------------------------------------------------------------------------


def test_an_update_changes_the_masked_fields_and_keeps_ids_of_kept_codes() -> None:
    product = create()
    kept = {s.code: s.id for s in product.skus}
    new_skus = (apparel_skus()[0], sku("NEW", Warna="Putih", Ukuran="XL"))

    updated, changed = update_product(
        product,
        changes=spec(title="Kaos Baru Sekali", description="diabaikan", skus=new_skus),
        mask=["skus", "title"],
        now=LATER,
        new_id=lambda: "fresh",
    )

    assert changed == ("title", "skus")
    assert updated.title == "Kaos Baru Sekali"
    assert updated.description == product.description
    assert updated.slug == product.slug
    assert [s.id for s in updated.skus] == [kept["K-Hitam-M"], "fresh"]
    assert (updated.version, updated.updated_at, updated.created_at) == (2, LATER, NOW)


def test_an_empty_slug_in_the_mask_is_derived_from_the_new_title() -> None:
    product = create(slug="lama")
    updated, _ = update_product(
        product, changes=spec(title="Kaos Edisi Baru", slug=""), mask=["title", "slug"], now=LATER, new_id=str
    )
    assert updated.slug == "kaos-edisi-baru"


def test_an_update_without_change_keeps_the_version() -> None:
    product = create()
    same, changed = update_product(product, changes=spec(), mask=["title", "skus"], now=LATER, new_id=str)
    assert (same, changed) == (product, ())


@pytest.mark.parametrize("mask", [[], ["shop_id"], ["title", "version"]])
def test_unknown_or_empty_masks_are_refused(mask: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        update_product(create(), changes=spec(), mask=mask, now=LATER, new_id=str)
    assert caught.value.reason == "INVALID_UPDATE_MASK"


def test_status_moves_between_draft_and_active_and_archived_is_final() -> None:
    product = create(status=ProductStatus.DRAFT)
    active, _ = update_product(
        product, changes=spec(status=ProductStatus.ACTIVE), mask=["status"], now=LATER, new_id=str
    )
    draft, _ = update_product(
        active, changes=spec(status=ProductStatus.DRAFT), mask=["status"], now=LATER, new_id=str
    )
    archived, changed = archive_product(draft, now=LATER)
    again, changed_again = archive_product(archived, now=LATER)

    assert (active.status, draft.status, archived.status) == (
        ProductStatus.ACTIVE,
        ProductStatus.DRAFT,
        ProductStatus.ARCHIVED,
    )
    assert (changed, changed_again, again) == (True, False, archived)
    with pytest.raises(ArchivedProductError):
        update_product(
            archived, changes=spec(status=ProductStatus.ACTIVE), mask=["status"], now=LATER, new_id=str
        )


def test_an_update_is_checked_against_the_whole_product() -> None:
    with pytest.raises(ValidationFailed) as caught:
        update_product(
            create(),
            changes=spec(options=(ProductOption("Warna", ("Merah",)),)),
            mask=["options"],
            now=LATER,
            new_id=str,
        )
    assert caught.value.reason == "SKU_OPTIONS_MISMATCH"
    assert caught.value.violations[0].field.startswith("product.skus[")


def test_categories_carry_their_path_and_a_derived_slug() -> None:
    root = new_category(category_id="r", parent=None, name="Fashion Pria", slug="")
    child = new_category(category_id="c", parent=root, name=" Kaos ", slug="")

    assert (root.slug, root.path, root.parent_id) == ("fashion-pria", ("r",), None)
    assert (child.name, child.slug, child.path, child.parent_id) == ("Kaos", "kaos", ("r", "c"), "r")
    with pytest.raises(ValidationFailed):
        new_category(category_id="x", parent=None, name="", slug="")


# --- the text rule ------------------------------------------------------------------------------------------

INVISIBLE = ["\u200b\u200b\u200b", "\u200c\u200d\u2060", "\ufeff\ufeff\ufeff", " \u200b \u3164 "]
BIDI = ["Kaos \u202eLOS", "\u2066Kaos Polos\u2069", "Kaos\u202a Polos"]


@pytest.mark.parametrize("title", INVISIBLE + BIDI)
def test_a_title_of_invisible_characters_or_with_bidi_controls_is_refused(title: str) -> None:
    assert violations(title=title, slug="kaos") == [("title", "INVALID_TITLE")]


@pytest.mark.parametrize("text", INVISIBLE[:2] + BIDI[:1])
def test_option_names_and_values_and_attribute_names_follow_the_text_rule(text: str) -> None:
    options = (ProductOption(text, ("Hitam",)), ProductOption("Ukuran", (text,)))
    skus = (sku("A", **{text: "Hitam", "Ukuran": text}),)

    assert ("options[0].name", "INVALID_OPTION") in violations(options=options, skus=skus)
    assert ("options[1].values[0]", "INVALID_OPTION") in violations(options=options, skus=skus)
    assert violations(attributes=(Attribute(text, "Katun"),)) == [("attributes[0].name", "INVALID_ATTRIBUTE")]


def test_names_are_cleaned_the_same_in_options_and_in_sku_option_values() -> None:
    product = create(
        title="  Kaos   Polos  ",
        options=(ProductOption("Warna  Dasar", ("Hitam  Pekat",)),),
        skus=(sku("A", **{" Warna Dasar": "Hitam Pekat "}),),
    )

    assert product.title == "Kaos Polos"
    assert product.options == (ProductOption("Warna Dasar", ("Hitam Pekat",)),)
    assert dict(product.skus[0].option_values) == {"Warna Dasar": "Hitam Pekat"}


def test_joiners_inside_visible_text_stay() -> None:
    # A family emoji is joined by U+200D: visible text that needs its joiners.
    assert create(title="Kaos Keluarga \U0001f468\u200d\U0001f469\u200d\U0001f467").title.endswith(
        "\U0001f467"
    )


@pytest.mark.parametrize("name", INVISIBLE + BIDI)
def test_a_category_name_of_invisible_characters_or_with_bidi_controls_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        new_category(category_id="x", parent=None, name=name, slug="kategori")
    assert [(v.field, v.reason) for v in caught.value.violations] == [("name", "INVALID_CATEGORY_NAME")]
