"""Who did what, when, from where: an append-only trail of security- and care-relevant actions.

Rows are only ever inserted. The ORM refuses to change or delete one (below), the repository has
no method that would, and the database refuses it too (triggers made by migration 0004).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class Outcome(enum.StrEnum):
    success = "success"
    denied = "denied"  # refused: another person's visit, a role that may not, ...
    failed = "failed"  # tried and did not work: a wrong password, an expired session


class Action(enum.StrEnum):
    """Every action the trail records; a new one is added here (the API documents the list)."""

    sign_in = "auth.sign_in"
    sign_out = "auth.sign_out"
    session_expired = "auth.session_expired"
    mfa_enroll = "auth.mfa.enroll"
    mfa_enable = "auth.mfa.enable"
    mfa_disable = "auth.mfa.disable"
    account_update = "account.update"
    appointment_list = "appointment.list"
    appointment_read = "appointment.read"
    appointment_book = "appointment.book"
    appointment_cancel = "appointment.cancel"
    appointment_change = "appointment.change"
    appointment_export = "appointment.export"
    appointment_check_in = "appointment.check_in"
    appointment_check_out = "appointment.check_out"
    appointment_events_read = "appointment.events.read"
    appointment_next_free = "appointment.next_free"
    chat_read = "chat.read"
    chat_send = "chat.send"
    chat_mark_read = "chat.mark_read"
    call_start = "call.start"
    call_read = "call.read"
    call_join = "call.join"
    call_leave = "call.leave"
    call_end = "call.end"
    call_decline = "call.decline"
    call_quality_report = "call.quality_report"
    admin_access = "admin.access"
    admin_users_list = "admin.users.list"
    admin_users_read = "admin.users.read"
    admin_users_create = "admin.users.create"
    admin_users_deactivate = "admin.users.deactivate"
    admin_users_reactivate = "admin.users.reactivate"
    admin_users_revoke_sessions = "admin.users.revoke_sessions"
    admin_users_clear_throttling = "admin.users.clear_throttling"
    admin_users_reset_mfa = "admin.users.reset_mfa"
    admin_audit_list = "admin.audit.list"
    admin_audit_export = "admin.audit.export"
    join_link_open = "auth.join"
    scope_limited = "auth.scope_limited"
    password_reset_request = "auth.password_reset.request"  # noqa: S105 - an action's name
    password_reset = "auth.password_reset"  # noqa: S105 - an action's name
    registration_existing = "auth.register.existing"
    account_invite = "account.invite"
    push_subscribe = "push.subscribe"
    push_unsubscribe = "push.unsubscribe"


class AuditEvent(UUIDPrimaryKey, Base):
    __tablename__ = "audit_events"
    __insert_only__ = True  # core/db.py INSERT_ONLY: `audit.record` sets its id
    __table_args__ = (
        # Newest first, page after page: (occurred_at, id) is the keyset.
        Index("ix_audit_events_occurred_at_id", "occurred_at", "id"),
    )

    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No foreign key: the trail outlives accounts, and a cascade would have to rewrite it.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    actor_role: Mapped[str | None] = mapped_column(String(16), default=None)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(256), default=None)
    # Filters and counts, reasons, related ids; never a body, a password or a token.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class AppendOnly(RuntimeError):
    """Someone tried to change or delete an audit record."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_args: object) -> None:
    raise AppendOnly("audit events are never changed")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_args: object) -> None:
    raise AppendOnly("audit events are never deleted")
