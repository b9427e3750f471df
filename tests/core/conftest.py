"""The log capture the core tests share."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from televisit.core.config import Settings
from tests.core.logs import captured_logs


@pytest.fixture
def logs(settings: Settings) -> Iterator[io.StringIO]:
    """Everything the app's real log handler writes during the test (settings as the app's)."""
    with captured_logs(settings) as stream:
        yield stream
