"""Join links: the link in a visit's emails that opens that visit, and nothing else, without a
password (docs/security.md, "Join links and password reset").

- The token is `HMAC(key, link id)` with a key derived from the secret key, so every email about
  the visit (invitation, change, reminders, message notices) can carry it again without it being
  stored anywhere: the row keeps only the token's keyed digest, to find the link. A database leak
  alone yields no working link; changing TELEVISIT_SECRET_KEY ends them all, like the sessions.
- It travels after a `#` (`PUBLIC_URL/join#<token>`): a fragment never reaches a server, its
  logs or a Referer. The web page drops it from the address bar and posts it in a body.
- It works from the booking until the visit's end plus the messaging window, from any number of
  devices; cancelling or moving the visit revokes it (a move issues a new one).
- Opening it makes a session scoped to the visit (`AuthSession.appointment_id`): auth/deps.py and
  the WebSocket refuse everything else.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth.models import AuthSession, JoinLink
from televisit.auth.repository import AuthSessionRepository, JoinLinkRepository
from televisit.core.config import Settings
from televisit.core.errors import AppError, NotFound
from televisit.core.security import derived_token, token_digest
from televisit.core.text import strip_controls
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import SessionRevoked
from televisit.users import service as users_service
from televisit.users.models import Role, User

JOIN_PATH = "/join"
RevokeReason = Literal["cancelled", "moved"]


class JoinLinkInvalid(NotFound):
    code = "join_link_invalid"
    message = ("This link does not work. Open the whole link from your email again, or sign in "
               "with your password.")


class JoinLinkGone(AppError):
    status_code = 410
    code = "join_link_expired"
    message = ("This link has expired: the visit and its conversation are over. Sign in to see your "
               "visits, or contact your clinic.")


class JoinLinkRevoked(JoinLinkGone):
    code = "join_link_revoked"
    message = "This visit has changed, so this link no longer works."
    REASONS: ClassVar[Mapping[str, str]] = MappingProxyType({
        "moved": "This visit was moved to another time, so this link no longer works. Use the link "
                 "in the newest email about it.",
        "cancelled": "This visit was cancelled, so its link no longer works. Contact your clinic to "
                     "book a new one.",
    })

    def __init__(self, reason: str | None) -> None:
        super().__init__(self.REASONS.get(reason or "", self.message), details={"reason": reason})


def token_for(settings: Settings, link_id: uuid.UUID) -> str:
    """The link's token (43 URL-safe characters), the same every time it is asked for."""
    return derived_token(settings.secret_key, "join-link", link_id.bytes)


def _digest(settings: Settings, token: str) -> str:
    return token_digest(settings.secret_key, "join:" + token)


def url_for(settings: Settings, link: JoinLink) -> str:
    return f"{settings.effective_public_url}{JOIN_PATH}#{token_for(settings, link.id)}"


async def issue(session: AsyncSession, *, settings: Settings, appointment_id: uuid.UUID,
                patient_id: uuid.UUID, ends_at: datetime, now: datetime) -> JoinLink:
    """A new link to the visit for its patient, in the caller's transaction (a booking or a move,
    recorded as such), working until the visit's end plus the messaging window."""
    link_id = uuid.uuid4()
    return await JoinLinkRepository(session).add(JoinLink(
        id=link_id, appointment_id=appointment_id, patient_id=patient_id,
        token_digest=_digest(settings, token_for(settings, link_id)), created_at=now,
        expires_at=ends_at + timedelta(seconds=settings.messaging_window),
    ))


async def revoke(session: AsyncSession, *, appointment_id: uuid.UUID, patient_id: uuid.UUID,
                 reason: RevokeReason, now: datetime) -> None:
    """The visit was cancelled or moved: its links stop working. A cancelled visit also ends the
    sessions opened from them (nothing is left to do there); a moved one keeps them (same visit,
    same person: the patient waiting on its page is not thrown out), and the new link comes by email."""
    await JoinLinkRepository(session).revoke_for(appointment_id, at=now, reason=reason)
    if reason == "cancelled":
        ended = await AuthSessionRepository(session).revoke_scoped(patient_id, appointment_id, at=now)
        for session_id in ended:
            queue_event(session, user_channel(patient_id), SessionRevoked(session_id=session_id,
                                                                          reason="revoked"))


async def current_url(session: AsyncSession, *, settings: Settings, appointment_id: uuid.UUID,
                      patient_id: uuid.UUID, now: datetime) -> str | None:
    """The working join link of the visit, for an email composed now; None when there is none."""
    link = await JoinLinkRepository(session).live_for(appointment_id, patient_id, now=now)
    return url_for(settings, link) if link is not None else None


@dataclass(frozen=True)
class Joined:
    token: str
    session: AuthSession
    user: User
    appointment_id: uuid.UUID


async def open_link(session: AsyncSession, *, settings: Settings, token: str, client_ip: str,
                    user_agent: str | None, now: datetime) -> Joined:
    """A new session scoped to the link's visit. 404 for an unknown link, 410 for an expired or
    revoked one (each says what to do)."""
    link = await JoinLinkRepository(session).get_by_digest(_digest(settings, token)) if token else None
    user = await users_service.get_active(session, user_id=link.patient_id) if link else None
    if link is None or user is None or user.role != Role.patient:
        # An unknown token names no object: like other refusals on nothing, it is not recorded
        # (a flood of made-up tokens must not grow the trail).
        if link is not None:
            await _refused(session, link, now=now, reason="inactive")
        raise JoinLinkInvalid()
    if link.revoked_at is not None:
        await _refused(session, link, now=now, reason=link.revoked_reason or "revoked")
        raise JoinLinkRevoked(link.revoked_reason)
    if now >= link.expires_at:
        await _refused(session, link, now=now, reason="expired")
        raise JoinLinkGone()
    bearer = secrets.token_urlsafe(32)
    auth_session = await AuthSessionRepository(session).add(AuthSession(
        user_id=user.id, token_digest=token_digest(settings.secret_key, bearer), created_at=now,
        last_seen_at=now, appointment_id=link.appointment_id,
        # Never longer than the link itself, nor than any session.
        expires_at=min(now + timedelta(seconds=settings.session_absolute_lifetime), link.expires_at),
        client_ip=client_ip[:64], user_agent=strip_controls(user_agent or "")[:256] or None,
    ))
    await audit.record(session, action=Action.join_link_open, actor=user, object_type="appointment",
                       object_id=link.appointment_id, now=now,
                       data={"session_id": auth_session.id, "link_id": link.id})
    return Joined(token=bearer, session=auth_session, user=user, appointment_id=link.appointment_id)


async def _refused(session: AsyncSession, link: JoinLink, *, now: datetime, reason: str) -> None:
    await audit.record(session, action=Action.join_link_open, actor=None, object_type="appointment",
                       object_id=link.appointment_id, now=now, outcome=Outcome.failed,
                       data={"reason": reason, "link_id": link.id})
