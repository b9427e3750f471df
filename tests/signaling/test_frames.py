"""The frame codec: every client frame decodes to its type, everything else to a FrameError."""

from __future__ import annotations

import json
import uuid

import pytest

from televisit.signaling import frames as f

# Fixed: they appear in parametrized test names, which every parallel worker must collect alike.
ROOM = "5d0c1f2e-8a4b-4c6d-9e1f-2a3b4c5d6e7f"
APPT = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


@pytest.mark.parametrize(("frame", "cls"), [
    ({"type": "auth", "token": "t"}, f.AuthFrame),
    ({"type": "ping"}, f.Ping),
    ({"type": "room.join", "room_id": ROOM}, f.RoomJoin),
    ({"type": "room.leave", "room_id": ROOM}, f.RoomLeave),
    ({"type": "signal", "room_id": ROOM, "data": {"candidate": {"candidate": "a", "sdpMid": "0"}}}, f.Signal),
    ({"type": "media.state", "room_id": ROOM, "audio": True, "video": False}, f.MediaState),
    ({"type": "media.state", "room_id": ROOM, "audio": True, "video": False, "screen": True,
      "audio_only": True, "audio_only_reason": "manual"}, f.MediaState),
    ({"type": "quality.report", "room_id": ROOM, "level": "poor"}, f.QualityReport),
    ({"type": "call.decline", "room_id": ROOM}, f.CallDecline),
    ({"type": "chat.send", "appointment_id": APPT, "client_msg_id": "a.b:c-1_2", "body": "hi"}, f.ChatSend),
    ({"type": "chat.sync", "appointment_id": APPT}, f.ChatSync),
])
def test_each_client_frame_decodes_to_its_type(frame, cls):
    for ref in (None, "r-1", 7):
        decoded = f.decode(json.dumps({**frame, "ref": ref} if ref is not None else frame))
        assert isinstance(decoded, cls)
        assert decoded.ref == ref
    assert f.decode(json.dumps({"type": "chat.sync", "appointment_id": APPT})).after_seq == 0  # type: ignore[union-attr]


def test_signal_data_is_opaque():
    data = {"description": {"type": "offer", "sdp": "v=0\r\n..."}, "anything": [1, None, {"x": 1.5}]}
    assert f.decode(json.dumps({"type": "signal", "room_id": ROOM, "data": data})).data == data  # type: ignore[union-attr]


def _error(text: str) -> f.FrameError:
    with pytest.raises(f.FrameError) as info:
        f.decode(text)
    return info.value


@pytest.mark.parametrize(("text", "code"), [
    ("", "malformed_json"),
    ("{", "malformed_json"),
    ("{'type': 'ping'}", "malformed_json"),
    ("NaN", "invalid_frame"),
    ("[]", "invalid_frame"),
    ("1", "invalid_frame"),
    ('"ping"', "invalid_frame"),
    ("null", "invalid_frame"),
    ("{}", "unknown_type"),
    ('{"type": "pong"}', "unknown_type"),
    ('{"type": "PING"}', "unknown_type"),
    ('{"type": null}', "unknown_type"),
    ('{"type": ["ping"]}', "unknown_type"),
    ('{"type": "ping", "extra": 1}', "invalid_frame"),
    ('{"type": "ping", "ref": 1.5}', "invalid_frame"),
    ('{"type": "auth", "token": 5}', "invalid_frame"),
    (json.dumps({"type": "room.join", "room_id": "x"}), "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": "yes", "video": True}), "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": 1, "video": 0}), "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": True}), "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": True, "video": True, "screen": "on"}),
     "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": True, "video": True, "audio_only": 1}),
     "invalid_frame"),
    (json.dumps({"type": "media.state", "room_id": ROOM, "audio": True, "video": True, "audio_only": True,
                 "audio_only_reason": "tired"}), "invalid_frame"),
    (json.dumps({"type": "chat.sync", "appointment_id": APPT, "after_seq": "3"}), "invalid_frame"),
    (json.dumps({"type": "chat.sync", "appointment_id": APPT, "after_seq": 2.5}), "invalid_frame"),
    (json.dumps({"type": "signal", "room_id": ROOM, "data": []}), "invalid_frame"),
    (json.dumps({"type": "chat.send", "appointment_id": APPT, "client_msg_id": "a b", "body": "x"}),
     "invalid_frame"),
    (json.dumps({"type": "chat.send", "appointment_id": APPT, "client_msg_id": "a", "body": ""}),
     "invalid_frame"),
    (json.dumps({"type": "chat.sync", "appointment_id": APPT, "after_seq": -1}), "invalid_frame"),
    (json.dumps({"type": "chat.sync", "appointment_id": APPT, "after_seq": "3x"}), "invalid_frame"),
])
def test_bad_frames_raise_a_frame_error_with_a_code(text, code):
    assert _error(text).code == code


def test_errors_carry_the_ref_and_field_details():
    err = _error(json.dumps({"type": "room.join", "room_id": 12, "ref": "mine"}))
    assert (err.code, err.ref) == ("invalid_frame", "mine")
    assert err.details == [{"loc": ["room.join", "room_id"], "msg": err.details[0]["msg"],
                            "type": err.details[0]["type"]}]
    assert _error(json.dumps({"type": "what", "ref": 3})).ref == 3
    # A ref that is not a valid ref is not reflected back.
    for bad in ("r" * 65, True, [1], {"a": 1}, 1.5):
        assert _error(json.dumps({"type": "what", "ref": bad})).ref is None


def test_encode_is_compact_json():
    text = f.encode(f.RoomLeft(ref=None, room_id=uuid.UUID(int=1)))
    assert " " not in text
    assert json.loads(text) == {"type": "room.left", "ref": None, "room_id": str(uuid.UUID(int=1))}


def test_broker_codec_writes_the_unions_json_and_refuses_what_is_not_a_broker_event():
    room = uuid.UUID(int=2)
    events = [
        f.RelayedSignal(room_id=room, sender="u1", data={"candidate": {"candidate": "a", "sdpMid": "0"}}),
        f.RelayedMediaState(room_id=room, sender="u1", audio=True, video=False),
        f.RelayedQuality(room_id=room, sender="u1", level="lost"),
        f.RoomEnded(room_id=room, reason="ended", status="completed"),
        f.IdentityReplaced(room_id=room, connection_id="c1"),
    ]
    for event in events:
        data = f.BrokerCodec.encode(event)
        assert data == f._broker.dump_json(event)  # what the union's adapter writes
        assert f.BrokerCodec.decode(data) == event
    with pytest.raises(TypeError):
        f.BrokerCodec.encode(f.Pong())  # a client-facing frame, never published


def test_a_signal_nested_deep_inside_strings_and_arrays_is_still_refused():
    # Brackets inside strings only add to the count that decides whether to walk `data`.
    deep: object = "x"
    for _ in range(f.MAX_SIGNAL_DEPTH + 1):
        deep = [deep, "[[{{"]
    text = json.dumps({"type": "signal", "room_id": ROOM, "data": {"a": deep}})
    with pytest.raises(f.FrameError) as exc:
        f.decode(text)
    assert exc.value.code == "frame_too_deep"
    shallow = json.dumps({"type": "signal", "room_id": ROOM, "data": {"sdp": "{" * 100 + "[" * 100}})
    assert isinstance(f.decode(shallow), f.Signal)
