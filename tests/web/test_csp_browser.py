"""In Chromium, under the web app's real CSP (`connect-src 'self'`): a page opens and authenticates
its WebSocket to our own origin, and cannot open one to any other host."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from televisit.app import create_app
from televisit.web.spa import spa_route
from tests.e2e.conftest import launch
from tests.fixtures.app import client_for, make_settings
from tests.fixtures.browser import CHROMIUM, chromium_args
from tests.fixtures.live import serve
from tests.fixtures.services import service_missing

# A script file (script-src 'self'), as the web app's own code is.
PROBE = """
window.probe = (token, elsewhere) => new Promise((resolve) => {
  const seen = { ours: [], elsewhere: [], violations: [] };
  document.addEventListener("securitypolicyviolation", (e) => seen.violations.push(e.blockedURI));
  try {
    const other = new WebSocket(elsewhere);
    other.onopen = () => seen.elsewhere.push("open");
    other.onerror = () => seen.elsewhere.push("error");
  } catch (e) {
    seen.elsewhere.push("refused: " + e.name);
  }
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/v1/ws");
  ws.onopen = () => { seen.ours.push("open"); ws.send(JSON.stringify({ type: "auth", token })); };
  ws.onmessage = (e) => {
    seen.ours.push(JSON.parse(e.data).type);
    ws.close();
    setTimeout(() => resolve(seen), 300);
  };
  ws.onerror = () => { seen.ours.push("error"); resolve(seen); };
});
"""
INDEX = '<!doctype html><html><head><script src="/assets/probe.js"></script></head><body></body></html>'


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        service_missing("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
    return CHROMIUM


async def test_the_page_reaches_its_own_websocket_and_no_other_host(tmp_path, sqlite_template, chromium_path):
    db = tmp_path / "csp.db"
    shutil.copy(sqlite_template, db)
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "probe.js").write_text(PROBE)
    application = create_app(make_settings(f"sqlite+aiosqlite:///{db}"), configure_logs=False)
    spa_route(application).dist = dist
    async with application.router.lifespan_context(application), serve(application) as live:
        async with client_for(application) as http:
            email, password = "csp@example.org", "granite-otter-meadow-73"
            registered = await http.post("/api/v1/auth/register", json={
                "email": email, "password": password, "full_name": "Casey Policy"})
            assert registered.status_code == 202, registered.text
            login = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
            token = login.json()["access_token"]
        async with launch(chromium_path, chromium_args()) as browser:
            page = await browser.new_page()
            await page.goto(f"{live.http_url}/")
            elsewhere = f"ws://127.0.0.2:{live.port}/api/v1/ws"  # another origin, same server
            seen: dict[str, Any] = await page.evaluate("([t, e]) => window.probe(t, e)", [token, elsewhere])
    assert seen["ours"][:2] == ["open", "ready"], seen
    assert "open" not in seen["elsewhere"], seen
    assert any(v.startswith("ws://127.0.0.2") for v in seen["violations"]), seen
