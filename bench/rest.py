"""REST benchmark: what an authenticated request costs against the same server's `/livez`.

`televisit serve` with production settings (JSON logs at INFO, `TELEVISIT_ENV=production`) runs
pinned to core 0; Debian's `wrk` (one thread, `--connections` connections, closed loop) runs
pinned to core 1. For each backend (PostgreSQL, SQLite) the tables are filled with a bulk SQL
insert (PostgreSQL `generate_series`, SQLite a recursive CTE) to each size in turn (default 1k,
100k and 1M visits), the server is started on them, and each endpoint is driven for
``--duration`` seconds:

- `livez`:         GET /livez (no auth, no database): the baseline of the ratios;
- `me`:            GET /api/v1/me (a doctor's token);
- `list_doctor`:   GET /api/v1/appointments?from=..&to=.. (the doctor's full day: a page of 50);
- `list_patient`:  GET /api/v1/appointments (a patient's first page of 50);
- `visit`:         GET /api/v1/appointments/{id} (the doctor, one of the day's visits in turn);
- `book`:          POST /api/v1/appointments (the doctor books a new 5-minute slot each request);
- `chat`:          POST /api/v1/appointments/{id}/messages (the doctor, a new message each time).

It prints one JSON summary: per backend and size, each endpoint's requests/s, latency p50/p99,
the server's CPU µs per request (its own process, from /proc: the least noisy figure on a shared
machine), its resident memory after the endpoint's load, and the ratio of requests/s to `/livez`
of the same run, against the issue 14 targets (list >= 0.3x, /me >= 0.5x on PostgreSQL; flat
within 20% from the smallest size to the largest).

    .venv/bin/python bench/rest.py                    # ~10 minutes, both backends, 1k/100k/1M
    .venv/bin/python bench/rest.py --quick            # smoke run: 1k visits, 2 s per endpoint
    .venv/bin/python bench/rest.py --backend postgres --sizes 100000 --profile /tmp/prof
    .venv/bin/python bench/rest.py --backend postgres --sizes 1000 --endpoints me,list_doctor
    .venv/bin/python bench/rest.py --backend postgres --sizes 1000 --in-process   # the app alone

Needs `wrk` (Debian: `apt-get install wrk`) and PostgreSQL (TELEVISIT_TEST_PG_URL, default
postgres@127.0.0.1:5432; a fresh database is created and dropped). `--profile DIR` records the
server with py-spy (if on the PATH) while each endpoint runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository: tests.fixtures
sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import free_port, stop, televisit_argv, wait_for_port  # noqa: E402 - beside this file

TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CORE, CLIENT_CORE = 0, 1
DOCTORS = 500
PATIENTS = 50_000
PAGE = 50  # the doctor's full day, and the patient's extra visits: one page each
# Generic visits lie in [now - 365 days, now + 180 days); the doctor's full day and the booked
# slots come after, so the day holds exactly PAGE visits and bookings never overlap anything.
SPAN_SLOTS = 545 * 24 * 6  # 10-minute slots
FULL_DAY_AFTER = timedelta(days=190)
BOOKING_AFTER = timedelta(days=200)
BOOKING_STEP = 5 * 60  # seconds between booked slots (5-minute visits)
ENDPOINTS = ("livez", "me", "list_doctor", "list_patient", "visit", "book", "chat")
TARGETS = {"list_doctor": 0.3, "list_patient": 0.3, "me": 0.5}
FLAT = 0.2


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- the database ---------------------------------------------------------------------------
@dataclass
class World:
    """What the load needs to know about the filled database."""

    now: datetime
    doctor_token: str
    patient_token: str
    patient_id: uuid.UUID  # booked by the doctor (any patient: each booking takes a new slot)
    day: datetime  # the doctor's full day (midnight UTC)
    day_visits: list[uuid.UUID]


def doctor_id(i: int) -> uuid.UUID:
    return uuid.UUID(f"d0c00000{i:024x}")


def patient_id(i: int) -> uuid.UUID:
    return uuid.UUID(f"fa700000{i:024x}")


def _uid_sql(dialect: str, prefix: str, expr: str) -> str:
    """The id of person number ``expr``: the same value as doctor_id()/patient_id() above."""
    if dialect == "sqlite":  # Uuid on SQLite: 32 hex digits, no dashes
        return f"printf('{prefix}%024x', {expr})"
    return f"('{prefix}' || lpad(to_hex({expr}), 24, '0'))::uuid"


def _time_sql(dialect: str, epoch_expr: str) -> str:
    if dialect == "sqlite":  # UTCDateTime on SQLite: naive UTC text, as SQLAlchemy writes it
        return f"(strftime('%Y-%m-%d %H:%M:%S', {epoch_expr}, 'unixepoch') || '.000000')"
    return f"to_timestamp({epoch_expr})"


def _series(dialect: str, start: int, stop_: int) -> str:
    """A row source of ``g`` from start to stop_ inclusive."""
    if dialect == "sqlite":
        return (f"(WITH RECURSIVE s(g) AS (SELECT {start} UNION ALL SELECT g + 1 FROM s "
                f"WHERE g < {stop_}) SELECT g FROM s)")
    return f"generate_series({start}, {stop_})"


def _new_id(dialect: str) -> str:
    return "lower(hex(randomblob(16)))" if dialect == "sqlite" else "gen_random_uuid()"


async def fill_people(engine: Any, now: datetime) -> None:
    from sqlalchemy import text

    dialect = engine.dialect.name
    at = _time_sql(dialect, str(int(now.timestamp())))
    true = "1" if dialect == "sqlite" else "true"
    async with engine.begin() as conn:
        for role, count, prefix, word in (("doctor", DOCTORS, "d0c00000", "Doctor"),
                                          ("patient", PATIENTS, "fa700000", "Patient")):
            await conn.execute(text(
                f"INSERT INTO users (id, email, full_name, role, password_hash, is_active, time_zone, "
                f"created_at, updated_at) SELECT {_uid_sql(dialect, prefix, 'g')}, "
                f"'{role}' || g || '@bench.example', '{word} ' || g, '{role}', NULL, {true}, 'UTC', "
                f"{at}, {at} FROM {_series(dialect, 0, count - 1)}"
                + (" AS s(g)" if dialect != "sqlite" else "")
            ))


async def fill_visits(engine: Any, now: datetime, start: int, stop_: int) -> None:
    """Generic visits number start..stop_ (1-based) spread over doctors, patients and 545 days."""
    from sqlalchemy import text

    if stop_ < start:
        return
    dialect = engine.dialect.name
    base = int((now - timedelta(days=365)).timestamp()) // 600 * 600
    now_epoch = int(now.timestamp())
    g = "g" if dialect == "sqlite" else "g::bigint"  # g * 7919 passes 2**31 at 271,000 visits
    starts = f"({base} + (({g} * 7919) % {SPAN_SLOTS}) * 600)"
    chunk = 200_000
    for lo in range(start, stop_ + 1, chunk):
        hi = min(stop_, lo + chunk - 1)
        sql = (
            "INSERT INTO appointments (id, doctor_id, patient_id, starts_at, duration_minutes, ends_at, "
            "status, created_at, updated_at) "
            f"SELECT {_new_id(dialect)}, {_uid_sql(dialect, 'd0c00000', f'g % {DOCTORS}')}, "
            f"{_uid_sql(dialect, 'fa700000', f'g % {PATIENTS}')}, {_time_sql(dialect, starts)}, 30, "
            f"{_time_sql(dialect, f'{starts} + 1800')}, "
            f"CASE WHEN {starts} + 1800 <= {now_epoch} THEN 'completed' ELSE 'scheduled' END, "
            f"{_time_sql(dialect, str(now_epoch))}, {_time_sql(dialect, str(now_epoch))} "
            f"FROM {_series(dialect, lo, hi)}" + (" AS s(g)" if dialect != "sqlite" else "")
        )
        async with engine.begin() as conn:
            await conn.execute(text(sql))


async def measured_people(engine: Any, settings: Any, now: datetime) -> World:
    """The doctor's full day, the patient's extra visits (through the ORM: the app's own types)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from televisit.appointments.models import Appointment, AppointmentStatus

    day = (now + FULL_DAY_AFTER).replace(hour=0, minute=0, second=0, microsecond=0)
    visits = []
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for k in range(PAGE):
            starts = day + timedelta(hours=8, minutes=10 * k)
            visits.append(Appointment(
                id=uuid.uuid4(), doctor_id=doctor_id(0), patient_id=patient_id(k + 1), starts_at=starts,
                duration_minutes=10, ends_at=starts + timedelta(minutes=10),
                status=AppointmentStatus.scheduled, created_at=now, updated_at=now))
        for k in range(PAGE):  # the patient's own visits, with several doctors, past and future
            starts = (now - timedelta(days=300) + timedelta(days=7 * k)).replace(minute=0, second=0,
                                                                                microsecond=0)
            status = AppointmentStatus.completed if starts < now else AppointmentStatus.scheduled
            session.add(Appointment(
                doctor_id=doctor_id(k % DOCTORS), patient_id=patient_id(0), starts_at=starts,
                duration_minutes=30, ends_at=starts + timedelta(minutes=30), status=status,
                created_at=now, updated_at=now))
        session.add_all(visits)
        await session.commit()
    return World(now=now, doctor_token="", patient_token="", patient_id=patient_id(PAGE + 1), day=day,
                 day_visits=[v.id for v in visits])


async def new_sessions(engine: Any, settings: Any, world: World) -> None:
    """A fresh session for the doctor and the patient (as a sign-in would leave it)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from televisit.auth.models import AuthSession
    from televisit.core.security import token_digest

    now = datetime.now(UTC)
    tokens = []
    async with AsyncSession(engine) as session:
        for user in (doctor_id(0), patient_id(0)):
            token = secrets.token_urlsafe(32)
            session.add(AuthSession(user_id=user, token_digest=token_digest(settings.secret_key, token),
                                    created_at=now, last_seen_at=now, client_ip="127.0.0.1",
                                    expires_at=now + timedelta(seconds=settings.session_absolute_lifetime)))
            tokens.append(token)
        await session.commit()
    world.doctor_token, world.patient_token = tokens


async def analyze(engine: Any) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def explain_list(engine: Any, world: World) -> dict[str, list[str]]:
    """The plans of the list's statements as the server runs them, for the report."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql, sqlite

    from televisit.appointments.repository import AppointmentRepository

    dialect = postgresql.dialect() if engine.dialect.name == "postgresql" else sqlite.dialect()
    plans: dict[str, list[str]] = {}
    captured: list[Any] = []

    class Capture:
        async def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
            captured.append(stmt.params(params) if params else stmt)  # the values in place
            raise _Stop

        async def connection(self) -> Any:  # the page runs on the session's connection
            return self

    for name, user, kwargs in (
        ("list_doctor", doctor_id(0), {"starts_from": world.day, "starts_to": world.day + timedelta(days=1)}),
        ("list_patient", patient_id(0), {"starts_from": None, "starts_to": None}),
    ):
        captured.clear()
        repo = AppointmentRepository(Capture())  # type: ignore[arg-type]
        try:
            await repo.list_for_user(user, status=None, after=None, limit=PAGE + 1, now=world.day, **kwargs)
        except _Stop:
            pass
        stmt = captured[0]
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        async with engine.connect() as conn:
            rows = (await conn.execute(text(prefix + sql))).all()
        plans[name] = [str(r[-1]) for r in rows]
    return plans


class _Stop(Exception):
    pass


# -- the server -----------------------------------------------------------------------------
def server_env(database_url: str, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEVISIT_")}
    env.update({
        "TELEVISIT_ENV": "production",
        "TELEVISIT_SECRET_KEY": secret_key,
        "TELEVISIT_DATABASE_URL": database_url,
        "TELEVISIT_LOG_FORMAT": "json",
        "TELEVISIT_LOG_LEVEL": "INFO",
        "TELEVISIT_DRAIN_GRACE": "0",
    })
    return env


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    """The server's resident memory now (after an endpoint's load: what its collector left)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# -- the load -------------------------------------------------------------------------------
LUA_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    '\nRESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def lua_script(endpoint: str, world: World, run: int) -> str:
    token = world.patient_token if endpoint == "list_patient" else world.doctor_token
    visits = ", ".join(f'"{v}"' for v in world.day_visits)
    day_from = world.day.strftime("%Y-%m-%dT%H:%M:%SZ")
    day_to = (world.day + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    book_base = int((world.now + BOOKING_AFTER).timestamp()) // 3600 * 3600 + run * 40 * 86400
    head = f"""
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local visits = {{{visits}}}
local n = 0
"""
    bodies = {
        "livez": 'return wrk.format("GET", "/livez")',
        "me": 'return wrk.format("GET", "/api/v1/me")',
        "list_doctor": f'return wrk.format("GET", "/api/v1/appointments?from={day_from}&to={day_to}")',
        "list_patient": 'return wrk.format("GET", "/api/v1/appointments")',
        "visit": 'return wrk.format("GET", "/api/v1/appointments/" .. visits[n % #visits + 1])',
        "book": (
            f'local at = os.date("!%Y-%m-%dT%H:%M:%SZ", {book_base} + n * {BOOKING_STEP})\n'
            f'  return wrk.format("POST", "/api/v1/appointments", nil, string.format('
            f'\'{{"patient_id":"{world.patient_id}","starts_at":"%s","duration_minutes":5}}\', at))'
        ),
        "chat": (
            'return wrk.format("POST", "/api/v1/appointments/" .. visits[n % #visits + 1] .. "/messages", '
            f'nil, string.format(\'{{"client_msg_id":"bench-{run}-%d",'
            '"body":"How are you feeling today?"}\', n))'
        ),
    }
    return head + f"request = function()\n  n = n + 1\n  {bodies[endpoint]}\nend\n" + LUA_DONE


def drive(url: str, script: Path, *, seconds: float, connections: int) -> dict[str, Any]:
    argv = ["taskset", "-c", str(CLIENT_CORE), "wrk", "-t1", f"-c{connections}",
            f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def run_endpoints(world: World, base_url: str, server_pid: int, workdir: Path, args: argparse.Namespace,
                  run: int, profile_dir: Path | None, label: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    endpoints = [e for e in ENDPOINTS if e == "livez" or e in args.endpoints]
    for endpoint in endpoints:
        script = workdir / f"{endpoint}.lua"
        # The warm-up books and posts too: its own slots and message ids (run + 100).
        script.write_text(lua_script(endpoint, world, run + 100))
        drive(base_url, script, seconds=args.warmup, connections=args.connections)
        script.write_text(lua_script(endpoint, world, run))
        spy = None
        if profile_dir is not None and shutil.which("py-spy"):
            profile_dir.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(server_pid), "--rate", "200", "--format", "speedscope",
                 "--duration", str(int(args.duration)), "--output",
                 str(profile_dir / f"{label}-{endpoint}.speedscope.json")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        cpu0, t0 = cpu_seconds(server_pid), time.monotonic()
        raw = drive(base_url, script, seconds=args.duration, connections=args.connections)
        cpu = cpu_seconds(server_pid) - cpu0
        wall = time.monotonic() - t0
        if spy is not None:
            spy.wait()
        requests = raw["requests"]
        rps = requests / (raw["duration_us"] / 1e6)
        results[endpoint] = {
            "rps": round(rps, 1),
            "p50_ms": round(raw["p50_us"] / 1000, 2),
            "p99_ms": round(raw["p99_us"] / 1000, 2),
            "server_cpu_us_per_req": round(cpu / requests * 1e6, 1) if requests else None,
            "server_core_util": round(cpu / wall, 2),
            "non2xx": raw["non2xx"],
            "socket_errors": raw["socket_errors"],
            "server_rss_mib": rss_mib(server_pid),
        }
        log(f"  {label} {endpoint:13} {rps:8.1f} req/s  p50 {raw['p50_us'] / 1000:6.2f} ms  "
            f"p99 {raw['p99_us'] / 1000:6.2f} ms  cpu {results[endpoint]['server_cpu_us_per_req']} µs/req  "
            f"rss {results[endpoint]['server_rss_mib']} MiB"
            + (f"  NON-2XX {raw['non2xx']}" if raw["non2xx"] else ""))
    livez = results["livez"]["rps"]
    for endpoint in endpoints:
        results[endpoint]["ratio_to_livez"] = round(results[endpoint]["rps"] / livez, 3)
        cpu_l, cpu_e = results["livez"]["server_cpu_us_per_req"], results[endpoint]["server_cpu_us_per_req"]
        results[endpoint]["cpu_ratio_livez_over_this"] = round(cpu_l / cpu_e, 3) if cpu_l and cpu_e else None
    return results


IN_PROCESS = ("livez", "me", "list_doctor", "list_patient", "visit")  # GETs: the same request each time


async def measure_in_process(world: World, settings: Any, args: argparse.Namespace, label: str
                             ) -> dict[str, Any]:
    """`--in-process`: the app's own CPU per request, without uvicorn, HTTP or wrk.

    The app (production settings, its JSON logs written to /dev/null, the heap settled as
    `televisit serve` settles it) is called through ASGI in this process, one request at a time,
    for ``--duration`` seconds per endpoint; the figure is this process's CPU time per request.
    What `serve`'s figures add to these is uvicorn's HTTP handling (and, with ten connections at
    once, requests that overlap on the event loop).
    """
    from televisit.app import create_app
    from televisit.core.logging import configure_logging
    from televisit.ops.server import settle_heap

    app = create_app(settings, configure_logs=False)
    results: dict[str, Any] = {}
    with Path(os.devnull).open("w") as devnull:  # noqa: ASYNC230 - /dev/null does not block
        configure_logging(settings, stream=devnull)
        async with app.router.lifespan_context(app):
            settle_heap()  # as `televisit serve` does once started
            for endpoint in (e for e in IN_PROCESS if e == "livez" or e in args.endpoints):
                requests = [_asgi_get(app, world, endpoint, n) for n in range(len(world.day_visits))]
                done, t_end = 0, time.monotonic() + args.warmup
                while time.monotonic() < t_end:
                    await requests[done % len(requests)]()
                    done += 1
                done, cpu0, t0 = 0, time.process_time(), time.monotonic()
                while time.monotonic() - t0 < args.duration:
                    await requests[done % len(requests)]()
                    done += 1
                cpu_us = (time.process_time() - cpu0) / done * 1e6
                results[endpoint] = {"requests": done, "cpu_us_per_req": round(cpu_us, 1)}
                log(f"  {label} in-process {endpoint:13} {cpu_us:8.1f} µs/req ({done} requests)")
    livez = results["livez"]["cpu_us_per_req"]
    for figures in results.values():
        figures["cpu_ratio_livez_over_this"] = round(livez / figures["cpu_us_per_req"], 3)
    return results


def _asgi_get(app: Any, world: World, endpoint: str, n: int) -> Any:
    """One GET of ``endpoint`` (the n-th of the day's visits for `visit`) as a callable."""
    day = world.day.strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = {
        "livez": ("/livez", ""),
        "me": ("/api/v1/me", ""),
        "list_doctor": ("/api/v1/appointments",
                        f"from={day}&to={(world.day + timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}"),
        "list_patient": ("/api/v1/appointments", ""),
        "visit": (f"/api/v1/appointments/{world.day_visits[n]}", ""),
    }
    path, query = paths[endpoint]
    token = world.patient_token if endpoint == "list_patient" else world.doctor_token
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> None:
        status: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(scope, state={}), receive, send)
        if status != [200]:
            raise RuntimeError(f"{endpoint}: {path}?{query} answered {status}")

    return call


def serve_and_measure(world: World, env: dict[str, str], workdir: Path, args: argparse.Namespace,
                      run: int, label: str) -> dict[str, Any]:
    """`televisit serve` pinned to its core, every endpoint driven in turn, then stopped."""
    port = free_port()
    with (workdir / f"server-{label}.log").open("wb") as server_log:
        proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), *televisit_argv(), "serve", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        return run_endpoints(world, f"http://127.0.0.1:{port}", proc.pid, workdir, args, run,
                             args.profile, label)
    finally:
        stop(proc)


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if backend == "sqlite":
        return bench_migrated(f"sqlite+aiosqlite:///{workdir}/rest.db", args, workdir)
    from tests.fixtures.databases import create_pg_database, drop_pg_database

    database_url = create_pg_database("televisit_bench_rest")
    try:
        return bench_migrated(database_url, args, workdir)
    finally:
        if not args.keep:
            drop_pg_database(database_url)


def bench_migrated(database_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = server_env(database_url, secrets.token_urlsafe(48))
    subprocess.run([*televisit_argv(), "migrate"], env=env, check=True, capture_output=True)
    return asyncio.run(bench_database(env, args, workdir))


async def bench_database(env: dict[str, str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from televisit.core.config import Settings

    database_url = env["TELEVISIT_DATABASE_URL"]
    settings = Settings(_env_file=None, **{k.removeprefix("TELEVISIT_").lower(): v  # type: ignore[call-arg]
                                           for k, v in env.items() if k.startswith("TELEVISIT_")})
    engine = create_async_engine(database_url)
    backend = engine.dialect.name.replace("postgresql", "postgres")
    now = datetime.now(UTC).replace(microsecond=0)
    out: dict[str, Any] = {"sizes": {}}
    try:
        t0 = time.monotonic()
        await fill_people(engine, now)
        world = await measured_people(engine, settings, now)
        log(f"{backend}: {DOCTORS} doctors, {PATIENTS} patients in {time.monotonic() - t0:.1f} s")
        filled = 2 * PAGE
        for run, size in enumerate(args.sizes):
            t0 = time.monotonic()
            await fill_visits(engine, now, filled - 2 * PAGE + 1, size - 2 * PAGE)
            filled = max(filled, size)
            await analyze(engine)
            await new_sessions(engine, settings, world)
            log(f"{backend}: {size:,} visits (filled in {time.monotonic() - t0:.1f} s)")
            plans = await explain_list(engine, world)
            if args.in_process:
                results = await measure_in_process(world, settings, args, f"{backend}-{size}")
                out["sizes"][str(size)] = {"in_process": results, "list_plans": plans}
                continue
            results = serve_and_measure(world, env, workdir, args, run, f"{backend}-{size}")
            out["sizes"][str(size)] = {"endpoints": results, "list_plans": plans}
    finally:
        await engine.dispose()
    return out


def verdict(summary: dict[str, Any]) -> list[str]:
    missed: list[str] = []
    for backend, result in summary["backends"].items():
        sizes = list(result["sizes"])
        if any("endpoints" not in result["sizes"][size] for size in sizes):
            continue  # --in-process: figures of the app's CPU, not the targets' requests/s
        for size in sizes:
            endpoints = result["sizes"][size]["endpoints"]
            for endpoint, ratio in TARGETS.items():
                if endpoint not in endpoints:
                    continue
                got = endpoints[endpoint]["ratio_to_livez"]
                if backend == "postgres" and got < ratio:
                    missed.append(f"{backend} {size}: {endpoint} {got}x < {ratio}x /livez")
            for endpoint, figures in endpoints.items():
                if figures["non2xx"] or figures["socket_errors"]:
                    missed.append(f"{backend} {size}: {endpoint} had {figures['non2xx']} non-2xx, "
                                  f"{figures['socket_errors']} socket errors")
        if len(sizes) > 1:
            first, last = result["sizes"][sizes[0]]["endpoints"], result["sizes"][sizes[-1]]["endpoints"]
            flat = {e: round(last[e]["ratio_to_livez"] / first[e]["ratio_to_livez"], 3)
                    for e in first if e != "livez"}
            result["ratio_largest_over_smallest"] = flat
            missed += [f"{backend}: {e} moves {v}x from {sizes[0]} to {sizes[-1]} visits"
                       for e, v in flat.items() if abs(v - 1) > FLAT and e in TARGETS]
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=("postgres", "sqlite"),
                        help="repeatable; default both")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1_000, 100_000, 1_000_000], help="visits in the table, ascending")
    parser.add_argument("--duration", type=float, default=10, help="seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=1, help="seconds per endpoint before measuring")
    parser.add_argument("--connections", type=int, default=10, help="wrk connections (one thread)")
    parser.add_argument("--endpoints", type=lambda s: s.split(","), default=list(ENDPOINTS),
                        help="only these (comma-separated; `livez`, the baseline, always runs)")
    parser.add_argument("--in-process", action="store_true",
                        help="the app's CPU per GET request through ASGI in this process (no server, no wrk)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1k visits, 2 s per endpoint")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy speedscope files into DIR")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database and the logs")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    if unknown := set(args.endpoints) - set(ENDPOINTS):
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))} (known: {', '.join(ENDPOINTS)})")
    if args.quick:
        args.sizes, args.duration, args.warmup = [1_000], 2.0, 1.0
    if any(s < 2 * PAGE for s in args.sizes) or args.sizes != sorted(args.sizes):
        parser.error(f"--sizes: ascending, each at least {2 * PAGE}")
    if shutil.which("wrk") is None and not args.in_process:
        parser.error("wrk is not on the PATH (Debian: apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="televisit-rest-"))
    summary: dict[str, Any] = {
        "config": {"sizes": args.sizes, "duration_s": args.duration, "connections": args.connections,
                   "server_core": SERVER_CORE, "client_core": CLIENT_CORE, "doctors": DOCTORS,
                   "patients": PATIENTS, "page": PAGE},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_start": os.getloadavg()},
        "backends": {},
    }
    t0 = time.monotonic()
    for backend in args.backend or ["postgres", "sqlite"]:
        summary["backends"][backend] = bench_backend(backend, args, workdir)
    summary["machine"]["loadavg_end"] = os.getloadavg()
    summary["elapsed_s"] = round(time.monotonic() - t0, 1)
    summary["targets_missed"] = verdict(summary)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        summary["workdir"] = str(workdir)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
