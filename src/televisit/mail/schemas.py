"""What each kind of message carries in its outbox row: the moment it describes, not its text.

The text is made when the message is sent (compose.py), from these payloads and the current names
and addresses. A payload holds what must not change after the fact (the visit's time as of this
message, its iCalendar SEQUENCE) and nothing secret: a future message that needs a secret (a
password-reset link) keeps a reference here and derives the secret when it is composed.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from televisit.mail.models import MailKind
from televisit.users.models import Role


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitSnapshot(Payload):
    """The visit as of this message: a calendar entry of SEQUENCE n has the time of revision n."""

    sequence: int
    starts_at: datetime
    duration_minutes: int


class InvitationMail(VisitSnapshot):
    pass


class ChangeMail(VisitSnapshot):
    previous_starts_at: datetime
    previous_duration_minutes: int


class CancellationMail(VisitSnapshot):
    cancelled_by: Role


class ReminderMail(VisitSnapshot):
    offset_minutes: int


class MessageNoticeMail(Payload):
    sender_id: uuid.UUID
    # The newest message of the burst: no email if the recipient was connected after it.
    last_message_at: datetime


class LinkMail(Payload):
    """A message that is its template and one link (join links, password reset, "someone tried to
    register with your address"): adding such a kind is a MailKind member, `templates/<kind>.txt`
    and `.html`, and one `enqueue(..., payload=LinkMail(link_path=...))`. The path may carry a
    one-time token: the payload is blanked once the row is finished, so it does not outlive the
    email in the database."""

    link_path: str
    link_label: str = "Open Televisit"
    # How long the link works, for the text ("within 30 minutes"); None when it does not expire.
    valid_minutes: int | None = None


class PasswordMail(Payload):
    """A password link (reset, or an invited patient's first): the reset's id, from which its
    token is derived when the email is composed (auth/reset.py). No token is stored in the row, so
    none can reach a log of the SQL that writes it."""

    reset_id: uuid.UUID
    valid_minutes: int


PAYLOADS: dict[str, type[Payload]] = {
    MailKind.invitation: InvitationMail,
    MailKind.change: ChangeMail,
    MailKind.cancellation: CancellationMail,
    MailKind.reminder: ReminderMail,
    MailKind.message_notice: MessageNoticeMail,
    MailKind.password_reset: PasswordMail,
    MailKind.set_password: PasswordMail,
}


def payload_type(kind: str) -> type[Payload]:
    """Kinds not listed carry a LinkMail."""
    return PAYLOADS.get(kind, LinkMail)


def payload_of(kind: str, data: dict[str, object]) -> Payload:
    return payload_type(kind).model_validate(data)
