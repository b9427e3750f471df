"""The closed set of client frames (a discriminated union) and the one codec for them."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError
from pydantic_core import to_json

from televisit.chat.schemas import ClientMsgId, MessageBody

MAX_REF = 64


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Annotated[str, Field(max_length=MAX_REF)] | int | None = None


class AuthFrame(_Frame):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=256)


class RoomJoin(_Frame):
    type: Literal["room.join"]
    room_id: uuid.UUID


class RoomLeave(_Frame):
    type: Literal["room.leave"]
    room_id: uuid.UUID


class Signal(_Frame):
    type: Literal["signal"]
    room_id: uuid.UUID
    data: dict[str, Any] = Field(description="Opaque SDP or ICE candidate, relayed as is.")


class MediaState(_Frame):
    type: Literal["media.state"]
    room_id: uuid.UUID
    # Strict: "yes" or 1 is a client bug to report, not a value to guess.
    audio: StrictBool
    video: StrictBool


class CallDecline(_Frame):
    type: Literal["call.decline"]
    room_id: uuid.UUID


class ChatSend(_Frame):
    type: Literal["chat.send"]
    appointment_id: uuid.UUID
    client_msg_id: ClientMsgId
    body: MessageBody


class ChatSync(_Frame):
    type: Literal["chat.sync"]
    appointment_id: uuid.UUID
    after_seq: StrictInt = Field(default=0, ge=0, le=2**31 - 1)


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    AuthFrame | RoomJoin | RoomLeave | Signal | MediaState | CallDecline | ChatSend | ChatSync | Ping,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameError(Exception):
    def __init__(self, code: str, message: str, ref: str | int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.ref, self.details = code, message, ref, details


def _valid_ref(ref: Any) -> str | int | None:
    """The ref to echo in an error, only if it is one (a bad one is not reflected back)."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int) or (isinstance(ref, str) and len(ref) <= MAX_REF):
        return ref
    return None


def decode(text: str) -> ClientFrame:
    """Parse one text frame, or raise FrameError with a code the client can act on."""
    try:
        # The fast path (pydantic's own JSON parser); the slow one below only explains errors.
        return _adapter.validate_json(text)
    except ValidationError:
        pass
    try:
        raw = json.loads(text)
    except ValueError:
        raise FrameError("malformed_json", "The frame is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object.")
    ref = _valid_ref(raw.get("ref"))
    try:
        return _adapter.validate_python(raw)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        if any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in errors):
            raise FrameError("unknown_type", f"Unknown frame type {raw.get('type')!r}.", ref) from None
        raise FrameError("invalid_frame", "The frame is not valid.", ref, errors) from None


def encode(frame: dict[str, Any]) -> str:
    return to_json(frame, fallback=str).decode()
