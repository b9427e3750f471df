"""Televisit itself passes every check of the kit, on SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.contract.helpers import failed, run_kit


async def test_televisit_passes_every_check(kit_server):
    results = await run_kit(kit_server.options())
    assert failed(results) == {}
    assert [r.name for r in results if r.status != "PASS"] == []
