"""What one statement costs the server's CPU, whatever the statement: the floor under REST's ratios.

Every figure is this process's CPU time per operation (`time.process_time`), one operation at a
time against the test PostgreSQL, through the app's own engine and session factory
(`core.db.create_engine`, `session_scope`: autocommit until a write, the checkout check):

- `session_idle`:       a request's session that sends nothing (who am I, from the session cache);
- `session_select_1`:   the same session running `SELECT 1` through the ORM session;
- `core_select_1`:      `SELECT 1` on the session's connection (SQLAlchemy Core, no ORM result);
- `asyncpg_select_1`:   `SELECT 1` on the driver's own connection, under the same session;
- `asyncpg_alone`:      `SELECT 1` on a bare asyncpg connection (no SQLAlchemy, no pool);
- `audit_insert`:       a read's audit record, alone in its session (`audit.record`, the plain
                        INSERT of `core.db._flush_lone_insert`);
- `chat_send`:          one chat message stored, as a socket's `chat.send` stores it
                        (`chat.service.send` in its own session: the visit locked and read, the
                        duplicate check, the next seq, the message, its audit record, the
                        recipient's notice mail folded in, the commit), the doctor's and the
                        patient's in turn on one visit.

The peer is asyncpg by itself: each figure's ratio to `asyncpg_alone` says what the layers above
the driver add per statement. A request of this app is the HTTP/ASGI part (`/livez`,
`bench/rest.py`) plus about one of these per statement.

    .venv/bin/python bench/db_round_trip.py                 # 3 s per operation, JSON on stdout
    .venv/bin/python bench/db_round_trip.py --seconds 10
    .venv/bin/python bench/db_round_trip.py --operations chat_send

Needs PostgreSQL (TELEVISIT_TEST_PG_URL, default postgres@127.0.0.1:5432): a database is created,
migrated and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository: tests.fixtures
sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import televisit_argv  # noqa: E402 - beside this file


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


async def measure(database_url: str, seconds: float, only: list[str]) -> dict[str, Any]:
    import asyncpg
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from televisit.appointments.models import Appointment
    from televisit.audit import service as audit
    from televisit.audit.models import Action
    from televisit.chat import service as chat
    from televisit.core.config import Settings
    from televisit.core.db import create_engine, create_sessionmaker, session_scope
    from televisit.users.models import Role, User

    engine = create_engine(Settings(_env_file=None, database_url=database_url))
    factory = create_sessionmaker(engine)
    select_1 = text("SELECT 1")
    now = datetime.now(UTC)

    class Actor:
        id = uuid.uuid4()
        role = "doctor"

    async def session_idle() -> None:
        async with session_scope(factory):
            pass

    async def session_select_1() -> None:
        async with session_scope(factory) as session:
            await session.execute(select_1)

    async def core_select_1() -> None:
        async with session_scope(factory) as session:
            await (await session.connection()).execute(select_1)

    async def asyncpg_select_1() -> None:
        async with session_scope(factory) as session:
            raw = await (await session.connection()).get_raw_connection()
            await raw.driver_connection.fetchval("SELECT 1")

    url = make_url(database_url)
    bare = await asyncpg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                 database=url.database)

    async def asyncpg_alone() -> None:
        await bare.fetchval("SELECT 1")

    async def audit_insert() -> None:
        async with session_scope(factory) as session:
            await audit.record(session, action=Action.appointment_list, actor=Actor,
                               object_type="appointment", object_id=None, now=now,
                               data={"filters": {}, "page": False, "count": 50})

    settings = Settings(_env_file=None, database_url=database_url)
    people = [User(id=uuid.uuid4(), email=f"{role}-{uuid.uuid4().hex[:8]}@example.org", full_name=role,
                   role=role, created_at=now, updated_at=now) for role in (Role.doctor, Role.patient)]
    visit = Appointment(id=uuid.uuid4(), doctor_id=people[0].id, patient_id=people[1].id,
                        starts_at=now + timedelta(days=1), duration_minutes=30,
                        ends_at=now + timedelta(days=1, minutes=30), created_at=now, updated_at=now)
    async with session_scope(factory) as session:
        session.add_all(people)
        await session.flush()
        session.add(visit)
    sent = 0

    async def chat_send() -> None:
        nonlocal sent
        sent += 1
        async with session_scope(factory) as session:
            await chat.send(session, settings=settings, user=people[sent % 2], appointment_id=visit.id,
                            client_msg_id=f"m{sent}", body="See you tomorrow at ten.", now=now)

    operations: dict[str, Callable[[], Awaitable[None]]] = {
        "asyncpg_alone": asyncpg_alone, "session_idle": session_idle, "session_select_1": session_select_1,
        "core_select_1": core_select_1, "asyncpg_select_1": asyncpg_select_1, "audit_insert": audit_insert,
        "chat_send": chat_send,
    }
    results: dict[str, Any] = {}
    try:
        for name, operation in operations.items():
            if only and name not in only and name != "asyncpg_alone":  # the peer is always measured
                continue
            for _ in range(200):  # warm: the pool, prepared statements, compiled-SQL cache
                await operation()
            done, cpu0, t0 = 0, time.process_time(), time.monotonic()
            while time.monotonic() - t0 < seconds:
                await operation()
                done += 1
            cpu_us = (time.process_time() - cpu0) / done * 1e6
            results[name] = {"operations": done, "cpu_us": round(cpu_us, 1)}
            log(f"  {name:18} {cpu_us:7.1f} µs CPU per operation ({done} operations)")
    finally:
        await bare.close()
        await engine.dispose()
    alone = results["asyncpg_alone"]["cpu_us"]
    for figures in results.values():
        figures["ratio_to_asyncpg_alone"] = round(figures["cpu_us"] / alone, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per operation")
    parser.add_argument("--operations", default="", help="comma-separated: only these (and asyncpg_alone)")
    args = parser.parse_args()
    from tests.fixtures.databases import create_pg_database, drop_pg_database

    database_url = create_pg_database("televisit_bench_round_trip")
    try:
        env = {**os.environ, "TELEVISIT_DATABASE_URL": database_url}
        subprocess.run([*televisit_argv(), "migrate"], env=env, check=True, capture_output=True)
        summary = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "loadavg_start": os.getloadavg()},
            "seconds": args.seconds,
            "operations": asyncio.run(measure(database_url, args.seconds,
                                                  [o for o in args.operations.split(",") if o])),
        }
        summary["machine"]["loadavg_end"] = os.getloadavg()
    finally:
        drop_pg_database(database_url)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
