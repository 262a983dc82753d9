"""The product service through its real gRPC server, on real PostgreSQL, NATS JetStream and Valkey."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import nats
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from product_testkit import ADMIN, failure, new_product_request, new_shop
from redis.asyncio import Redis
from sqlalchemy import func, select

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database
from toko.product.v1 import events_pb2, product_pb2_grpc
from toko.product.v1 import product_pb2 as pb
from toko.services.product.repository.tables import products, skus

Stub = product_pb2_grpc.ProductServiceStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def create(stub: Stub, request: pb.CreateProductRequest) -> pb.Product:
    return (await stub.CreateProduct(request, metadata=ADMIN)).product


async def rows_of_shop(database: Database, shop_id: str) -> tuple[int, int]:
    async with database.sessions() as session:
        product_rows = (
            await session.execute(
                select(func.count()).select_from(products).where(products.c.shop_id == shop_id)
            )
        ).scalar_one()
        sku_rows = (
            await session.execute(
                select(func.count())
                .select_from(skus.join(products, products.c.id == skus.c.product_id))
                .where(products.c.shop_id == shop_id)
            )
        ).scalar_one()
    return product_rows, sku_rows


# --- create and read ----------------------------------------------------------------------------------------


async def test_create_then_get_returns_the_product(stub: Stub, category: pb.Category) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))

    fetched = (await stub.GetProduct(pb.GetProductRequest(id=created.id))).product

    assert fetched == created
    assert created.slug == "kaos-polos-cotton-combed-30s"
    assert (created.min_price.amount, created.max_price.amount) == (45_000, 50_000)
    assert created.min_price.currency == "IDR"
    assert created.version == 1
    assert created.condition == pb.CONDITION_NEW
    assert len({sku.id for sku in created.skus}) == 4


async def test_get_by_slug_finds_the_active_product_of_the_shop(stub: Stub, category: pb.Category) -> None:
    shop_id = new_shop()
    created = await create(stub, new_product_request(shop_id, category.id, slug="kaos-hitam-keren"))

    found = (
        await stub.GetProductBySlug(pb.GetProductBySlugRequest(shop_id=shop_id, slug="kaos-hitam-keren"))
    ).product
    code, reason, _ = await failure(
        stub.GetProductBySlug(pb.GetProductBySlugRequest(shop_id=new_shop(), slug="kaos-hitam-keren"))
    )

    assert found.id == created.id
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")


async def test_a_draft_is_hidden_from_the_public_but_not_from_an_admin(
    stub: Stub, category: pb.Category
) -> None:
    draft = await create(stub, new_product_request(new_shop(), category.id, status=pb.PRODUCT_STATUS_DRAFT))

    code, reason, _ = await failure(stub.GetProduct(pb.GetProductRequest(id=draft.id)))
    as_admin = (await stub.GetProduct(pb.GetProductRequest(id=draft.id), metadata=ADMIN)).product

    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")
    assert as_admin.status == pb.PRODUCT_STATUS_DRAFT


async def test_unknown_and_malformed_ids_are_told_apart(stub: Stub) -> None:
    missing = await failure(stub.GetProduct(pb.GetProductRequest(id=str(uuid.uuid4()))))
    malformed = await failure(stub.GetProduct(pb.GetProductRequest(id="not-a-uuid")))
    no_category = await failure(stub.GetCategory(pb.GetCategoryRequest(id=str(uuid.uuid4()))))

    assert missing[:2] == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")
    assert malformed == (INVALID, "INVALID_ID", ["id"])
    assert no_category[:2] == (grpc.StatusCode.NOT_FOUND, "CATEGORY_NOT_FOUND")


# --- validation and nothing written -------------------------------------------------------------------------


async def test_a_taken_slug_is_refused_and_nothing_is_written(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop_id = new_shop()
    await create(stub, new_product_request(shop_id, category.id, slug="sambal-bawang"))

    code, reason, fields = await failure(
        stub.CreateProduct(new_product_request(shop_id, category.id, slug="sambal-bawang"), metadata=ADMIN)
    )

    assert (code, reason, fields) == (grpc.StatusCode.ALREADY_EXISTS, "SLUG_TAKEN", ["slug"])
    assert await rows_of_shop(database, shop_id) == (1, 4)


async def test_a_second_product_of_the_same_title_gets_the_next_free_slug(
    stub: Stub, category: pb.Category
) -> None:
    shop_id = new_shop()
    first = await create(stub, new_product_request(shop_id, category.id, title="Kaos Polos"))
    chosen = await create(
        stub, new_product_request(shop_id, category.id, title="Kaos Polos", slug="kaos-polos-3")
    )
    second = await create(stub, new_product_request(shop_id, category.id, title="Kaos Polos"))
    third = await create(stub, new_product_request(shop_id, category.id, title="Kaos Polos"))
    elsewhere = await create(stub, new_product_request(new_shop(), category.id, title="Kaos Polos"))

    assert [first.slug, chosen.slug, second.slug, third.slug] == [
        "kaos-polos",
        "kaos-polos-3",
        "kaos-polos-2",
        "kaos-polos-4",
    ]
    assert elsewhere.slug == "kaos-polos"


async def test_concurrent_creates_of_one_title_all_succeed_with_different_slugs(
    stub: Stub, category: pb.Category
) -> None:
    shop_id = new_shop()

    created = await asyncio.gather(
        *(
            create(stub, new_product_request(shop_id, category.id, title="Sambal Roa Manado"))
            for _ in range(6)
        )
    )

    assert sorted(product.slug for product in created) == sorted(
        ["sambal-roa-manado", *(f"sambal-roa-manado-{n}" for n in range(2, 7))]
    )


async def test_clearing_the_slug_of_an_update_derives_a_free_one(stub: Stub, category: pb.Category) -> None:
    shop_id = new_shop()
    await create(stub, new_product_request(shop_id, category.id, title="Kopi Gayo"))
    other = await create(stub, new_product_request(shop_id, category.id, title="Kopi Toraja"))
    numbered = await create(stub, new_product_request(shop_id, category.id, title="Kopi Gayo"))
    mask = FieldMask(paths=["title", "slug"])

    renamed = await stub.UpdateProduct(
        pb.UpdateProductRequest(product=pb.Product(id=other.id, title="Kopi Gayo"), update_mask=mask),
        metadata=ADMIN,
    )
    same = await stub.UpdateProduct(
        pb.UpdateProductRequest(product=pb.Product(id=numbered.id, title="Kopi Gayo"), update_mask=mask),
        metadata=ADMIN,
    )
    explicit = await failure(
        stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(id=other.id, slug="kopi-gayo"), update_mask=FieldMask(paths=["slug"])
            ),
            metadata=ADMIN,
        )
    )

    assert numbered.slug == "kopi-gayo-2"
    assert renamed.product.slug == "kopi-gayo-3"
    assert (same.product.slug, same.product.version) == ("kopi-gayo-2", numbered.version)
    assert explicit == (grpc.StatusCode.ALREADY_EXISTS, "SLUG_TAKEN", ["product.slug"])


async def test_a_sku_missing_an_option_is_refused_naming_the_field(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop_id = new_shop()
    request = new_product_request(shop_id, category.id)
    del request.skus[1].option_values["Ukuran"]

    code, reason, fields = await failure(stub.CreateProduct(request, metadata=ADMIN))

    assert (code, reason, fields) == (INVALID, "SKU_OPTIONS_MISMATCH", ["skus[1].option_values"])
    assert await rows_of_shop(database, shop_id) == (0, 0)


@pytest.mark.parametrize("amount", [0, -5_000, 100_000_000_001, 2**62])
async def test_absurd_or_negative_prices_are_refused(stub: Stub, category: pb.Category, amount: int) -> None:
    request = new_product_request(new_shop(), category.id)
    request.skus[2].price.amount = amount

    code, reason, fields = await failure(stub.CreateProduct(request, metadata=ADMIN))

    assert (code, reason, fields) == (INVALID, "PRICE_OUT_OF_RANGE", ["skus[2].price.amount"])


async def test_every_violation_is_reported_at_once(stub: Stub, category: pb.Category) -> None:
    request = new_product_request(
        new_shop(), category.id, title="ab", weight_grams=0, image_urls=["ftp://x/y.jpg"]
    )
    request.skus[0].price.currency = "USD"

    code, reason, fields = await failure(stub.CreateProduct(request, metadata=ADMIN))

    assert (code, reason) == (INVALID, "VALIDATION_FAILED")
    assert set(fields) == {"title", "weight_grams", "image_urls[0]", "skus[0].price.currency"}


@pytest.mark.parametrize(
    "text", ["\u200b\u200c\u200d\u2060\ufeff", "Kaos \u202eSOLOP", "\u2066Kaos\u2069 Polos"]
)
async def test_invisible_or_bidi_text_in_names_is_refused_with_the_fields_reason(
    stub: Stub, category: pb.Category, database: Database, text: str
) -> None:
    shop_id = new_shop()
    title = await failure(
        stub.CreateProduct(new_product_request(shop_id, category.id, title=text, slug="kaos"), metadata=ADMIN)
    )
    option = new_product_request(shop_id, category.id)
    option.options[1].values[0] = text
    option_value = await failure(stub.CreateProduct(option, metadata=ADMIN))
    category_name = await failure(stub.CreateCategory(pb.CreateCategoryRequest(name=text), metadata=ADMIN))

    assert title == (INVALID, "INVALID_TITLE", ["title"])
    assert option_value[:2] == (INVALID, "VALIDATION_FAILED")
    assert "options[1].values[0]" in option_value[2]
    assert category_name == (INVALID, "INVALID_CATEGORY_NAME", ["name"])
    assert await rows_of_shop(database, shop_id) == (0, 0)


async def test_an_unknown_category_is_a_bad_request_on_its_field(stub: Stub) -> None:
    unknown = await failure(
        stub.CreateProduct(new_product_request(new_shop(), str(uuid.uuid4())), metadata=ADMIN)
    )
    malformed = await failure(stub.CreateProduct(new_product_request(new_shop(), "kaos"), metadata=ADMIN))

    assert unknown == (INVALID, "CATEGORY_NOT_FOUND", ["category_id"])
    assert malformed == (INVALID, "INVALID_ID", ["category_id"])


async def test_writing_without_a_token_is_unauthenticated(stub: Stub, category: pb.Category) -> None:
    code, reason, _ = await failure(stub.CreateProduct(new_product_request(new_shop(), category.id)))
    bad_token = await failure(
        stub.CreateProduct(
            new_product_request(new_shop(), category.id), metadata=(("authorization", "Bearer nope"),)
        )
    )

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")
    assert bad_token[:2] == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


# --- idempotency --------------------------------------------------------------------------------------------


async def test_a_retried_create_with_the_same_key_replays_the_first_answer(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop_id = new_shop()
    request = new_product_request(shop_id, category.id)
    metadata = (*ADMIN, ("idempotency-key", f"key-{uuid.uuid4()}"))

    first = (await stub.CreateProduct(request, metadata=metadata)).product
    again = (await stub.CreateProduct(request, metadata=metadata)).product
    request.title = "Kaos Polos Lain Lagi"
    _, reason, _ = await failure(stub.CreateProduct(request, metadata=metadata))

    assert again == first
    # The status code is the platform's choice (toko.platform.idempotency); the reason is the contract.
    assert reason == "IDEMPOTENCY_KEY_REUSED"
    assert await rows_of_shop(database, shop_id) == (1, 4)


# --- listing ------------------------------------------------------------------------------------------------


async def test_pages_of_a_listing_have_no_duplicates_and_no_gaps(stub: Stub, category: pb.Category) -> None:
    shop_id = new_shop()
    created = [
        await create(stub, new_product_request(shop_id, category.id, title=f"Kaos Polos Nomor {i}"))
        for i in range(11)
    ]

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListProducts(pb.ListProductsRequest(shop_id=shop_id, page_size=3, page_token=token))
        seen.extend(p.id for p in page.products)
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert seen == [p.id for p in reversed(created)]  # newest first
    assert pages == 4


async def all_pages(stub: Stub, request: pb.ListProductsRequest) -> list[pb.Product]:
    """Every product of a listing, page after page."""
    found: list[pb.Product] = []
    while True:
        page = await stub.ListProducts(request)
        found.extend(page.products)
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


async def test_a_listing_by_price_pages_cheapest_or_dearest_first_without_gaps(
    stub: Stub, category: pb.Category
) -> None:
    # Given eight products of a shop at four prices, two of each (ties are broken by id).
    shop_id = new_shop()
    created: list[pb.Product] = []
    for i in range(8):
        request = new_product_request(shop_id, category.id, title=f"Topi Rajut Nomor {i}")
        for sku in request.skus:
            sku.price.amount = (
                20_000 + 10_000 * ((i * 3) % 4) + (5_000 if sku.option_values["Ukuran"] == "L" else 0)
            )
        created.append(await create(stub, request))
    lowest = {p.id: min(s.price.amount for s in p.skus) for p in created}

    cheapest = await all_pages(stub, pb.ListProductsRequest(shop_id=shop_id, page_size=3, order_by="price"))
    dearest = await all_pages(
        stub, pb.ListProductsRequest(shop_id=shop_id, page_size=3, order_by="Price  DESC")
    )
    newest = await all_pages(stub, pb.ListProductsRequest(shop_id=shop_id, order_by="create_time desc"))

    by_price = sorted(created, key=lambda p: (lowest[p.id], p.id))
    assert [p.id for p in cheapest] == [p.id for p in by_price]
    assert [p.id for p in dearest] == [p.id for p in reversed(by_price)]
    assert [p.id for p in newest] == [p.id for p in reversed(created)]


async def test_a_bad_order_or_a_token_of_another_order_is_refused(stub: Stub, category: pb.Category) -> None:
    shop_id = new_shop()
    for i in range(2):
        await create(stub, new_product_request(shop_id, category.id, title=f"Kaus Kaki {i}"))
    by_price = pb.ListProductsRequest(shop_id=shop_id, page_size=1, order_by="price")
    token = (await stub.ListProducts(by_price)).next_page_token

    unknown = await failure(stub.ListProducts(pb.ListProductsRequest(order_by="popularity")))
    other_order = await failure(
        stub.ListProducts(pb.ListProductsRequest(shop_id=shop_id, order_by="price desc", page_token=token))
    )

    assert token
    assert unknown == (INVALID, "INVALID_ORDER_BY", ["order_by"])
    assert other_order == (INVALID, "INVALID_PAGE_TOKEN", ["page_token"])


async def test_listing_filters_by_category_subtree_status_and_price(stub: Stub) -> None:
    root = (
        await stub.CreateCategory(
            pb.CreateCategoryRequest(name=f"Elektronik {uuid.uuid4().hex[:6]}"), metadata=ADMIN
        )
    ).category
    child = (
        await stub.CreateCategory(
            pb.CreateCategoryRequest(parent_id=root.id, name="Handphone & Tablet"), metadata=ADMIN
        )
    ).category
    other = (
        await stub.CreateCategory(
            pb.CreateCategoryRequest(name=f"Dapur {uuid.uuid4().hex[:6]}"), metadata=ADMIN
        )
    ).category
    shop_id = new_shop()
    phone = await create(stub, new_product_request(shop_id, child.id, title="Case iPhone 15 Pro Silikon"))
    pan = await create(stub, new_product_request(shop_id, other.id, title="Wajan Anti Lengket 28cm"))
    draft = await create(
        stub, new_product_request(shop_id, child.id, title="Tempered Glass", status=pb.PRODUCT_STATUS_DRAFT)
    )
    cheap = new_product_request(shop_id, child.id, title="Kabel Data USB-C")
    for sku in cheap.skus:
        sku.price.amount = 15_000
    cheap_product = await create(stub, cheap)
    second_hand = await create(
        stub, new_product_request(shop_id, other.id, title="Kamera Bekas Mulus", condition=pb.CONDITION_USED)
    )

    async def ids(**filters: object) -> list[str]:
        reply = await stub.ListProducts(pb.ListProductsRequest(**filters), metadata=ADMIN)  # type: ignore[arg-type]
        return [p.id for p in reply.products]

    assert child.path == [root.id, child.id]
    assert await ids(category_id=root.id) == [cheap_product.id, phone.id]
    assert await ids(category_id=other.id) == [second_hand.id, pan.id]
    assert await ids(shop_id=shop_id, condition=pb.CONDITION_USED) == [second_hand.id]
    assert await ids(category_id=root.id, condition=pb.CONDITION_NEW) == [cheap_product.id, phone.id]
    assert await ids(shop_id=shop_id, status=pb.PRODUCT_STATUS_DRAFT) == [draft.id]
    assert await ids(shop_id=shop_id, max_price=20_000) == [cheap_product.id]
    assert await ids(shop_id=shop_id, min_price=46_000, max_price=60_000) == [
        second_hand.id,
        pan.id,
        phone.id,
    ]
    assert await ids(shop_id=shop_id, min_price=60_000) == []
    code, reason, _ = await failure(
        stub.ListProducts(pb.ListProductsRequest(shop_id=shop_id, status=pb.PRODUCT_STATUS_DRAFT))
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_SHOP_OWNER")


async def test_a_malformed_or_foreign_page_token_is_refused(stub: Stub, category: pb.Category) -> None:
    shop_id = new_shop()
    for i in range(2):
        await create(stub, new_product_request(shop_id, category.id, title=f"Sendal Jepit {i}"))
    token = (await stub.ListProducts(pb.ListProductsRequest(shop_id=shop_id, page_size=1))).next_page_token

    malformed = await failure(stub.ListProducts(pb.ListProductsRequest(page_token="%%%not-a-token")))
    foreign = await failure(stub.ListProducts(pb.ListProductsRequest(shop_id=new_shop(), page_token=token)))

    assert token
    assert malformed == (INVALID, "INVALID_PAGE_TOKEN", ["page_token"])
    assert foreign == (INVALID, "INVALID_PAGE_TOKEN", ["page_token"])


async def test_a_page_size_over_the_limit_is_refused(stub: Stub) -> None:
    too_many = await failure(stub.ListProducts(pb.ListProductsRequest(page_size=101)))
    negative = await failure(stub.ListCategories(pb.ListCategoriesRequest(page_size=-1)))

    assert too_many == (INVALID, "PAGE_SIZE_OUT_OF_RANGE", ["page_size"])
    assert negative == (INVALID, "PAGE_SIZE_OUT_OF_RANGE", ["page_size"])


async def test_categories_list_as_a_tree_in_pages(stub: Stub) -> None:
    root = (
        await stub.CreateCategory(
            pb.CreateCategoryRequest(name=f"Olahraga {uuid.uuid4().hex[:6]}"), metadata=ADMIN
        )
    ).category
    children = [
        (
            await stub.CreateCategory(pb.CreateCategoryRequest(parent_id=root.id, name=name), metadata=ADMIN)
        ).category
        for name in ("Sepeda", "Fitness", "Renang")
    ]
    first = await stub.ListCategories(pb.ListCategoriesRequest(parent_id=root.id, page_size=2))
    second = await stub.ListCategories(
        pb.ListCategoriesRequest(parent_id=root.id, page_size=2, page_token=first.next_page_token)
    )
    taken = await failure(
        stub.CreateCategory(pb.CreateCategoryRequest(parent_id=root.id, name="Sepeda"), metadata=ADMIN)
    )

    assert [c.id for c in (*first.categories, *second.categories)] == [c.id for c in children]
    assert second.next_page_token == ""
    assert [c.slug for c in children] == ["sepeda", "fitness", "renang"]
    assert taken[:2] == (grpc.StatusCode.ALREADY_EXISTS, "CATEGORY_SLUG_TAKEN")


# --- update and archive -------------------------------------------------------------------------------------


async def test_update_changes_only_the_masked_fields_and_keeps_kept_sku_ids(
    stub: Stub, category: pb.Category
) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))
    kept = {sku.code: sku.id for sku in created.skus}
    change = pb.Product(id=created.id, title="Kaos Polos Premium", description="ignored, not in the mask")
    change.skus.extend(
        [
            pb.Sku(
                code="KAOS-HIT-M", option_values={"Warna": "Hitam", "Ukuran": "M"}, price={"amount": 47_500}
            ),
            pb.Sku(
                code="KAOS-PUT-L-BARU",
                option_values={"Warna": "Putih", "Ukuran": "L"},
                price={"amount": 52_000},
            ),
        ]
    )

    updated = (
        await stub.UpdateProduct(
            pb.UpdateProductRequest(product=change, update_mask=FieldMask(paths=["title", "skus"])),
            metadata=ADMIN,
        )
    ).product

    assert updated.title == "Kaos Polos Premium"
    assert updated.description == created.description
    assert updated.slug == created.slug
    assert updated.version == 2
    assert [sku.code for sku in updated.skus] == ["KAOS-HIT-M", "KAOS-PUT-L-BARU"]
    assert updated.skus[0].id == kept["KAOS-HIT-M"]
    assert updated.skus[1].id not in kept.values()
    assert (updated.min_price.amount, updated.max_price.amount) == (47_500, 52_000)


async def test_update_refuses_unknown_mask_paths_and_inconsistent_options(
    stub: Stub, category: pb.Category
) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))
    change = pb.Product(id=created.id)
    change.options.add(name="Warna", values=["Merah"])

    unknown = await failure(
        stub.UpdateProduct(
            pb.UpdateProductRequest(product=change, update_mask=FieldMask(paths=["shop_id"])), metadata=ADMIN
        )
    )
    inconsistent = await failure(
        stub.UpdateProduct(
            pb.UpdateProductRequest(product=change, update_mask=FieldMask(paths=["options"])), metadata=ADMIN
        )
    )

    assert unknown == (INVALID, "INVALID_UPDATE_MASK", ["update_mask.paths"])
    assert inconsistent[:2] == (INVALID, "SKU_OPTIONS_MISMATCH")
    assert inconsistent[2][0] == "product.skus[0].option_values"


async def test_archiving_twice_is_harmless_and_an_archived_product_cannot_change(
    stub: Stub, category: pb.Category
) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))

    first = (await stub.ArchiveProduct(pb.ArchiveProductRequest(id=created.id), metadata=ADMIN)).product
    second = (await stub.ArchiveProduct(pb.ArchiveProductRequest(id=created.id), metadata=ADMIN)).product
    readable = (await stub.GetProduct(pb.GetProductRequest(id=created.id))).product
    code, reason, _ = await failure(
        stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(id=created.id, title="Hidup Lagi"), update_mask=FieldMask(paths=["title"])
            ),
            metadata=ADMIN,
        )
    )

    assert first.status == pb.PRODUCT_STATUS_ARCHIVED
    assert second == first
    assert first.version == 2
    assert readable.status == pb.PRODUCT_STATUS_ARCHIVED
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PRODUCT_ARCHIVED")


# --- SKUs ---------------------------------------------------------------------------------------------------


async def test_batch_get_skus_answers_in_the_order_asked_leaving_unknown_ids_out(
    stub: Stub, category: pb.Category
) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))
    wanted = [created.skus[3].id, str(uuid.uuid4()), created.skus[0].id]

    views = (await stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=wanted))).skus
    too_many = await failure(
        stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=[str(uuid.uuid4()) for _ in range(101)]))
    )
    malformed = await failure(stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=[created.skus[0].id, "x"])))

    assert [v.sku.id for v in views] == [created.skus[3].id, created.skus[0].id]
    assert views[0].sku == created.skus[3]
    assert views[0].product_id == created.id
    assert views[0].product_title == created.title
    assert views[0].shop_id == created.shop_id
    assert views[0].product_status == pb.PRODUCT_STATUS_ACTIVE
    assert views[0].weight_grams == 200
    assert views[0].dimensions == pb.Dimensions(length_mm=300, width_mm=250, height_mm=20)
    assert views[0].image_url == "https://img.example.com/kaos.jpg"
    assert too_many[:2] == (INVALID, "TOO_MANY_IDS")
    assert malformed == (INVALID, "INVALID_ID", ["ids[1]"])


# --- events and cache ---------------------------------------------------------------------------------------


async def test_events_reach_jetstream(
    stub: Stub, category: pb.Category, infrastructure: InfraEndpoints
) -> None:
    client = await nats.connect(infrastructure.nats_url)
    received: asyncio.Queue[EventEnvelope] = asyncio.Queue()

    async def collect(message: nats.aio.msg.Msg) -> None:
        await received.put(EventEnvelope.FromString(message.data))

    subscription = await client.subscribe("toko.product.>", cb=collect)
    try:
        created = await create(stub, new_product_request(new_shop(), category.id))
        await stub.ArchiveProduct(pb.ArchiveProductRequest(id=created.id), metadata=ADMIN)
        seen: dict[str, EventEnvelope] = {}
        async with asyncio.timeout(10):
            while {"toko.product.v1.ProductCreated", "toko.product.v1.ProductArchived"} - seen.keys():
                envelope = await received.get()
                if envelope.subject == created.id:
                    seen[envelope.type] = envelope
    finally:
        await subscription.unsubscribe()
        await client.close()

    event = events_pb2.ProductCreated()
    assert seen["toko.product.v1.ProductCreated"].payload.Unpack(event)
    assert event.product == created
    assert seen["toko.product.v1.ProductCreated"].source == "product"


async def test_a_read_product_is_cached_and_an_update_is_visible_at_once(
    stub: Stub, category: pb.Category, infrastructure: InfraEndpoints
) -> None:
    created = await create(stub, new_product_request(new_shop(), category.id))
    valkey = Redis.from_url(infrastructure.redis_url)
    key = f"toko:product:product:{created.id}"
    try:
        await stub.GetProduct(pb.GetProductRequest(id=created.id))
        cached = await valkey.exists(key)
        again = (await stub.GetProduct(pb.GetProductRequest(id=created.id))).product
        await stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(id=created.id, title="Kaos Polos Edisi Baru"),
                update_mask=FieldMask(paths=["title"]),
            ),
            metadata=ADMIN,
        )
        after = (await stub.GetProduct(pb.GetProductRequest(id=created.id))).product
    finally:
        await valkey.aclose()

    assert cached == 1
    assert again == created
    assert after.title == "Kaos Polos Edisi Baru"
    assert after.version == 2
