"""The real-time contract as code: every WebSocket frame both ways, and every broker event.

- `ClientFrame`: the closed set a client may send (a discriminated union on `type`), with the one
  decoder, `decode`.
- `ServerFrame`: the closed set the server sends, with the one encoder, `encode`.
- `BrokerEvent`: what crosses instances on the broker's `user:` and `room:` channels: server frames
  delivered as they are, plus four internal events (`_`-prefixed types) a client never sees.

`asyncapi.json` is printed from these models (`televisit asyncapi`), and the web app's frame
types are generated from it: a new frame is added here, and nowhere else by hand.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

from televisit.appointments.schemas import AppointmentPublic
from televisit.chat.schemas import ClientMsgId, MessageBody, MessagePublic
from televisit.rooms.schemas import (
    ICE_TRANSPORT_POLICY_DESCRIPTION,
    IceServer,
    IceTransportPolicy,
    ParticipantPublic,
    RoomPublic,
)

MAX_REF = 64
Ref = Annotated[str, Field(max_length=MAX_REF)] | int | None
RoomEndReason = Literal["ended", "declined", "unused-timeout", "empty-timeout", "max-duration"]
SessionEndReason = Literal["logged-out", "expired", "revoked", "deactivated"]


# -- client → server ------------------------------------------------------------------------------
class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Ref = Field(default=None, description="Echoed in the replies to this frame.")


class AuthFrame(_ClientFrame):
    """The first frame of every connection, within 5 s: answered with `ready`."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=256)


class Ping(_ClientFrame):
    """An application-level liveness check: answered with `pong`."""

    type: Literal["ping"]


class RoomJoin(_ClientFrame):
    """Enter a call's room (the callee's join is the answer): `room.joined`."""

    type: Literal["room.join"]
    room_id: uuid.UUID


class RoomLeave(_ClientFrame):
    type: Literal["room.leave"]
    room_id: uuid.UUID


class Signal(_ClientFrame):
    """SDP or an ICE candidate for the other participant, relayed as `signal`."""

    type: Literal["signal"]
    room_id: uuid.UUID
    data: dict[str, Any] = Field(description="Opaque SDP or ICE candidate, relayed as is.")


AudioOnlyReason = Literal["manual", "network"]
SCREEN_DESCRIPTION = (
    "The sender is sharing a screen or window: on the call's second video line, beside their camera"
    " (or in the camera's place where the other side's app has no such line)."
)
AUDIO_ONLY_DESCRIPTION = (
    "The sender asks for audio only: both sides stop sending video until it is false again."
)
AUDIO_ONLY_REASON_DESCRIPTION = (
    "Why audio only: `manual` (the person chose it) or `network` (their link stayed weak); "
    "null when `audio_only` is false."
)


class MediaState(_ClientFrame):
    """Microphone and camera on or off, relayed to the other participant."""

    type: Literal["media.state"]
    room_id: uuid.UUID
    # Strict: "yes" or 1 is a client bug to report, not a value to guess.
    audio: StrictBool
    video: StrictBool
    # Optional, false by default, so clients that predate them still send valid frames.
    screen: StrictBool = Field(default=False, description=SCREEN_DESCRIPTION)
    audio_only: StrictBool = Field(default=False, description=AUDIO_ONLY_DESCRIPTION)
    audio_only_reason: AudioOnlyReason | None = Field(default=None, description=AUDIO_ONLY_REASON_DESCRIPTION)


QualityLevel = Literal["excellent", "good", "poor", "lost"]
QUALITY_LEVEL_DESCRIPTION = (
    "The sender's own network quality as its browser measures it (round trip, packet loss, received "
    "frame rate and bitrate), in LiveKit's four levels: excellent, good, poor, lost."
)


class QualityReport(_ClientFrame):
    """Your own connection's quality, relayed to the other participant as `quality`."""

    type: Literal["quality.report"]
    room_id: uuid.UUID
    level: QualityLevel = Field(description=QUALITY_LEVEL_DESCRIPTION)


class CallDecline(_ClientFrame):
    type: Literal["call.decline"]
    room_id: uuid.UUID


class ChatSend(_ClientFrame):
    """Store a message (acknowledged with `chat.ack`); resending a `client_msg_id` is safe."""

    type: Literal["chat.send"]
    appointment_id: uuid.UUID
    client_msg_id: ClientMsgId
    body: MessageBody


class ChatSync(_ClientFrame):
    """Replay every message after `after_seq` as `chat.message` frames, then `chat.synced`."""

    type: Literal["chat.sync"]
    appointment_id: uuid.UUID
    after_seq: StrictInt = Field(default=0, ge=0, le=2**31 - 1)


class IceRefresh(_ClientFrame):
    """Fresh TURN credentials for a live room of yours, before the ones you hold expire: `ice.servers`."""

    type: Literal["ice.refresh"]
    room_id: uuid.UUID


ClientFrame = Annotated[
    AuthFrame | Ping | RoomJoin | RoomLeave | Signal | MediaState | CallDecline | ChatSend | ChatSync
    | IceRefresh | QualityReport,
    Field(discriminator="type"),
]
CLIENT_FRAMES: tuple[type[_ClientFrame], ...] = (
    AuthFrame, Ping, RoomJoin, RoomLeave, Signal, MediaState, CallDecline, ChatSend, ChatSync,
    IceRefresh, QualityReport,
)


# -- server → client ------------------------------------------------------------------------------
class _ServerFrame(BaseModel):
    # Frozen: the in-process broker hands one instance to every socket's handler. Fields with a
    # default are always sent, so the schema of what the server sends lists them as required.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class _Reply(_ServerFrame):
    ref: Ref = Field(default=None, description="The `ref` of the frame this answers.")


class Ready(_Reply):
    """The token was accepted: the connection is open for every other frame."""

    type: Literal["ready"] = "ready"
    user_id: uuid.UUID
    connection_id: str


class Pong(_Reply):
    type: Literal["pong"] = "pong"


class ErrorFrame(_Reply):
    """A frame was refused; the connection stays open unless a close follows."""

    type: Literal["error"] = "error"
    code: str = Field(description="One of the codes listed under `x-error-codes`.")
    message: str
    details: Any = None


class RoomJoined(_Reply):
    type: Literal["room.joined"] = "room.joined"
    room: RoomPublic
    participants: list[ParticipantPublic]
    ice_servers: list[IceServer]
    ice_transport_policy: IceTransportPolicy = Field(description=ICE_TRANSPORT_POLICY_DESCRIPTION)
    polite: bool = Field(description="Perfect negotiation: the polite peer yields on glare.")


class RoomLeft(_Reply):
    type: Literal["room.left"] = "room.left"
    room_id: uuid.UUID


class RoomReplaced(_ServerFrame):
    """The same user joined from another connection: this one is out of the room (not closed)."""

    type: Literal["room.replaced"] = "room.replaced"
    room_id: uuid.UUID
    reason: Literal["duplicate-identity"] = "duplicate-identity"


class ParticipantJoined(_ServerFrame):
    type: Literal["participant.joined"] = "participant.joined"
    room_id: uuid.UUID
    participant: ParticipantPublic


class ParticipantLeft(_ServerFrame):
    type: Literal["participant.left"] = "participant.left"
    room_id: uuid.UUID
    participant: ParticipantPublic


class RelayedSignal(_ServerFrame):
    """The other participant's `signal`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    type: Literal["signal"] = "signal"
    room_id: uuid.UUID
    sender: str = Field(alias="from", description="The sender's user id.")
    data: dict[str, Any]


class RelayedMediaState(_ServerFrame):
    """The other participant turned their microphone or camera on or off."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    type: Literal["media.state"] = "media.state"
    room_id: uuid.UUID
    sender: str = Field(alias="from", description="The sender's user id.")
    audio: bool
    video: bool
    screen: bool = Field(default=False, description=SCREEN_DESCRIPTION)
    audio_only: bool = Field(default=False, description=AUDIO_ONLY_DESCRIPTION)
    audio_only_reason: AudioOnlyReason | None = Field(default=None, description=AUDIO_ONLY_REASON_DESCRIPTION)


class RelayedQuality(_ServerFrame):
    """The other participant's network quality (their `quality.report`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    type: Literal["quality"] = "quality"
    room_id: uuid.UUID
    sender: str = Field(alias="user_id", description="Whose connection this is (the sender's user id).")
    level: QualityLevel = Field(description=QUALITY_LEVEL_DESCRIPTION)


class RoomEnded(_ServerFrame):
    type: Literal["room.ended"] = "room.ended"
    room_id: uuid.UUID
    reason: RoomEndReason
    status: str


class Caller(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    id: uuid.UUID
    full_name: str
    role: str


class CallIncoming(_ServerFrame):
    """The other party started the call: ring."""

    type: Literal["call.incoming"] = "call.incoming"
    room_id: uuid.UUID
    appointment_id: uuid.UUID
    sender: Caller = Field(alias="from")
    auto_join: bool = Field(default=False, description=(
        "The doctor admitted a patient waiting in the visit's waiting room: join the room at once, "
        "without asking to accept."))

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class CallAnswered(_ServerFrame):
    """You answered on another device: stop ringing here."""

    type: Literal["call.answered"] = "call.answered"
    room_id: uuid.UUID


class CallDeclined(_ServerFrame):
    """The callee declined."""

    type: Literal["call.declined"] = "call.declined"
    room_id: uuid.UUID
    appointment_id: uuid.UUID
    by: uuid.UUID


class CallDeclineAccepted(_Reply):
    """Your `call.decline` ended the call."""

    type: Literal["call.declined.ok"] = "call.declined.ok"
    room_id: uuid.UUID


class CallCancelled(_ServerFrame):
    """The call ended before you answered: stop ringing."""

    type: Literal["call.cancelled"] = "call.cancelled"
    room_id: uuid.UUID
    appointment_id: uuid.UUID
    reason: RoomEndReason


class AppointmentUpdated(_ServerFrame):
    type: Literal["appointment.updated"] = "appointment.updated"
    appointment: AppointmentPublic


class AppointmentCreated(_ServerFrame):
    """A visit of yours was booked (both people hear it)."""

    type: Literal["appointment.created"] = "appointment.created"
    appointment: AppointmentPublic


class ChatRead(_ServerFrame):
    """Someone of the conversation read up to ``seq``: your other devices clear their unread
    count (``reader_id`` is you), or the other party's read receipt."""

    type: Literal["chat.read"] = "chat.read"
    appointment_id: uuid.UUID
    reader_id: uuid.UUID
    seq: int


class ChatMessage(_ServerFrame):
    """A message of a conversation you are in (yours too, for your other devices)."""

    type: Literal["chat.message"] = "chat.message"
    message: MessagePublic


class ChatAck(_Reply):
    """Your message is stored."""

    type: Literal["chat.ack"] = "chat.ack"
    client_msg_id: str
    seq: int
    id: uuid.UUID
    appointment_id: uuid.UUID


class ChatSynced(_Reply):
    """The replay after `chat.sync` is complete."""

    type: Literal["chat.synced"] = "chat.synced"
    appointment_id: uuid.UUID
    last_seq: int


class SessionEnded(_ServerFrame):
    """Your session ended; close 4401 follows."""

    type: Literal["session.ended"] = "session.ended"
    reason: SessionEndReason


class IceServers(_Reply):
    """The answer to `ice.refresh`; a browser applies it with
    `pc.setConfiguration({...pc.getConfiguration(), iceServers})`."""

    type: Literal["ice.servers"] = "ice.servers"
    room_id: uuid.UUID
    ice_servers: list[IceServer]
    ice_transport_policy: IceTransportPolicy = Field(description=ICE_TRANSPORT_POLICY_DESCRIPTION)
    expires_at: datetime | None = Field(
        description="When the TURN credentials expire (null without TURN): refresh before then.")


class ServerDraining(_ServerFrame):
    """This instance is stopping: reconnect (you will reach another one) and resume."""

    type: Literal["server.draining"] = "server.draining"


ServerFrame = Annotated[
    Ready | Pong | ErrorFrame | RoomJoined | RoomLeft | RoomReplaced | ParticipantJoined
    | ParticipantLeft | RelayedSignal | RelayedMediaState | RelayedQuality | RoomEnded | CallIncoming
    | CallAnswered
    | CallDeclined | CallDeclineAccepted | CallCancelled | AppointmentUpdated | AppointmentCreated
    | ChatMessage | ChatRead | ChatAck | ChatSynced | SessionEnded | ServerDraining | IceServers,
    Field(discriminator="type"),
]
SERVER_FRAMES: tuple[type[_ServerFrame], ...] = (
    Ready, Pong, ErrorFrame, RoomJoined, RoomLeft, RoomReplaced, ParticipantJoined, ParticipantLeft,
    RelayedSignal, RelayedMediaState, RelayedQuality, RoomEnded, CallIncoming, CallAnswered, CallDeclined,
    CallDeclineAccepted, CallCancelled, AppointmentUpdated, AppointmentCreated, ChatMessage, ChatRead,
    ChatAck, ChatSynced, SessionEnded, ServerDraining, IceServers,
)


# -- broker events (between instances; never sent to a client as they are) -----------------------
class SessionRevoked(_ServerFrame):
    """On `user:{id}`: close this session's sockets (after telling them why)."""

    type: Literal["_session.revoked"] = "_session.revoked"
    session_id: uuid.UUID
    reason: SessionEndReason


class SessionsEnded(_ServerFrame):
    """On `user:{id}`: every session of the user ended (revoked, or the account deactivated) but
    ``except_session_id``: close their sockets, after telling them why."""

    type: Literal["_sessions.ended"] = "_sessions.ended"
    reason: SessionEndReason
    except_session_id: uuid.UUID | None = None


class AuthChanged(_ServerFrame):
    """On `auth`, to every instance: sessions or users changed (revoked, used, edited); drop what
    was kept of them (`auth/cache.py`). ``everything``: a change that did not say which."""

    type: Literal["_auth.changed"] = "_auth.changed"
    session_ids: list[uuid.UUID] = []
    user_ids: list[uuid.UUID] = []
    everything: bool = False


class IdentityReplaced(_ServerFrame):
    """On `room:{id}`: that connection lost the room to a newer one of the same user."""

    type: Literal["_identity.replaced"] = "_identity.replaced"
    room_id: uuid.UUID
    connection_id: str


class ExceptConnection(_ServerFrame):
    """Deliver ``frame`` to every socket on the channel but ``connection_id`` (the one that caused it)."""

    type: Literal["_except"] = "_except"
    connection_id: str
    frame: Annotated[ParticipantJoined | ParticipantLeft | CallAnswered, Field(discriminator="type")]


BrokerEvent = Annotated[
    RelayedSignal | RelayedMediaState | RelayedQuality | ParticipantLeft | RoomEnded | CallIncoming
    | CallDeclined | CallCancelled | AppointmentUpdated | AppointmentCreated | ChatMessage | ChatRead
    | SessionRevoked | SessionsEnded | AuthChanged | IdentityReplaced | ExceptConnection,
    Field(discriminator="type"),
]


# -- error and close codes ------------------------------------------------------------------------
ERROR_CODES: dict[str, str] = {
    "malformed_json": "The frame is not JSON.",
    "invalid_frame": "The frame is not one of the client frames (`details` lists the fields).",
    "unknown_type": "No client frame has this `type`.",
    "binary_not_supported": "Binary frames are not accepted: send JSON text.",
    "auth_timeout": "No `auth` frame came in time (close 4401 follows).",
    "not_authenticated": "The first frame was not `auth`, or the account is gone (close 4401 follows).",
    "invalid_token": "The token is not valid (close 4401 follows).",
    "session_expired": "The session expired (close 4401 follows).",
    "already_authenticated": "`auth` on a connection that is already authenticated.",
    "frame_too_large": "The frame is over the size limit (close 1009 follows).",
    "frame_too_deep": "The frame nests too deeply (`signal` data: `details.max_depth` levels).",
    "rate_limited": "Too many frames (close 1008 follows).",
    "not_in_room": "Join the room first.",
    "room_not_found": "No such room, or not one of yours.",
    "room_ended": "The call has ended.",
    "not_callee": "Only the person called can decline; the caller ends the call.",
    "call_already_answered": "The call was answered on another device; the decline changed nothing.",
    "appointment_not_found": "No such appointment, or not one of yours.",
    "empty_message": "The message is empty.",
    "message_too_long": "The message is over the length limit (`details.max_length`).",
    "conversation_closed": "The visit's conversation is closed (TELEVISIT_MESSAGING_WINDOW after "
                           "the visit): it can be read, not written to.",
    "internal_error": "A fault on the server; the frame may be retried.",
    "database_unavailable": "The database could not be reached for TELEVISIT_DB_RETRY_WINDOW seconds "
                            "(a restart); nothing was done: send the frame again shortly.",
    "too_many_connections": "Too many open sockets for this user or address (close 4429 follows).",
}
CLOSE_CODES: dict[int, str] = {
    1000: "Normal closure.",
    1008: "Flood: too many frames.",
    1009: "A frame over the size limit.",
    1012: "The server is restarting (after `server.draining`): reconnect.",
    1013: "Too slow: the client did not read its frames.",
    4401: "Not authenticated, or the session ended (after `session.ended`).",
    4403: "The page's origin is not allowed.",
    4429: "Too many open sockets for this user or this address (after `error` "
          "`too_many_connections`): close another one first.",
}


# -- codecs ---------------------------------------------------------------------------------------
_client: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_broker: TypeAdapter[BrokerEvent] = TypeAdapter(BrokerEvent)
_BROKER_TYPES: frozenset[type[BaseModel]] = frozenset(get_args(get_args(BrokerEvent)[0]))


class FrameError(Exception):
    def __init__(self, code: str, message: str, ref: str | int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.ref, self.details = code, message, ref, details

    def frame(self) -> ErrorFrame:
        return ErrorFrame(code=self.code, message=self.message, ref=self.ref, details=self.details)


def _valid_ref(ref: Any) -> str | int | None:
    """The ref to echo in an error, only if it is one (a bad one is not reflected back)."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int) or (isinstance(ref, str) and len(ref) <= MAX_REF):
        return ref
    return None


# SDP and ICE candidates nest 3-4 levels; deeper `signal` data is refused, well before the
# encoder's limit when it is relayed (it failed silently at a few hundred).
MAX_SIGNAL_DEPTH = 32


def decode(text: str) -> ClientFrame:
    """Parse one text frame, or raise FrameError with a code the client can act on.

    Never raises anything else: frames nested too deep are `frame_too_deep` (pydantic's parser
    stops at 200 levels; Python's would raise RecursionError), and what only Python's lenient
    parser accepts (a lone surrogate) is refused, since it could not be relayed as JSON.
    """
    try:
        # The fast path (pydantic's own JSON parser); the slow one below only explains errors.
        frame = _client.validate_json(text)
    except ValidationError as exc:
        raise _refusal(text, exc) from None
    if isinstance(frame, Signal) and _may_nest_deeper(text, MAX_SIGNAL_DEPTH) \
            and _deeper_than(frame.data, MAX_SIGNAL_DEPTH):
        raise FrameError("frame_too_deep", f"Signal data may nest at most {MAX_SIGNAL_DEPTH} levels.",
                         frame.ref, {"max_depth": MAX_SIGNAL_DEPTH})
    return frame


def _refusal(text: str, exc: ValidationError) -> FrameError:
    """Why the strict parse failed, from a lenient re-parse that finds the fields and the ref."""
    parser_error = next((str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors()
                         if e["type"] == "json_invalid"), None)
    too_deep = FrameError("frame_too_deep", "The frame is nested too deeply.")
    if parser_error is not None and "recursion limit" in parser_error:
        return too_deep
    try:
        raw = json.loads(text)
    except ValueError:
        return FrameError("malformed_json", "The frame is not valid JSON.")
    except RecursionError:  # a strict-parser error came first, the deep part after it
        return too_deep
    if not isinstance(raw, dict):
        return FrameError("invalid_frame", "A frame must be a JSON object.")
    ref = _valid_ref(raw.get("ref"))
    try:
        _client.validate_python(raw)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        if any(e["type"] in ("union_tag_invalid", "union_tag_not_found") for e in errors):
            return FrameError("unknown_type", f"Unknown frame type {raw.get('type')!r}.", ref)
        return FrameError("invalid_frame", "The frame is not valid.", ref, errors)
    except RecursionError:
        return too_deep
    # Valid to Python's parser, not to the strict one: a lone surrogate (not Unicode text).
    details = [{"loc": [], "msg": parser_error, "type": "json_invalid"}] if parser_error else None
    return FrameError("invalid_frame", "The frame is not strict JSON (a lone surrogate escape "
                      "cannot be relayed).", ref, details)


def _may_nest_deeper(text: str, limit: int) -> bool:
    """False when the frame's text has too few brackets for its `data` to nest more than ``limit``
    levels (each level opens one; the frame's own object is one more, and brackets inside strings
    only add to the count). Counting is a C loop over the text: the walk of `data` below cost 4.5 µs
    on every relayed ICE candidate, a tenth of the relay's CPU per message (docs/benchmarks.md)."""
    return text.count("{") + text.count("[") > limit


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects or arrays more than ``limit`` levels (itself is level 1)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def encode(frame: _ServerFrame) -> str:
    return frame.__pydantic_serializer__.to_json(frame).decode()


class BrokerCodec:
    """How broker events cross Redis: JSON both ways, validated into their models on arrival."""

    @staticmethod
    def encode(event: BrokerEvent) -> bytes:
        # An event outside the union is a bug to surface, not JSON to guess at. Each model's own
        # serializer writes what the union's would (same JSON), in a quarter of the time: 0.8
        # against 3.3 µs for a relayed candidate, paid once per message that crosses Redis.
        if type(event) not in _BROKER_TYPES:
            raise TypeError(f"not a broker event: {type(event).__name__}")
        return event.__pydantic_serializer__.to_json(event)

    @staticmethod
    def decode(data: bytes | str) -> BrokerEvent:
        return _broker.validate_json(data)
