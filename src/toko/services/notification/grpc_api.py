"""The gRPC servicer: request -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.notification.v1 import notification_pb2 as pb
from toko.notification.v1.notification_pb2_grpc import NotificationServiceServicer
from toko.platform.context import current_principal
from toko.services.notification import handlers
from toko.services.notification.handlers import Notifications


class NotificationServicer(NotificationServiceServicer):
    """Serves notifications over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Any
    ) -> pb.ListNotificationsResponse:
        """List an account's notifications."""
        found, next_page_token = await handlers.list_notifications(
            notifications=self._notifications,
            principal=current_principal(),
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListNotificationsResponse(notifications=found, next_page_token=next_page_token)
