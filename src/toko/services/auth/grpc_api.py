"""The AuthService servicer (the admin API): request -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from toko.auth.v1 import auth_pb2 as pb
from toko.auth.v1 import auth_pb2_grpc
from toko.platform.context import current_principal
from toko.platform.errors import InvalidArgument
from toko.services.auth import handlers
from toko.services.auth.domain import Client, ClientSpec, ClientType
from toko.services.auth.error_codes import ErrorCode
from toko.services.auth.handlers import Provider

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
    """What a registration request asks for."""
    kind = _TYPE_FROM_PROTO.get(client.client_type)
    if kind is None:
        raise InvalidArgument.field(
            "client.client_type", "must be public or confidential", ErrorCode.INVALID_CLIENT_TYPE
        )
    return ClientSpec(
        name=client.name,
        client_type=kind,
        redirect_uris=tuple(client.redirect_uris),
        post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
        allowed_scopes=tuple(client.allowed_scopes),
        grant_types=tuple(client.grant_types),
        first_party=client.first_party,
        roles=tuple(client.roles),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    """Serves the client registry and key rotation; access rules are enforced by the platform interceptor."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    async def RegisterClient(
        self, request: pb.RegisterClientRequest, context: Any
    ) -> pb.RegisterClientResponse:
        """Register a client."""
        client, secret = await handlers.register_client(
            provider=self._provider, spec=spec_from_proto(request.client), principal=current_principal()
        )
        return pb.RegisterClientResponse(client=client_to_proto(client), client_secret=secret)

    async def GetClient(self, request: pb.GetClientRequest, context: Any) -> pb.GetClientResponse:
        """Return a client."""
        client = await handlers.get_client(
            provider=self._provider, client_id=request.client_id, principal=current_principal()
        )
        return pb.GetClientResponse(client=client_to_proto(client))

    async def ListClients(self, request: pb.ListClientsRequest, context: Any) -> pb.ListClientsResponse:
        """List clients."""
        clients, token = await handlers.list_clients(
            provider=self._provider,
            page_size=request.page_size,
            page_token=request.page_token,
            principal=current_principal(),
        )
        return pb.ListClientsResponse(clients=[client_to_proto(c) for c in clients], next_page_token=token)

    async def DeleteClient(self, request: pb.DeleteClientRequest, context: Any) -> pb.DeleteClientResponse:
        """Delete a client and revoke its tokens."""
        await handlers.delete_client(
            provider=self._provider, client_id=request.client_id, principal=current_principal()
        )
        return pb.DeleteClientResponse()

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Any
    ) -> pb.RotateSigningKeyResponse:
        """Rotate the signing key."""
        kid, published = await handlers.rotate_signing_key(
            provider=self._provider, principal=current_principal()
        )
        return pb.RotateSigningKeyResponse(kid=kid, published_kids=published)
