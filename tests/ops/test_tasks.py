"""ops/tasks.py: each task's chain of awaits, identical chains counted once, and no values."""

from __future__ import annotations

import asyncio

from televisit.ops.tasks import task_chains


async def _inner(event: asyncio.Event, token: str) -> None:
    await event.wait()


async def _outer(event: asyncio.Event, token: str) -> None:
    await _inner(event, token)


async def test_chains_name_each_await_down_to_the_future_and_count_the_same_ones_once():
    event = asyncio.Event()
    waiting = [asyncio.create_task(_outer(event, "secret-token-value")) for _ in range(3)]
    other = asyncio.create_task(asyncio.sleep(30))
    await asyncio.sleep(0)
    try:
        chains = task_chains({*waiting, other})
        assert [c["count"] for c in chains] == [3, 1]
        awaits = chains[0]["awaits"]
        assert awaits[0].startswith("_outer (ops/test_tasks.py:")
        assert awaits[1].startswith("_inner (ops/test_tasks.py:")
        assert awaits[2].startswith("Event.wait (")
        assert awaits[-1] == "<Future>"
        assert chains[1]["awaits"][0].startswith("sleep (")
        assert "secret-token-value" not in repr(chains)
    finally:
        event.set()
        other.cancel()
        await asyncio.gather(*waiting, other, return_exceptions=True)
