"""Sign-ins: telling an account's owner that it was signed in to from a browser not seen before.

The login pages decide whether the browser is new (its device cookie,
``toko.services.auth.http.security.KnownBrowsers``); this raises
``SignedInFromNewBrowser`` through the outbox, for the notification service to mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from toko.auth.v1.events_pb2 import SignedInFromNewBrowser
from toko.services.auth.handlers.common import SOURCE, Provider
from toko.services.auth.repository.clients import ClientRepository

USER_AGENT_MAX_LENGTH = 200


@dataclass(frozen=True)
class NewBrowserSignIn:
    """An account that signed in with its password from a browser it had not used."""

    user_id: str
    email: str
    language: str
    # The client the sign-in was for ("" when the login page was opened on its own).
    client_id: str
    ip_address: str
    user_agent: str


async def signed_in_from_new_browser(*, provider: Provider, sign_in: NewBrowserSignIn) -> None:
    """Raise ``SignedInFromNewBrowser``, naming the client the sign-in was for."""
    now = provider.clock()
    sign_in_time = Timestamp()
    sign_in_time.FromDatetime(now)
    async with provider.database.unit_of_work(SOURCE) as uow:
        client = (
            await ClientRepository(uow.session).get_client(sign_in.client_id) if sign_in.client_id else None
        )
        uow.publish(
            SignedInFromNewBrowser(
                user_id=sign_in.user_id,
                email=sign_in.email,
                language=sign_in.language,
                client_id=client.client_id if client else "",
                client_name=client.name if client else "",
                ip_address=sign_in.ip_address,
                user_agent=sign_in.user_agent[:USER_AGENT_MAX_LENGTH],
                sign_in_time=sign_in_time,
            ),
            subject=sign_in.user_id,
        )
        await uow.commit()
