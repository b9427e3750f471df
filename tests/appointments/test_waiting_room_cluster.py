"""The waiting room across two instances (PostgreSQL + Redis): the patient's socket is on A, the
doctor's on B; her presence is read, kept and ended from the database, on either instance."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from televisit.appointments.models import CheckIn, PatientPresence
from televisit.runtime import runtime_of
from tests.fixtures.factories import Factory
from tests.signaling.helpers import connect, make_visit, of_type, settle

CHECKS: dict[str, Any] = {"camera": "ok", "microphone": "skipped",
                          "network": {"rtt_ms": 80, "bitrate_kbps": None, "turn": "failed",
                                      "signaling_rtt_ms": 35}}


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_presence_across_instances(cluster):
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(base_url=a.http_url) as http_a, \
            httpx.AsyncClient(base_url=b.http_url) as http_b:
        v = await make_visit(Factory(a.app, http_a, cluster.clock))

        async def row() -> CheckIn | None:
            async with runtime_of(b.app).sessionmaker() as session:
                return await session.get(CheckIn, uuid.UUID(v.id))

        async def instances() -> set[str]:
            async with runtime_of(b.app).sessionmaker() as session:
                rows = await session.scalars(select(PatientPresence.instance_id))
                return set(rows.all())

        phone = await connect(a.ws_url, v.patient)  # her socket on A
        doctor_ws = await connect(b.ws_url, v.doctor)  # his on B

        async def on_a() -> bool:
            return await instances() == {runtime_of(a.app).instance_id}

        await until(on_a)

        # She checks in through B (REST goes to any instance); the doctor hears it on B.
        response = await http_b.post(f"/api/v1/appointments/{v.id}/check-in", json={"checks": CHECKS},
                                     headers=v.patient.headers)
        assert response.status_code == 200, response.text
        assert response.json()["check_in"]["present"] is True
        update = await doctor_ws.expect("appointment.updated")
        assert update["appointment"]["check_in"]["checks"] == CHECKS

        # B's sweep, long after the grace, leaves her in: her socket on A is still open.
        cluster.clock.advance(seconds=120)
        assert await runtime_of(b.app).presence.run_once() == 0
        assert (await row()).present is True

        # A second device on B, then the one on A closes: still connected (through B).
        laptop = await connect(b.ws_url, v.patient)

        async def on_both() -> bool:
            return len(await instances()) == 2

        await until(on_both)
        await phone.close()

        async def on_b() -> bool:
            return await instances() == {runtime_of(b.app).instance_id}

        await until(on_b)
        assert (await row()).away_since is None
        cluster.clock.advance(seconds=120)
        assert await runtime_of(a.app).presence.run_once() == 0

        # Her last socket (on B) closes; A's sweep ends her presence after the grace.
        await laptop.close()

        async def away() -> bool:
            found = await row()
            return found is not None and found.away_since is not None

        await until(away)
        cluster.clock.advance(seconds=31)
        assert await runtime_of(a.app).presence.run_once() == 1
        assert await runtime_of(b.app).presence.run_once() == 0  # once, whichever instance
        frames = await settle(doctor_ws, b.app, v.doctor.id)
        present = [f["appointment"]["check_in"]["present"] for f in of_type(frames, "appointment.updated")]
        assert present == [True, False]
        seen = (await http_a.get(f"/api/v1/appointments/{v.id}", headers=v.doctor.headers)).json()
        assert seen["check_in"]["present"] is False
        await doctor_ws.close()
