"""/readyz reports the database, the broker and draining; whether a broker outage makes the
instance unready is a setting (the Kubernetes manifests turn it off: every pod shares one Redis)."""

from __future__ import annotations

import socket

import httpx
import pytest

from televisit.app import create_app
from televisit.core.clock import FakeClock
from tests.fixtures.app import START, make_settings
from tests.fixtures.live import serve


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize(("requires_broker", "status"), [(True, 503), (False, 200)])
async def test_a_broker_outage_is_reported_and_counts_only_if_configured(database_url, requires_broker,
                                                                         status):
    settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{closed_port()}/0",
                             readiness_requires_broker=requires_broker)
    app = create_app(settings, clock=FakeClock(START), configure_logs=False)
    async with serve(app) as live, httpx.AsyncClient(base_url=live.http_url) as http:
        response = await http.get("/readyz")
        assert response.status_code == status
        checks = response.json()["checks"]
        assert checks["database"] == "ok" and checks["broker"].startswith("error")
        # The process stays live either way: nothing restarts it.
        assert (await http.get("/livez")).status_code == 200
