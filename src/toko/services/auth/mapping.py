"""Conversions between the auth service's protobuf messages and its domain objects."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from toko.auth.v1 import auth_pb2 as pb
from toko.services.auth.domain import Client, ClientSpec, ClientType

_TYPE_TO_PROTO = {
    ClientType.PUBLIC: pb.CLIENT_TYPE_PUBLIC,
    ClientType.CONFIDENTIAL: pb.CLIENT_TYPE_CONFIDENTIAL,
}
_TYPE_FROM_PROTO = {int(number): kind for kind, number in _TYPE_TO_PROTO.items()}


def client_to_proto(client: Client) -> pb.OAuthClient:
    """A registered client as the API shows it (never its secret)."""
    created = Timestamp()
    created.FromDatetime(client.created_at)
    return pb.OAuthClient(
        client_id=client.client_id,
        name=client.name,
        client_type=_TYPE_TO_PROTO[client.client_type],
        redirect_uris=client.redirect_uris,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        allowed_scopes=client.allowed_scopes,
        grant_types=client.grant_types,
        first_party=client.first_party,
        roles=client.roles,
        create_time=created,
    )


def spec_from_proto(client: pb.OAuthClient) -> ClientSpec:
    """What a registration request asks for (an unspecified or unknown type is None: the rules refuse it)."""
    return ClientSpec(
        name=client.name,
        client_type=_TYPE_FROM_PROTO.get(client.client_type),
        redirect_uris=tuple(client.redirect_uris),
        post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
        allowed_scopes=tuple(client.allowed_scopes),
        grant_types=tuple(client.grant_types),
        first_party=client.first_party,
        roles=tuple(client.roles),
    )
