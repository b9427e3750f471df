from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.push.receiver import PushService, push_service


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        yield service


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The local push service's host is allowed, over http on loopback (a test-only setting).
    return {"push_allowed_hosts": ["127.0.0.1"], "push_allow_loopback": True, "push_sender_enabled": True}
