"""The server the kit runs against: Televisit on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.helpers import KitServer, televisit


@pytest.fixture
async def kit_server(database_url: str) -> AsyncIterator[KitServer]:
    async with televisit(database_url) as server:
        yield server
