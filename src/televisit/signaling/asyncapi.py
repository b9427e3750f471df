"""The AsyncAPI 3.0 document of the WebSocket, printed from the frame models (`televisit asyncapi`).

Operations are written from the server's side, as AsyncAPI 3 asks: `receive` for what a client
sends, `send` for what the server sends. Every message's payload is the JSON Schema pydantic
makes of its model (client frames as they are validated, server frames as they are serialized),
so the document cannot drift from the code, and `asyncapi.json` is checked against it in tests.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from televisit.signaling import frames as f

REF = "#/components/schemas/{model}"
CHANNEL = "socket"

# Client frames answered by a reply frame (AsyncAPI request-reply).
REPLIES: dict[type[BaseModel], tuple[type[BaseModel], ...]] = {
    f.AuthFrame: (f.Ready,),
    f.Ping: (f.Pong,),
    f.RoomJoin: (f.RoomJoined,),
    f.RoomLeave: (f.RoomLeft,),
    f.CallDecline: (f.CallDeclineAccepted,),
    f.ChatSend: (f.ChatAck,),
    f.ChatSync: (f.ChatSynced,),
}

DESCRIPTION = """\
The real-time half of the Televisit contract (REST is `openapi.json`). One WebSocket per signed-in
device carries ringing, call signaling, media state, presence and chat.

**Handshake.** Open `wss://<host>/api/v1/ws` (browsers: from the app's own origin or an allowed
one). Within 5 seconds send `auth` with the access token from `POST /api/v1/auth/login`; never put
the token in the URL. The server answers `ready`, or `error` and close 4401.

**Frames.** Every frame is one JSON object in a text frame, discriminated by `type`. A client may
add `ref` (string of at most 64 characters, or integer); replies to that frame carry it back.
A refused frame gets `error` (codes under `x-error-codes`) and the connection stays open unless a
close follows (close codes under `x-close-codes`).

Ordering, replay after a reconnect, draining and the call flow are described in
`docs/realtime.md`.
"""


def _message(model: type[BaseModel]) -> dict[str, Any]:
    type_name = frame_type(model)
    doc = (model.__doc__ or "").strip()
    message: dict[str, Any] = {
        "name": type_name,
        "title": model.__name__,
        "payload": {"$ref": REF.format(model=model.__name__)},
    }
    if doc:
        message["summary"] = doc.splitlines()[0]
    return message


def frame_type(model: type[BaseModel]) -> str:
    """The `type` a frame model carries: the single value of its `Literal` annotation."""
    (value,) = get_args(model.model_fields["type"].annotation)
    return str(value)


def _key(model: type[BaseModel]) -> str:
    return model.__name__


def _union_schema(name: str, union: Any, mode: JsonSchemaMode) -> dict[str, Any]:
    """The union's JSON Schema, its discriminator written as AsyncAPI 3's Schema Object has it.

    pydantic writes OpenAPI's `{"propertyName", "mapping"}`; AsyncAPI's `discriminator` is the
    property's name alone (a document with the object is invalid). Each member's `type` `const`
    already says which frame is which.
    """
    schema = TypeAdapter(union).json_schema(ref_template=REF, mode=mode)
    schema.pop("$defs", None)
    schema["title"] = name
    schema["discriminator"] = schema["discriminator"]["propertyName"]
    return schema


def document(version: str = "1.0.0") -> dict[str, Any]:
    _, client_defs = models_json_schema([(m, "validation") for m in f.CLIENT_FRAMES], ref_template=REF)
    _, server_defs = models_json_schema([(m, "serialization") for m in f.SERVER_FRAMES], ref_template=REF)
    schemas = {**client_defs.get("$defs", {}), **server_defs.get("$defs", {})}
    schemas["ClientFrame"] = _union_schema("ClientFrame", f.ClientFrame, "validation")
    schemas["ServerFrame"] = _union_schema("ServerFrame", f.ServerFrame, "serialization")

    messages = {_key(m): _message(m) for m in (*f.CLIENT_FRAMES, *f.SERVER_FRAMES)}
    channel_ref = {"$ref": f"#/channels/{CHANNEL}"}
    operations: dict[str, Any] = {}
    for model in f.CLIENT_FRAMES:
        operation: dict[str, Any] = {
            "action": "receive",
            "channel": channel_ref,
            "summary": f"A client sends `{messages[_key(model)]['name']}`.",
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{_key(model)}"}],
        }
        if model in REPLIES:
            operation["reply"] = {"channel": channel_ref, "messages": [
                {"$ref": f"#/channels/{CHANNEL}/messages/{_key(r)}"} for r in REPLIES[model]]}
        operations[f"receive{_key(model)}"] = operation
    for sent in f.SERVER_FRAMES:
        operations[f"send{_key(sent)}"] = {
            "action": "send",
            "channel": channel_ref,
            "summary": f"The server sends `{messages[_key(sent)]['name']}`.",
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{_key(sent)}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Televisit real-time API", "version": version, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "instance": {
                "host": "{host}",
                "protocol": "wss",
                "description": "A Televisit instance (plain `ws` only in development).",
                "variables": {"host": {"default": "localhost:8000"}},
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/api/v1/ws",
                "title": "The signed-in device's socket",
                "description": "Authenticate with the first frame; see the document's description.",
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
                "bindings": {"ws": {"bindingVersion": "0.1.0", "method": "GET"}},
            }
        },
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
        "x-error-codes": dict(f.ERROR_CODES),
        "x-close-codes": {str(code): text for code, text in f.CLOSE_CODES.items()},
    }
