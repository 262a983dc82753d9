"""Conversions between the service's protobuf messages and its domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.notification.v1 import notification_pb2 as pb
from toko.services.notification.domain import Kind, Notification, Status

KIND_TO_PROTO: Mapping[Kind, pb.NotificationKind.ValueType] = {
    Kind.EMAIL_VERIFICATION: pb.NOTIFICATION_KIND_EMAIL_VERIFICATION,
    Kind.PASSWORD_RESET: pb.NOTIFICATION_KIND_PASSWORD_RESET,
    Kind.NEW_SIGN_IN: pb.NOTIFICATION_KIND_NEW_SIGN_IN,
}
STATUS_TO_PROTO: Mapping[Status, pb.NotificationStatus.ValueType] = {
    Status.PENDING: pb.NOTIFICATION_STATUS_PENDING,
    Status.SENT: pb.NOTIFICATION_STATUS_SENT,
    Status.FAILED: pb.NOTIFICATION_STATUS_FAILED,
}


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def notification_to_proto(notification: Notification) -> pb.Notification:
    """A notification on the wire, without its bodies."""
    message = pb.Notification(
        id=notification.id,
        user_id=notification.user_id,
        kind=KIND_TO_PROTO[notification.kind],
        channel=pb.CHANNEL_EMAIL,
        recipient=notification.recipient,
        language=notification.language,
        subject=notification.subject,
        status=STATUS_TO_PROTO[notification.status],
        attempts=notification.attempts,
        last_error=notification.last_error,
        create_time=timestamp(notification.created_at),
    )
    if notification.sent_at is not None:
        message.send_time.CopyFrom(timestamp(notification.sent_at))
    if notification.status is Status.PENDING and notification.next_attempt_at is not None:
        message.next_attempt_time.CopyFrom(timestamp(notification.next_attempt_at))
    return message
