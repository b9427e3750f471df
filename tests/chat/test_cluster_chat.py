"""Chat across two instances (PostgreSQL + Redis): nothing lost, nothing doubled."""

from __future__ import annotations

import httpx

from tests.chat.streaming import stream_through_drops
from tests.fixtures.factories import Factory
from tests.signaling.helpers import make_visit


async def test_sender_on_a_receiver_on_b_through_forced_disconnects(cluster):
    async with httpx.AsyncClient(base_url=cluster.a.http_url) as http:
        v = await make_visit(Factory(cluster.a.app, http, cluster.clock))
        await stream_through_drops(v, sender_url=cluster.a.ws_url, receiver_url=cluster.b.ws_url)
        # REST on either instance tells the same story.
        items = (await http.get(f"/api/v1/appointments/{v.id}/messages", params={"limit": 500},
                                headers=v.patient.headers)).json()["items"]
        assert [m["seq"] for m in items] == list(range(1, 201))
