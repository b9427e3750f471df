"""ICE servers for a room's participants, with coturn `use-auth-secret` credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from televisit.core.config import Settings


@dataclass(frozen=True)
class IceGrant:
    """RTCIceServer dicts, and when their TURN credentials expire (None: nothing expires)."""

    servers: list[dict[str, Any]]
    expires_at: datetime | None


def turn_credentials(secret: str, user_id: uuid.UUID | str, expires_at: int) -> tuple[str, str]:
    """coturn's REST-API scheme: username `<unix expiry>:<user id>`, HMAC-SHA1 of it, base64."""
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def credential_ttl(settings: Settings, *, room_created_at: datetime, now: datetime) -> int:
    """Seconds a TURN credential lives: the room's remaining time, within [min TTL, TTL].

    A credential never outlives the room by much (a leaked one is worth little), and a client in a
    long room refreshes it (`ice.refresh`) instead of holding one for the whole call.
    """
    ends = room_created_at + timedelta(seconds=settings.room_max_duration)
    remaining = int((ends - now).total_seconds())
    return min(settings.turn_credential_ttl, max(settings.turn_credential_min_ttl, remaining))


# The pre-call check's TURN test gathers one relay candidate within seconds: its credentials
# need not live longer than this.
NETWORK_TEST_TTL = 120


def room_ice_servers(settings: Settings, *, user_id: uuid.UUID, room_created_at: datetime,
                     now: datetime) -> IceGrant:
    """STUN for anyone in the room, TURN with credentials for this participant only."""
    return ice_grant(settings, user_id=user_id, now=now,
                     ttl=credential_ttl(settings, room_created_at=room_created_at, now=now))


def network_test_ice_servers(settings: Settings, *, user_id: uuid.UUID, now: datetime) -> IceGrant:
    """The same servers for the pre-call check (no room yet), with credentials of a short life."""
    return ice_grant(settings, user_id=user_id, now=now, ttl=NETWORK_TEST_TTL)


def ice_grant(settings: Settings, *, user_id: uuid.UUID, now: datetime, ttl: int) -> IceGrant:
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    expires_at = None
    if settings.turn_urls and settings.turn_secret:
        expiry = int(now.timestamp()) + ttl
        # Unwrapped only here: the SecretStr keeps it out of every repr and traceback.
        username, credential = turn_credentials(settings.turn_secret.get_secret_value(), user_id,
                                                expiry)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
        expires_at = datetime.fromtimestamp(expiry, UTC)
    return IceGrant(servers=servers, expires_at=expires_at)
