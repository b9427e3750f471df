"""`python -m conformance` and `televisit conformance`, run as a second implementation's author would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.cli import main
from tests.contract.broken import DropNextCursor
from tests.contract.helpers import ADMIN_PASSWORD, televisit

PYTHON = sys.executable
TELEVISIT = str(Path(sys.executable).parent / "televisit")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def kit(*args: str, cwd: Path | None = None) -> Run:
    """The command in a subprocess (the server under test keeps serving in this event loop)."""
    env = {**os.environ, "CONFORMANCE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_a_failed_check_is_named_and_the_exit_code_says_so(database_url, tmp_path):
    async with televisit(database_url, DropNextCursor) as server:
        run = await kit(PYTHON, "-m", "conformance", *server.cli_args(), "--only", "visits.*",
                        cwd=tmp_path)  # anywhere: the venv finds the kit and its contract files
    assert run.code == 1, run
    lines = run.out.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["PASS", "visits.book"], ["PASS", "visits.read"], ["FAIL", "visits.list"], ["PASS", "visits.cancel"],
        ["PASS", "visits.overlap"]]
    assert "contract: GET /api/v1/appointments 200: $: 'next_cursor' is a required property" in lines[2]
    assert lines[-1].startswith("5 checks: 4 passed, 1 failed, 0 skipped in ")
    assert ADMIN_PASSWORD not in run.out + run.err


async def test_televisit_conformance_runs_the_kit_and_passes(database_url):
    async with televisit(database_url) as server:
        run = await kit(TELEVISIT, "conformance", *server.cli_args(), "--only", "auth.*",
                        "--only", "rooms.unused-timeout")
    assert run.code == 0, run
    assert run.out.splitlines() == [
        "PASS  auth.sign-in", "PASS  auth.sign-out",
        "SKIP  rooms.unused-timeout  needs a server started with a short room unused timeout: "
        "pass --room-unused-timeout", run.out.splitlines()[-1]]
    assert run.out.splitlines()[-1].startswith("3 checks: 2 passed, 0 failed, 1 skipped in ")


def test_usage_errors_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("CONFORMANCE_ADMIN_EMAIL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["http://127.0.0.1:9", "--admin-password", "x"])
    assert exited.value.code == 2 and "missing --admin-email" in capsys.readouterr().err
    assert main(["http://127.0.0.1:9", "--admin-email", "a@example.org", "--admin-password", "x",
                 "--openapi", "/nonexistent/openapi.json"]) == 2
    assert "cannot read /nonexistent/openapi.json" in capsys.readouterr().err
    assert main(["--list", "--only", "calls.*"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "calls.ringing", "calls.decline", "calls.cancel", "calls.video"]


def test_an_unreachable_server_fails_the_run_at_the_admin_sign_in(capsys):
    assert main(["http://127.0.0.1:9", "--admin-email", "a@example.org", "--admin-password", "x"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  setup.admin-sign-in  ConnectError")
    assert out[-1].startswith("1 checks: 0 passed, 1 failed, 0 skipped")
