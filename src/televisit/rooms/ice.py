"""ICE servers for a room's participants, with coturn `use-auth-secret` credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from televisit.core.config import Settings


def turn_credentials(secret: str, user_id: uuid.UUID | str, expires_at: int) -> tuple[str, str]:
    """coturn's REST-API scheme: username `<unix expiry>:<user id>`, HMAC-SHA1 of it, base64."""
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, *, user_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret:
        expiry = int(now.timestamp()) + settings.turn_credential_ttl
        # Unwrapped only here: the SecretStr keeps it out of every repr and traceback.
        username, credential = turn_credentials(settings.turn_secret.get_secret_value(), user_id,
                                                expiry)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers
