"""Prototype: on_signal without str(UUID) twice per message (the room id string is in the frame already)."""
from televisit.realtime.channels import room_channel
from televisit.signaling import service

_keys = {}


async def on_signal(self, conn, frame):
    self._require_room(conn, frame.room_id, frame.ref)
    room = _keys.get(frame.room_id)
    if room is None:
        room = _keys[frame.room_id] = (str(frame.room_id), room_channel(frame.room_id))
    user = conn.__dict__.get("user_key")
    if user is None:
        user = conn.user_key = str(conn.user_id)
    await self.app.state.broker.publish(room[1], {"type": "signal", "room_id": room[0], "from": user,
                                                   "data": frame.data})


service.Handlers.on_signal = on_signal
