"""The logger survives hostile requests, and no traceback can show a body or a frame's locals."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from televisit.auth import service as auth_service
from tests.fixtures.logs import console_lines

DEVELOPMENT = {"env": "development", "log_format": "console", "log_sql": True}
PRODUCTION_CONSOLE = {"env": "production", "log_format": "console"}


def nested(depth: int) -> Any:
    """An object ``depth`` levels deep (itself level 1)."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


# --- the development request logger -----------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [DEVELOPMENT])
@pytest.mark.parametrize("depth", [250, 1500])
async def test_a_deeply_nested_body_does_not_crash_the_development_logger(client, logs, depth):
    body = ('{"email": "deep@example.org", "password": "Sapphire-Lantern-Orchard-77", '
            '"full_name": "Deep Diver", "extra": ' + "[" * depth + "]" * depth + "}")
    response = await client.post("/api/v1/auth/register", content=body,
                                 headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    output = logs.getvalue()
    assert "unhandled_exception" not in output and "Traceback" not in output
    [line] = [entry for entry in console_lines(logs, "request") if entry["method"] == "POST"]
    assert line["status"] == str(response.status_code)
    assert "Sapphire-Lantern-Orchard-77" not in output


@pytest.mark.parametrize("settings_overrides", [DEVELOPMENT])
async def test_the_development_logger_shows_a_bounded_depth(client, logs):
    body = {"email": "a@example.org", "password": "Sapphire-Lantern-Orchard-77", "full_name": "A",
            "extra": nested(40)}
    await client.post("/api/v1/auth/register", json=body)
    [line] = [entry for entry in console_lines(logs, "request") if entry["method"] == "POST"]
    assert "..." in line["params"] and line["params"].count("{") < 12
    assert "'password': '[REDACTED]'" in line["params"]


# --- what a traceback could show ----------------------------------------------------------------

class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("settings_overrides", [DEVELOPMENT, PRODUCTION_CONSOLE], ids=["dev", "prod"])
async def test_our_middlewares_hold_no_raw_body_a_traceback_could_show(client, logs, records,
                                                                       monkeypatch, settings):
    """Even a debugger or a locals-showing formatter finds no password in our middlewares' frames."""
    password = "Sapphire-Lantern-Orchard-77"

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the user store is unreachable")

    monkeypatch.setattr(auth_service, "register_patient", broken)
    response = await client.post("/api/v1/auth/register", json={
        "email": "a@example.org", "password": password, "full_name": "A Person"})
    assert response.status_code == 500
    [crash] = [r for r in records.records if r.exc_info and "unhandled_exception" in str(r.msg)]
    assert crash.exc_info and crash.exc_info[2]
    tb, ours = crash.exc_info[2], 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.endswith(("televisit/core/limits.py", "televisit/core/logging.py")):
            ours += 1
            for name, value in tb.tb_frame.f_locals.items():
                assert password not in repr(value), (code.co_name, name)
        tb = tb.tb_next
    assert ours >= 2  # both middlewares were on the way
    assert password not in logs.getvalue()


@pytest.mark.parametrize("settings_overrides", [DEVELOPMENT, PRODUCTION_CONSOLE], ids=["dev", "prod"])
async def test_console_tracebacks_show_no_locals_even_with_rich_installed(app, client, logs):
    """Left to its default, structlog's ConsoleRenderer uses rich (installed here, for typer),
    which prints every frame's locals."""
    pytest.importorskip("rich")
    note = "-".join(["Patient", "reports", "chest", "pain"])  # built, so no source line shows it

    async def explode() -> None:
        clinical_note = note
        raise RuntimeError(f"kaboom {len(clinical_note)}")

    app.add_api_route("/api/v1/test-explode", explode, methods=["GET"])
    assert (await client.get("/api/v1/test-explode")).status_code == 500
    output = logs.getvalue()
    assert "Traceback (most recent call last)" in output
    assert f"RuntimeError: kaboom {len(note)}" in output and "in explode" in output
    assert note not in output
