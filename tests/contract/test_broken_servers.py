"""The kit fails a server that breaks one rule, and names exactly the check that covers it."""

from __future__ import annotations

import pytest

from tests.contract.broken import AckWithoutSeq, DropNextCursor
from tests.contract.helpers import failed, run_kit, televisit


@pytest.fixture
def backend() -> str:
    """One backend is enough here: the wrappers break the same answer on either."""
    return "sqlite"


async def test_a_visits_list_without_next_cursor_fails_only_visits_list(database_url):
    async with televisit(database_url, DropNextCursor) as server:
        results = await run_kit(server.options())
    assert list(failed(results)) == ["visits.list"]
    reason = failed(results)["visits.list"]
    assert reason.startswith(
        "contract: GET /api/v1/appointments 200: $: 'next_cursor' is a required property")


async def test_a_chat_ack_without_seq_fails_only_chat_websocket(database_url):
    async with televisit(database_url, AckWithoutSeq) as server:
        results = await run_kit(server.options())
    assert list(failed(results)) == ["chat.websocket"]
    reason = failed(results)["chat.websocket"]
    assert reason.startswith("contract: doctor socket: chat.ack frame: $: 'seq' is a required property")
