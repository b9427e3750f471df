"""Network quality in a call: each side's `quality.report` reaches the other as `quality`."""

from __future__ import annotations

from tests.signaling.helpers import (
    connect,
    join,
    make_visit,
    of_type,
    roundtrip,
    settle,
    start_call,
)


async def test_each_side_hears_the_others_quality_and_never_its_own(factory, client, live):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    await d.expect("participant.joined")

    await p.send({"type": "quality.report", "room_id": room["id"], "level": "poor"})
    assert await d.expect("quality") == {
        "type": "quality", "room_id": room["id"], "user_id": str(v.patient.id), "level": "poor"}
    await d.send({"type": "quality.report", "room_id": room["id"], "level": "excellent"})
    assert await p.expect("quality") == {
        "type": "quality", "room_id": room["id"], "user_id": str(v.doctor.id), "level": "excellent"}
    await roundtrip(d)
    await roundtrip(p)
    # To the other participant only: nobody hears their own report back.
    assert [x["user_id"] for x in of_type(await settle(d, live.app, v.doctor.id), "quality")] == [
        str(v.patient.id)]
    assert [x["user_id"] for x in of_type(await settle(p, live.app, v.patient.id), "quality")] == [
        str(v.doctor.id)]
    await d.close()
    await p.close()


async def test_a_report_from_outside_the_room_or_with_a_bad_level_is_refused_and_the_socket_lives(
        factory, client, live):
    v = await make_visit(factory)
    stranger_visit = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    stranger = await connect(live.ws_url, stranger_visit.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    await d.expect("participant.joined")

    # Someone else's room: not in it, so nothing is relayed to the people who are.
    await stranger.send({"type": "quality.report", "room_id": room["id"], "level": "lost", "ref": "s"})
    assert (await stranger.expect("error", ref="s"))["code"] == "not_in_room"
    # A party of the visit who has not joined the room yet is refused the same way.
    bystander = await connect(live.ws_url, v.patient)
    await bystander.send({"type": "quality.report", "room_id": room["id"], "level": "good", "ref": "b"})
    assert (await bystander.expect("error", ref="b"))["code"] == "not_in_room"

    bad = [
        {"type": "quality.report", "room_id": room["id"], "level": "great"},
        {"type": "quality.report", "room_id": room["id"], "level": 3},
        {"type": "quality.report", "room_id": room["id"]},
        {"type": "quality.report", "room_id": "not-a-room", "level": "good"},
        {"type": "quality.report", "room_id": room["id"], "level": "good", "extra": 1},
    ]
    for i, frame in enumerate(bad):
        await p.send({**frame, "ref": i})
        err = await p.expect("error", ref=i)
        assert err["code"] == "invalid_frame", (frame, err)

    # Every socket lives on: a ping is answered and a good report still goes through.
    for ws in (stranger, bystander, p):
        await roundtrip(ws)
    await p.send({"type": "quality.report", "room_id": room["id"], "level": "good"})
    assert (await d.expect("quality"))["level"] == "good"
    # The refused reports never reached the doctor.
    assert [x["level"] for x in of_type(d.seen, "quality")] == ["good"]
    for ws in (d, p, stranger, bystander):
        await ws.close()
