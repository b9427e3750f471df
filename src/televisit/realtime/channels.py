"""Broker channel names: `scope:id`."""

from __future__ import annotations

import uuid


def user_channel(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def room_channel(room_id: uuid.UUID | str) -> str:
    return f"room:{room_id}"


# Every instance listens here for changes to sessions and users (`auth/cache.py`).
AUTH_CHANNEL = "auth"
