"""The HTTP/JSON edge of toko: transcodes REST calls to the gRPC services, generically from descriptors."""

from toko.gateway.app import Gateway, create_app
from toko.gateway.auth import Authenticator
from toko.gateway.settings import GatewaySettings

__all__ = ["Authenticator", "Gateway", "GatewaySettings", "create_app"]
