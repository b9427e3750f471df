"""Prototype: relay fast path in the hub: no UUID parse per event, no str(UUID) per recipient,
the public frame built once."""
import functools
import uuid

from televisit.signaling import hub as hubmod

_orig = hubmod.Hub._on_room_event


@functools.lru_cache(maxsize=65536)
def _channel_id(channel):
    return uuid.UUID(channel.split(":", 1)[1])


def _on_room_event(self, channel, event):
    kind = event.get("type")
    if kind != "signal" and kind != "media.state":
        return _orig(self, channel, event)
    room_id = _channel_id(channel)
    sender = event.get("from")
    frame = None
    for conn in tuple(self.by_room.get(room_id, ())):
        key = conn.__dict__.get("user_key")
        if key is None:
            key = conn.user_key = str(conn.user_id)
        if key != sender:
            if frame is None:
                frame = {k: v for k, v in event.items() if k not in hubmod._PRIVATE_KEYS}
            conn.send(frame)
    for _conn, buffered in getattr(self, "_pending", {}).get(room_id, {}).values():
        buffered.append(event)


hubmod.Hub._on_room_event = _on_room_event
