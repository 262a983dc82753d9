"""Pure parts of the event and idempotency plumbing: payload decoding and request digests."""

from __future__ import annotations

import pytest
from google.protobuf.wrappers_pb2 import StringValue

from toko.platform.consumer import PoisonEvent, unpack_payload
from toko.platform.events import PendingEvent
from toko.platform.idempotency import request_hash


def test_a_payload_unpacks_into_its_own_message_class() -> None:
    envelope = PendingEvent(source="product", subject="p-1", message=StringValue(value="x")).envelope()

    payload = unpack_payload(envelope)

    assert isinstance(payload, StringValue)
    assert payload.value == "x"


def test_a_payload_of_an_unknown_type_is_poison() -> None:
    envelope = PendingEvent(source="product", subject="p-1", message=StringValue(value="x")).envelope()
    envelope.payload.type_url = "type.googleapis.com/toko.nowhere.v1.Gone"

    with pytest.raises(PoisonEvent, match=r"toko\.nowhere\.v1\.Gone"):
        unpack_payload(envelope)


def test_request_hash_tells_requests_apart_and_ignores_how_they_were_built() -> None:
    assert request_hash(StringValue(value="a")) == request_hash(StringValue.FromString(b"\n\x01a"))
    assert request_hash(StringValue(value="a")) != request_hash(StringValue(value="b"))
    assert request_hash(b"raw") == request_hash(b"raw")
