"""Property-based sweep of the whole API with schemathesis: whatever a client sends, no 5xx,
and every answer matches the OpenAPI document (status, content type, headers, body schema).

SQLite only, a bounded number of examples per operation, signed in as each role. The schema is
the app's own document (what `televisit openapi` prints); the calls go in-process to an app on
a seeded database.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from televisit.app import create_app
from televisit.appointments import service as appointments_service
from televisit.auth.models import AuthSession
from televisit.auth.repository import AuthSessionRepository
from televisit.core.clock import FakeClock
from televisit.core.config import Settings
from televisit.core.db import create_engine, create_sessionmaker, session_scope
from televisit.core.security import Passwords, token_digest
from televisit.users import service as users_service
from televisit.users.models import Role
from tests.fixtures.app import START, make_settings
from tests.fixtures.factories import PASSWORD

# In `make test`'s second, one-process part: schemathesis gives every operation's test the same
# name (110 items, 3 names), and pytest-xdist's group scheduling keys its work by name, so in the
# parallel part 107 of them would silently never run (tests/conftest.py refuses that).
pytestmark = pytest.mark.serial

MAX_EXAMPLES = 10
LOGOUT = "auth-logout"
# Known before collection, because schemathesis builds some cases (and asks for auth) then;
# the seeded database gets sessions for exactly these tokens.
TOKENS = {role: secrets.token_urlsafe(32) for role in Role}


@dataclass
class Seeded:
    appointment_id: uuid.UUID


async def _seed(settings: Settings, now: datetime) -> Seeded:
    """A person of every role signed in with their TOKENS entry, and a booked visit."""
    engine = create_engine(settings)
    passwords = Passwords(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            people = {}
            for role in Role:
                people[role] = person = await users_service.create_user(
                    session, passwords=passwords, email=f"fuzz-{role.value}@example.org",
                    password=PASSWORD, full_name=f"Fuzz {role.value.title()}", role=role, now=now,
                )
                await AuthSessionRepository(session).add(AuthSession(
                    user_id=person.id, token_digest=token_digest(settings.secret_key, TOKENS[role]),
                    created_at=now, last_seen_at=now,
                    expires_at=now + timedelta(seconds=settings.session_absolute_lifetime),
                ))
            appointment = await appointments_service.book(
                session, settings=settings, doctor=people[Role.doctor],
                patient_id=people[Role.patient].id, starts_at=now + timedelta(minutes=10),
                duration_minutes=30, reason="Fuzzing", now=now,
            )
        return Seeded(appointment_id=appointment.id)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def fuzz_target(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, Seeded]]:
    path = tmp_path_factory.mktemp("fuzz") / "televisit.db"
    shutil.copy(sqlite_template, path)
    app_settings = make_settings(
        f"sqlite+aiosqlite:///{path}",
        # Fuzzed logins fail a lot; keep throttling out of the way of the other operations.
        login_max_failures_per_ip=10**6, login_max_failures_per_account=10**6,
        login_max_failures_per_account_ip=10**6,
    )
    clock = FakeClock(START)
    seeded = asyncio.run(_seed(app_settings, clock.now()))
    app = create_app(app_settings, clock=clock, configure_logs=False)
    yield app, seeded
    # schemathesis runs the app's lifespan on its own event loop thread; end it with the module.
    asgi.shutdown_lifespans()


schema = schemathesis.openapi.from_dict(
    create_app(Settings(), configure_logs=False).openapi(),
    config=schemathesis.Config.from_dict({
        "base-url": "http://testserver",
        "checks": {
            # Checked, with the refusals each operation publishes (`x-error-codes`: a visit in the
            # past, a weak password, a foreign cursor), by tests/contract/test_schemathesis.py,
            # which runs the CLI with the checkout's schemathesis.toml against a live server.
            "positive_data_acceptance": {"enabled": False},
            # Too big is a fine way to refuse data that is too long (the body limit is 64 KiB).
            "negative_data_rejection": {"expected-statuses": [
                "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
            ]},
        },
    }),
)


def bearer(role: Role) -> type:
    """A schemathesis auth provider that signs every case in as `role`."""

    class Bearer:
        def get(self, _case: schemathesis.Case, _context: schemathesis.AuthContext) -> str:
            return TOKENS[role]

        def set(self, case: schemathesis.Case, token: str, _context: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    return Bearer


def fresh_token(app: FastAPI, role: Role) -> str:
    with asgi.get_client(app) as client:
        response = client.post(
            "/api/v1/auth/login",
            json={"email": f"fuzz-{role.value}@example.org", "password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def sweep(case: schemathesis.Case, fuzz_target: tuple[FastAPI, Seeded], role: Role) -> None:
    app, seeded = fuzz_target
    # Checks that send probes of their own (e.g. without the token) must reach the same app.
    case.operation.schema.app = app
    if case.operation.definition.raw.get("operationId") == LOGOUT and case.headers:
        # Logging out must not kill the token every other example uses.
        case.headers["Authorization"] = f"Bearer {fresh_token(app, role)}"
    appointment_id = (case.path_parameters or {}).get("appointment_id")
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and appointment_id is not None and zlib.crc32(str(appointment_id).encode()) % 3 == 0:
        # Some valid examples aim at a visit that exists, so the success paths run too.
        case.path_parameters["appointment_id"] = str(seeded.appointment_id)
    case.call_and_validate(app=app)


SWEEP = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@SWEEP
@schema.auth.apply(bearer(Role.doctor))
def test_api_as_doctor(case, fuzz_target):
    sweep(case, fuzz_target, Role.doctor)


@schema.parametrize()
@SWEEP
@schema.auth.apply(bearer(Role.patient))
def test_api_as_patient(case, fuzz_target):
    sweep(case, fuzz_target, Role.patient)


@schema.include(path_regex="^/api/v1/admin/").parametrize()
@SWEEP
@schema.auth.apply(bearer(Role.admin))
def test_admin_api_as_admin(case, fuzz_target):
    sweep(case, fuzz_target, Role.admin)
