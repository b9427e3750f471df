"""The browser's `PushSubscription.toJSON()`, and what a push carries to the service worker."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PushKeys(BaseModel):
    # base64url, as browsers give them: a 65-byte P-256 point and a 16-byte secret.
    p256dh: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(min_length=16, max_length=32, pattern=r"^[A-Za-z0-9_-]+=*$")


class PushSubscriptionCreate(BaseModel):
    """Exactly what `PushSubscription.toJSON()` returns in the browser."""

    endpoint: str = Field(min_length=12, max_length=2048)
    expirationTime: int | None = Field(default=None, ge=0)
    keys: PushKeys


class PushSubscriptionDelete(BaseModel):
    endpoint: str = Field(min_length=12, max_length=2048)


class PushSubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint: str


class VapidPublicKey(BaseModel):
    """The `applicationServerKey` for `pushManager.subscribe` (base64url, uncompressed P-256)."""

    public_key: str | None = Field(description="null: this server sends no pushes")


# -- what a push carries (encrypted for the browser, RFC 8291); read by web/public/sw.js --------

class CallPush(BaseModel):
    kind: Literal["call"] = "call"
    room_id: uuid.UUID
    appointment_id: uuid.UUID
    caller_name: str
    caller_role: str


class CallEndedPush(BaseModel):
    """The ringing stopped (the caller hung up, or the call was answered elsewhere)."""

    kind: Literal["call_ended"] = "call_ended"
    room_id: uuid.UUID
    appointment_id: uuid.UUID


class MessagePush(BaseModel):
    """A new message, without its text: the app fetches it once signed in."""

    kind: Literal["message"] = "message"
    appointment_id: uuid.UUID


Push = CallPush | CallEndedPush | MessagePush
