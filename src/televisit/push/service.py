"""Subscription rules: only endpoints on known push services, one row per browser, gone on sign-out."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit import service as audit
from televisit.audit.models import Action
from televisit.core.config import Settings
from televisit.core.errors import NotFound, Unprocessable
from televisit.push import vapid
from televisit.push.models import PushSubscription
from televisit.push.repository import PushRepository
from televisit.push.schemas import PushSubscriptionCreate
from televisit.users.models import User

LOOPBACK = "127.0.0.1"


class EndpointNotAllowed(Unprocessable):
    code = "push_endpoint_not_allowed"
    message = "This push service is not one this server sends to."


class PushKeysInvalid(Unprocessable):
    code = "push_keys_invalid"
    message = "The subscription's keys are not valid."


class PushOff(NotFound):
    code = "push_off"
    message = "This server does not send push notifications."


def digest(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_endpoint(endpoint: str, settings: Settings) -> None:
    """A subscription's endpoint is user input: the server will post to it, so it must be an
    https URL on an allowed push service (no user info, the default port): anything else would let
    anyone make the server call internal addresses. Tests may allow http on 127.0.0.1."""
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise EndpointNotAllowed(details={"reason": "not a URL"}) from None
    loopback = settings.push_allow_loopback and host == LOOPBACK
    if parts.scheme != "https" and not (loopback and parts.scheme == "http"):
        raise EndpointNotAllowed(details={"reason": "not https"})
    if parts.username is not None or parts.password is not None or any(c.isspace() for c in endpoint):
        raise EndpointNotAllowed(details={"reason": "not a push service URL"})
    if port not in (None, 443) and not loopback:
        raise EndpointNotAllowed(details={"reason": "not the https port"})
    if not host_allowed(host, settings.push_allowed_hosts):
        raise EndpointNotAllowed(details={"reason": "host not allowed",
                                          "allowed_hosts": settings.push_allowed_hosts})


def _check_keys(body: PushSubscriptionCreate) -> None:
    try:
        point = vapid.b64url_decode(body.keys.p256dh)
        secret = vapid.b64url_decode(body.keys.auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise PushKeysInvalid() from None
    if len(point) != 65 or len(secret) != 16:
        raise PushKeysInvalid()


def public_key(settings: Settings) -> str | None:
    key = vapid.private_key(settings)
    return vapid.public_key(key) if key is not None else None


async def subscribe(session: AsyncSession, *, user: User, session_id: uuid.UUID,
                    body: PushSubscriptionCreate, settings: Settings, now: datetime) -> PushSubscription:
    """Store (or take over) this browser's subscription for this person and sign-in."""
    if not settings.push_enabled:
        raise PushOff()
    check_endpoint(body.endpoint, settings)
    _check_keys(body)
    repo = PushRepository(session)
    key = digest(body.endpoint)
    row = await repo.by_digest(key)
    if row is None:
        row = await repo.add(PushSubscription(
            user_id=user.id, session_id=session_id, endpoint=body.endpoint, endpoint_digest=key,
            p256dh=body.keys.p256dh, auth=body.keys.auth, created_at=now))
    else:  # the same browser again (new keys, a new sign-in, or another person on a shared device)
        row.user_id, row.session_id = user.id, session_id
        row.p256dh, row.auth = body.keys.p256dh, body.keys.auth
        await session.flush()
    mine = await repo.of_user(user.id)
    extra = [s.id for s in mine if s.id != row.id][: max(len(mine) - settings.push_max_per_user, 0)]
    await repo.delete_ids(extra)
    await audit.record(session, action=Action.push_subscribe, actor=user, object_type="push_subscription",
                       object_id=row.id, now=now, data={"dropped_oldest": len(extra)})
    return row


async def unsubscribe(session: AsyncSession, *, user: User, endpoint: str, now: datetime) -> bool:
    """Forget this person's subscription at ``endpoint``; False if there was none."""
    row = await PushRepository(session).by_digest(digest(endpoint))
    if row is None or row.user_id != user.id:
        return False
    await PushRepository(session).delete_ids([row.id])
    await audit.record(session, action=Action.push_unsubscribe, actor=user, object_type="push_subscription",
                       object_id=row.id, now=now)
    return True


async def forget_session(session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID) -> int:
    """Signing out of a device stops it ringing (auth.service calls this in the same transaction)."""
    return await PushRepository(session).delete_of_user(user_id, session_id=session_id)


async def forget_user(session: AsyncSession, *, user_id: uuid.UUID,
                      except_session_id: uuid.UUID | None = None) -> int:
    """Signing out everywhere (or deactivation, or a password reset) stops every device ringing."""
    return await PushRepository(session).delete_of_user(user_id, except_session_id=except_session_id)


async def subscriptions_of(session: AsyncSession, *, user_id: uuid.UUID) -> Sequence[PushSubscription]:
    return await PushRepository(session).of_user(user_id)


async def gone(session: AsyncSession, *, subscription_id: uuid.UUID, endpoint_digest: str) -> bool:
    """The push service answered 404/410: the browser dropped the subscription."""
    return bool(await PushRepository(session).delete_gone(subscription_id, endpoint_digest))
