"""The `televisit` console script, run as an operator would: a subprocess on a SQLite file.

The commands run once per module, independent ones side by side, and the tests read their
results. They share a bytecode cache (the environment may forbid writing one), so only the
first run of the suite pays for compiling every import.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from televisit.app import create_app
from televisit.core.clock import FakeClock
from tests.auth.helpers import LOGIN, ME, STRONG_PASSWORD, bearer
from tests.fixtures.app import START, client_for, make_settings

TELEVISIT = str(Path(sys.executable).parent / "televisit")
TIMEOUT = 120


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def clean_env(pycache: Path, **values: str) -> dict[str, str]:
    """The caller's environment without any TELEVISIT_* setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEVISIT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # argon2id at the test suite's cost (the hash records it, so any instance verifies it).
    env.update(TELEVISIT_PASSWORD_TIME_COST="1", TELEVISIT_PASSWORD_MEMORY_COST="1024",
               TELEVISIT_PASSWORD_PARALLELISM="1")
    env.update(values)
    return env


def pycache_dir(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    return cache.mkdir("televisit-cli-pycache") if cache else tmp_path_factory.mktemp("pycache")


def start(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own console script with fixed arguments
        [TELEVISIT, *args], env=env, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )


def finish(process: subprocess.Popen[str]) -> Run:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()  # e.g. `serve` started instead of refusing to
        out, err = process.communicate()
        pytest.fail(f"{process.args} did not exit within {TIMEOUT}s: {out}{err}")
    return Run(process.returncode, out, err)


DOCTOR = ["users", "create", "--role", "doctor", "--email", "Dr.Cli@Example.org",
          "--password", STRONG_PASSWORD, "--name", "Dr. Cli Doctor"]
WEAK = ["users", "create", "--role", "doctor", "--email", "weak@example.org",
        "--password", "password1234", "--name", "Dr. Weak"]
BAD_EMAIL = ["users", "create", "--role", "doctor", "--email", "not-an-email",
             "--password", STRONG_PASSWORD, "--name", "Dr. Nomail"]


@pytest.fixture(scope="module")
def cli(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    workdir = tmp_path_factory.mktemp("cli")
    db_path = workdir / "cli.db"
    pycache = pycache_dir(request.config, tmp_path_factory)
    env = clean_env(pycache, TELEVISIT_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}")
    production = clean_env(pycache, TELEVISIT_ENV="production",
                           TELEVISIT_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'prod.db'}")
    results: dict[str, object] = {"db_path": db_path, "workdir": workdir}
    results["migrate"] = finish(start(["migrate"], env=env, cwd=workdir))
    runs = {
        "doctor": start(DOCTOR, env=env, cwd=workdir),
        "weak": start(WEAK, env=env, cwd=workdir),
        "bad_email": start(BAD_EMAIL, env=env, cwd=workdir),
        "serve_no_secret": start(["serve", "--port", "1"], env=production, cwd=workdir),
        "serve_short_secret": start(["serve", "--port", "1"], cwd=workdir,
                                    env={**production, "TELEVISIT_SECRET_KEY": "too-short"}),
    }
    results.update({name: finish(process) for name, process in runs.items()})
    return results


def users_in(db_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT email, full_name, role FROM users ORDER BY email").fetchall()


def test_migrate_creates_the_schema(cli):
    run = cli["migrate"]
    assert run.returncode == 0, run.stderr
    assert "up to date" in run.stdout
    with sqlite3.connect(cli["db_path"]) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {row[0] for row in rows}
    assert {"users", "auth_sessions", "login_failures", "appointments"} <= tables


def test_users_create_makes_a_doctor(cli):
    run = cli["doctor"]
    assert run.returncode == 0, run.stderr
    assert "doctor" in run.stdout and "dr.cli@example.org" in run.stdout
    assert STRONG_PASSWORD not in run.stdout + run.stderr
    assert ("dr.cli@example.org", "Dr. Cli Doctor", "doctor") in users_in(cli["db_path"])


def test_a_weak_password_exits_non_zero_with_a_clear_message(cli):
    run = cli["weak"]
    assert run.returncode != 0
    assert "Could not create the account" in run.stderr
    assert "too common" in run.stderr
    assert "Traceback" not in run.stderr
    assert "weak@example.org" not in [row[0] for row in users_in(cli["db_path"])]


def test_an_invalid_email_exits_non_zero_with_a_clear_message(cli):
    run = cli["bad_email"]
    assert run.returncode != 0
    assert "email" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(users_in(cli["db_path"])) == 1


async def test_the_doctor_created_by_the_cli_can_sign_in(cli):
    assert cli["doctor"].returncode == 0
    settings = make_settings(f"sqlite+aiosqlite:///{cli['db_path']}")
    app = create_app(settings, clock=FakeClock(START), configure_logs=False)
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.post(LOGIN, json={"email": "DR.CLI@example.org",
                                                  "password": STRONG_PASSWORD})
        assert response.status_code == 200, response.text
        assert response.json()["user"]["role"] == "doctor"
        me = await client.get(ME, headers=bearer(response.json()["access_token"]))
        assert me.json()["full_name"] == "Dr. Cli Doctor"


@pytest.mark.parametrize("case", ["serve_no_secret", "serve_short_secret"])
def test_production_refuses_to_serve_without_a_real_secret(cli, case):
    run = cli[case]
    assert run.returncode != 0
    assert "TELEVISIT_SECRET_KEY" in run.stderr
    assert "Traceback" not in run.stderr
    assert "running at" not in run.stdout
    assert not (cli["workdir"] / "prod.db").exists()  # refused before touching any database
