"""The AuthService servicer (the admin API): request -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.auth.v1 import auth_pb2 as pb
from toko.auth.v1 import auth_pb2_grpc
from toko.platform.context import current_principal
from toko.services.auth.handlers import Provider, clients, signing_keys
from toko.services.auth.mapping import client_to_proto, spec_from_proto


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    """Serves the client registry and key rotation; access rules are enforced by the platform interceptor."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    async def RegisterClient(
        self, request: pb.RegisterClientRequest, context: Any
    ) -> pb.RegisterClientResponse:
        """Register a client."""
        client, secret = await clients.register_client(
            provider=self._provider, spec=spec_from_proto(request.client), principal=current_principal()
        )
        return pb.RegisterClientResponse(client=client_to_proto(client), client_secret=secret)

    async def GetClient(self, request: pb.GetClientRequest, context: Any) -> pb.GetClientResponse:
        """Return a client."""
        client = await clients.get_client(
            provider=self._provider, client_id=request.client_id, principal=current_principal()
        )
        return pb.GetClientResponse(client=client_to_proto(client))

    async def ListClients(self, request: pb.ListClientsRequest, context: Any) -> pb.ListClientsResponse:
        """List clients."""
        page = await clients.list_clients(
            provider=self._provider,
            page_size=request.page_size,
            page_token=request.page_token,
            principal=current_principal(),
        )
        return pb.ListClientsResponse(
            clients=[client_to_proto(c) for c in page.items], next_page_token=page.next_page_token
        )

    async def DeleteClient(self, request: pb.DeleteClientRequest, context: Any) -> pb.DeleteClientResponse:
        """Delete a client and revoke its tokens."""
        await clients.delete_client(
            provider=self._provider, client_id=request.client_id, principal=current_principal()
        )
        return pb.DeleteClientResponse()

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Any
    ) -> pb.RotateSigningKeyResponse:
        """Rotate the signing key."""
        kid, published = await signing_keys.rotate_signing_key(
            provider=self._provider, principal=current_principal()
        )
        return pb.RotateSigningKeyResponse(kid=kid, published_kids=published)
