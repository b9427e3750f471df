"""Chat: gap-free `seq`, idempotent `client_msg_id`, REST and WebSocket, replay after a reconnect."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from conformance.client import Person, Socket, expect_error, expect_status, require
from conformance.runner import Check, Context


def _messages(appointment_id: str) -> str:
    return f"/api/v1/appointments/{appointment_id}/messages"


async def _post(ctx: Context, person: Person, appointment_id: str, client_msg_id: str, body: str,
                status: int = 201) -> dict[str, Any]:
    message: dict[str, Any] = expect_status(await ctx.api.post(
        _messages(appointment_id), token=person.token, json={"client_msg_id": client_msg_id, "body": body}),
        status)
    return message


def _held(socket: Socket, appointment_id: str) -> int:
    """The highest `seq` up to which the socket holds every message (what a client syncs after)."""
    seqs = {f["message"]["seq"] for f in socket.frames
            if f.get("type") == "chat.message" and f["message"]["appointment_id"] == appointment_id}
    held = 0
    while held + 1 in seqs:
        held += 1
    return held


async def rest(ctx: Context) -> None:
    """POST gives `seq` 1, 2, 3...; the same `client_msg_id` again is 200 with the same message."""
    doctor, patient, stranger = await ctx.people("doctor", "patient", "patient")
    visit = await ctx.book(doctor, patient, starts_in=timedelta(hours=1))
    tag = uuid.uuid4().hex[:8]
    first = await _post(ctx, doctor, visit["id"], f"kit-{tag}-1", "Hello from the doctor")
    second = await _post(ctx, patient, visit["id"], f"kit-{tag}-2", "Hello from the patient")
    again = await _post(ctx, doctor, visit["id"], f"kit-{tag}-1", "Hello from the doctor", status=200)
    third = await _post(ctx, doctor, visit["id"], f"kit-{tag}-3", "Third")
    require([first["seq"], second["seq"], third["seq"]] == [1, 2, 3],
            f"seqs are {[first['seq'], second['seq'], third['seq']]}, expected 1, 2, 3")
    require(again == first, f"resending client_msg_id gave {again}, not the stored {first}")
    require((first["sender_id"], second["sender_id"], first["appointment_id"])
            == (doctor.id, patient.id, visit["id"]), f"message fields are {first}")
    history = expect_status(await ctx.api.get(_messages(visit["id"]), token=patient.token), 200)
    require(history["items"] == [first, second, third], f"history is {history['items']}")
    page = expect_status(await ctx.api.get(_messages(visit["id"]), token=doctor.token,
                                           params={"after_seq": 0, "limit": 2}), 200)
    require([m["seq"] for m in page["items"]] == [1, 2] and page["next_cursor"] is not None,
            f"limit=2 gave seqs {[m['seq'] for m in page['items']]}, next_cursor {page['next_cursor']!r}")
    rest_page = expect_status(await ctx.api.get(_messages(visit["id"]), token=doctor.token,
                                                params={"after_seq": page["next_cursor"], "limit": 2}), 200)
    require([m["seq"] for m in rest_page["items"]] == [3] and rest_page["next_cursor"] is None,
            f"after next_cursor came seqs {[m['seq'] for m in rest_page['items']]}")
    expect_error(await ctx.api.get(_messages(visit["id"]), token=stranger.token), 404)
    expect_error(await ctx.api.post(_messages(visit["id"]), token=stranger.token,
                                    json={"client_msg_id": f"kit-{tag}-x", "body": "let me in"}), 404)


async def websocket(ctx: Context) -> None:
    """`chat.send` is acked with its `seq`, reaches the other side as `chat.message`, and is
    idempotent; REST and WebSocket messages share one gap-free sequence."""
    doctor, patient, stranger = await ctx.people("doctor", "patient", "patient")
    visit = await ctx.book(doctor, patient, starts_in=timedelta(hours=1))
    d = await ctx.socket(doctor, "doctor socket")
    p = await ctx.socket(patient, "patient socket")
    tag = uuid.uuid4().hex[:8]
    send = {"type": "chat.send", "appointment_id": visit["id"], "client_msg_id": f"kit-{tag}-1", "body": "Hi"}
    ack = await d.request(send, "chat.ack")
    require((ack.get("seq"), ack.get("client_msg_id"), ack.get("appointment_id"))
            == (1, f"kit-{tag}-1", visit["id"]), f"the first ack is {ack}")
    live = await p.expect("chat.message",
                          message=lambda m: m["seq"] == 1 and m["appointment_id"] == visit["id"])
    require(live["message"]["id"] == ack["id"] and live["message"]["body"] == "Hi"
            and live["message"]["sender_id"] == doctor.id, f"the patient got {live['message']}")
    by_rest = await _post(ctx, patient, visit["id"], f"kit-{tag}-2", "Hi, doctor")
    require(by_rest["seq"] == 2, f"a REST message after a WebSocket one got seq {by_rest['seq']}")
    await d.expect("chat.message", message=lambda m: m["seq"] == 2 and m["id"] == by_rest["id"])
    again = await d.request(send, "chat.ack")
    require((again.get("seq"), again.get("id")) == (1, ack["id"]), f"resending client_msg_id gave {again}")
    third = await d.request({**send, "client_msg_id": f"kit-{tag}-3", "body": "See you"}, "chat.ack")
    require(third.get("seq") == 3, f"the third message got seq {third.get('seq')}")
    await p.expect("chat.message", message=lambda m: m["seq"] == 3)
    history = expect_status(await ctx.api.get(_messages(visit["id"]), token=doctor.token), 200)
    require([m["seq"] for m in history["items"]] == [1, 2, 3], "the history does not hold exactly 1, 2, 3")
    outsider = await ctx.socket(stranger, "stranger socket")
    await outsider.send({**send, "client_msg_id": f"kit-{tag}-x", "ref": "outsider"})
    refused = await outsider.expect("error", ref="outsider")
    require(refused["code"] == "appointment_not_found", f"a stranger's chat.send got {refused['code']!r}")
    await outsider.request({"type": "ping"}, "pong")


async def replay(ctx: Context) -> None:
    """After a reconnect, `chat.sync` from the last held `seq` brings exactly the missed messages, in
    order, then `chat.synced`."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient, starts_in=timedelta(hours=1))
    tag = uuid.uuid4().hex[:8]
    first = await ctx.socket(patient, "patient socket")
    for n in (1, 2):
        await _post(ctx, doctor, visit["id"], f"kit-{tag}-{n}", f"Message {n}")
    await first.wait_for(lambda: _held(first, visit["id"]) == 2, "chat.message 1 and 2", 5)
    held = _held(first, visit["id"])
    await first.close()
    missed = [await _post(ctx, doctor, visit["id"], f"kit-{tag}-{n}", f"Message {n}") for n in (3, 4, 5)]
    second = await ctx.socket(patient, "patient socket after reconnect")
    start = len(second.frames)
    synced = await second.request({"type": "chat.sync", "appointment_id": visit["id"], "after_seq": held},
                                  "chat.synced")
    replayed = [f["message"] for f in second.frames[start:second.frames.index(synced)]
                if f.get("type") == "chat.message" and f["message"]["appointment_id"] == visit["id"]]
    require(replayed == missed, f"chat.sync after seq {held} replayed seqs {[m['seq'] for m in replayed]}, "
                                f"expected {[m['seq'] for m in missed]} (the messages missed, in order)")
    require(synced.get("last_seq") == 5, f"chat.synced.last_seq is {synced.get('last_seq')}, expected 5")
    start = len(second.frames)
    empty = await second.request({"type": "chat.sync", "appointment_id": visit["id"], "after_seq": 5},
                                 "chat.synced")
    extra = [f for f in second.frames[start:second.frames.index(empty)] if f.get("type") == "chat.message"]
    require(not extra and empty.get("last_seq") == 5, "a sync with nothing missed replayed messages")


CHECKS = (
    Check("chat.rest", rest, "REST: gap-free seq, idempotent client_msg_id, pages, 404 for strangers"),
    Check("chat.websocket", websocket, "chat.send → chat.ack + chat.message, idempotent, one sequence"),
    Check("chat.replay", replay, "chat.sync after a reconnect brings exactly the missed messages"),
)
