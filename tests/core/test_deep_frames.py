"""Frames built to break the parsers (nesting thousands deep, lone surrogates) get a clear error
frame, the socket lives on, and the call keeps going."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from televisit.signaling import frames as f
from tests.signaling.helpers import connect, join, make_visit, roundtrip, start_call

ROOM = str(uuid.uuid4())
SDP = {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
ICE = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host",
                     "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None}}


def nested(depth: int) -> Any:
    """An object ``depth`` levels deep (itself level 1)."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def signal(data: Any, ref: str = "s1") -> str:
    return json.dumps({"type": "signal", "room_id": ROOM, "ref": ref, "data": data})


def refusal(text: str) -> f.FrameError:
    with pytest.raises(f.FrameError) as info:
        f.decode(text)
    return info.value


# --- the decoder ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [SDP, ICE, {"candidate": None}, nested(f.MAX_SIGNAL_DEPTH)])
def test_real_signal_data_and_data_up_to_the_limit_decode(data):
    assert f.decode(signal(data)).data == data


@pytest.mark.parametrize("depth", [f.MAX_SIGNAL_DEPTH + 1, 100, 150])
def test_signal_data_over_the_limit_is_frame_too_deep_with_its_ref(depth):
    err = refusal(signal(nested(depth)))
    assert (err.code, err.ref, err.details) == ("frame_too_deep", "s1", {"max_depth": f.MAX_SIGNAL_DEPTH})


def test_arrays_count_as_levels_too():
    data: Any = {"a": [[[[{"b": [1]}]]]]}  # 7 levels
    assert f.decode(signal(data)).data == data
    err = refusal(signal({"a": json.loads("[" * f.MAX_SIGNAL_DEPTH + "]" * f.MAX_SIGNAL_DEPTH)}))
    assert err.code == "frame_too_deep"


@pytest.mark.parametrize("depth", [300, 999, 1000, 2000, 3000, 10_000])
def test_a_frame_nested_thousands_deep_is_frame_too_deep_not_a_recursion_error(depth):
    assert refusal('{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}").code == "frame_too_deep"
    assert refusal("[" * depth + "]" * depth).code == "frame_too_deep"


def test_depth_after_a_strict_json_error_is_still_caught():
    """The strict parser stops at the lone surrogate; Python's then meets the deep part."""
    text = '{"type": "ping", "ref": "r", "s": "\\ud800", "x": ' + "[" * 3000 + "]" * 3000 + "}"
    assert refusal(text).code == "frame_too_deep"


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83d", "\\ude00\\ud83d"])
def test_a_lone_surrogate_is_an_invalid_frame_with_its_ref(escape):
    text = '{"type": "signal", "ref": "s2", "room_id": "' + ROOM + '", "data": {"sdp": "' + escape + '"}}'
    err = refusal(text)
    assert (err.code, err.ref) == ("invalid_frame", "s2")
    assert "surrogate" in err.message


def test_a_proper_surrogate_pair_is_fine():
    frame = f.decode('{"type": "signal", "room_id": "' + ROOM + '", "data": {"sdp": "\\ud83d\\ude00"}}')
    assert frame.data == {"sdp": "\U0001f600"}


def test_frame_too_deep_is_a_documented_error_code():
    assert "frame_too_deep" in f.ERROR_CODES


# --- on a real socket, in a call --------------------------------------------------------------------

LONE = '{"type": "signal", "ref": "lone", "room_id": "ROOM", "data": {"candidate": "\\ud800"}}'
DEEP = '{"type": "signal", "ref": "deep", "room_id": "ROOM", "data": {"x": %s}}' % ("[" * 2000 + "]" * 2000)


@pytest.mark.parametrize(("payload", "code", "ref"), [
    (signal(nested(300), ref="deep-300"), "frame_too_deep", None),
    (signal(nested(f.MAX_SIGNAL_DEPTH + 1), ref="deep-33"), "frame_too_deep", "deep-33"),
    (LONE, "invalid_frame", "lone"),
    (DEEP, "frame_too_deep", None),
], ids=["300-deep", "33-deep", "lone-surrogate", "2000-deep"])
async def test_a_signal_that_cannot_be_relayed_gets_an_error_and_the_call_goes_on(
    factory, client, live, payload, code, ref
):
    """Before, such a signal was accepted and then dropped silently at the relay."""
    v = await make_visit(factory)
    room_id = (await start_call(client, v, v.doctor))["id"]
    doctor, patient = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    await join(doctor, room_id)
    await join(patient, room_id)
    await doctor.ws.send(payload.replace(ROOM, room_id).replace("ROOM", room_id))
    err = await doctor.expect("error")
    assert (err["code"], err["ref"]) == (code, ref)
    await roundtrip(doctor)  # the socket lives on: the next ping gets its pong
    await doctor.send({"type": "signal", "room_id": room_id, "data": SDP})
    relayed = await patient.expect("signal")
    assert relayed["data"] == SDP
    assert [fr for fr in patient.seen if fr["type"] == "signal"] == [relayed]  # the only one
    await doctor.close()
    await patient.close()


