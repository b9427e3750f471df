"""`schemathesis run --checks all` against Televisit on a real uvicorn, as a new user runs it: the
CLI, the server's own /api/v1/openapi.json, every phase (examples, coverage, fuzzing, stateful),
every check (positive and negative data, use after free, resource availability, auth...), and the
checkout's schemathesis.toml. It must find nothing, on SQLite and on PostgreSQL.

Signed in as the role each operation is for (a doctor books, an admin administers, a patient does
the rest) with real tokens from POST /auth/login; a token of its own for logout, which kills it.
Some generated bookings name the real patient and some visit ids a real visit, so the stateful
phase follows links from a real booking. Sign-in and registration throttling are raised in this
app's settings (only here), so that thousands of generated sign-ins are not answered 429.

Bounded: MAX_EXAMPLES per operation and a fixed seed, about a minute per backend on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from televisit.app import create_app
from televisit.core.clock import FakeClock
from tests.fixtures.app import START, make_settings
from tests.fixtures.factories import Factory, Person
from tests.fixtures.live import serve

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 25
SEED = 20301
ADMIN = "^/api/v1/admin/"


def _operations() -> tuple[int, int]:
    """How many operations the committed contract has, and how many of them are the admin API's:
    the run must test every one (a new route is never silently left out)."""
    document = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    counts = [(path.startswith("/api/v1/admin/"), method) for path, item in document["paths"].items()
              for method in item if method in {"get", "put", "post", "delete", "patch"}]
    return len(counts), sum(1 for admin, _ in counts if admin)


OPERATIONS, ADMIN_OPERATIONS = _operations()
# What the operations need beyond the patient (the default).
DOCTOR_OPERATIONS = [
    "appointments-create", "appointments-next-free", "appointments-update", "patients-search",
]
UNTHROTTLED = {
    "login_max_failures_per_account_ip": 10**6, "login_max_failures_per_account": 10**6,
    "login_max_failures_per_ip": 10**6, "login_max_failures_per_device": 10**6,
    "registration_max_per_ip": 10**6, "registration_max_total": 10**6,
    "password_reset_max_per_ip": 10**6, "password_reset_max_per_account": 10**6,
}


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _bearer(token: str | None) -> str:
    return f'headers = {{ Authorization = "Bearer {token}" }}'


@dataclass
class Seeded:
    url: str
    doctor: Person
    patient: Person
    admin: Person
    logout_token: str
    visit_id: str
    free_starts: list[str]


def run_config(seeded: Seeded) -> str:
    """The checkout's schemathesis.toml, who signs in for what, and real values to use now and then."""
    return "\n".join([
        f'base-url = "{seeded.url}"',
        f"seed = {SEED}",
        _bearer(seeded.patient.token),
        (ROOT / "schemathesis.toml").read_text(),
        "[[operations]]", f"include-operation-id = {_toml_list(DOCTOR_OPERATIONS)}",
        _bearer(seeded.doctor.token),
        "[[operations]]", 'include-path-regex = "^/api/v1/admin/"', _bearer(seeded.admin.token),
        "[[operations]]", 'include-operation-id = "auth-logout"', _bearer(seeded.logout_token),
        # No replay of an earlier run's failures: each run is its seed's alone.
        "[cache]", "enabled = false",
        "[dictionaries.patients]", f'values = ["{seeded.patient.id}"]',
        "[dictionaries.visits]", f'values = ["{seeded.visit_id}"]',
        "[dictionaries.starts]", f"values = {_toml_list(seeded.free_starts)}",
        "[parameters]",
        '"body.patient_id" = { dictionary = "patients", probability = 0.5 }',
        '"body.starts_at" = { dictionary = "starts", probability = 0.5 }',
        '"path.appointment_id" = { dictionary = "visits", probability = 0.3 }',
        "",
    ])


async def run_schemathesis(config: Path, url: str, *selection: str) -> tuple[int, str]:
    """The CLI in a subprocess (this test's event loop serves the app meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{url}/api/v1/openapi.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
        "--generation-database", "none", "--no-color", *selection,
        *os.environ.get("TELEVISIT_SCHEMATHESIS_ARGS", "").split(),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def seed(factory: Factory, url: str, now: datetime) -> Seeded:
    doctor, patient, admin = await factory.doctor(), await factory.patient(), await factory.admin()
    logout_token = await factory.login(patient)
    await factory.login(patient)
    # Starting soon: its call can start and its chat is open.
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=10))
    free_starts = [(now + timedelta(days=day, hours=1)).isoformat() for day in range(1, 6)]
    return Seeded(url=url, doctor=doctor, patient=patient, admin=admin, logout_token=logout_token,
                  visit_id=visit["id"], free_starts=free_starts)


def assert_clean(code: int, output: str, tested: int) -> None:
    summary = output[output.rfind("SUMMARY"):]
    assert code == 0, f"schemathesis found something (exit {code}):\n{output[-8000:]}"
    assert f"Tested: {tested}" in summary, summary
    # Every operation was reached as someone allowed to use it.
    assert "Authentication failed" not in summary, summary


async def test_schemathesis_checks_all_find_nothing(database_url, tmp_path):
    settings = make_settings(database_url, log_level="CRITICAL", **UNTHROTTLED)
    clock = FakeClock(START)
    app = create_app(settings, clock=clock, configure_logs=False)
    async with serve(app) as live, httpx.AsyncClient(base_url=live.http_url, timeout=30) as client:
        seeded = await seed(Factory(app, client, clock), live.http_url, clock.now())
        config = tmp_path / "schemathesis.toml"
        config.write_text(run_config(seeded))
        # The admin API last: deactivating or signing out the accounts the rest signs in with
        # (their ids come back in its lists) would leave those operations nothing but 401s.
        everyone = await run_schemathesis(config, live.http_url, "--exclude-path-regex", ADMIN)
        admins = await run_schemathesis(config, live.http_url, "--include-path-regex", ADMIN)
    print(everyone[1], admins[1])  # pytest shows them when the test fails
    assert_clean(*everyone, tested=OPERATIONS - ADMIN_OPERATIONS)
    assert_clean(*admins, tested=ADMIN_OPERATIONS)
