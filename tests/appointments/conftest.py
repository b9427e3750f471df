from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests move the clock by hours; keep sessions alive so only appointment rules are under test."""
    return {"session_idle_timeout": 7 * 24 * 3600, "session_absolute_lifetime": 30 * 24 * 3600}
