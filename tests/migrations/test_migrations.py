"""The migrations run up, down and up again on both backends, and agree with the models.

Alembic's env.py calls asyncio.run, so these tests are synchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from televisit.migrations import alembic_config, downgrade, upgrade
from televisit.models import Base
from tests.fixtures.databases import BACKENDS, create_pg_database, drop_pg_database

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    url = create_pg_database("televisit_migrations")
    try:
        yield url
    finally:
        drop_pg_database(url)


def with_connection(url: str, fn: Any) -> Any:
    """Run fn(sync_connection) on the database and return what it returns."""

    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def tables(url: str) -> set[str]:
    return with_connection(url, lambda conn: set(inspect(conn).get_table_names()))


def current_revision(url: str) -> str | None:
    return with_connection(url, lambda conn: MigrationContext.configure(conn).get_current_revision())


def schema_differences(url: str) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    return with_connection(url, compare)


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_history_is_one_straight_line():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "several heads: merge them with `alembic merge`"
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert revision.doc, f"revision {revision.revision} has no message"
        module = revision.module
        assert callable(module.upgrade) and callable(module.downgrade)


def test_upgrade_downgrade_upgrade(empty_database):
    url = empty_database
    head = revisions()[-1]

    upgrade(url)
    assert current_revision(url) == head
    assert tables(url) == MODEL_TABLES | {"alembic_version"}

    downgrade(url, "base")
    assert current_revision(url) is None
    assert tables(url) <= {"alembic_version"}

    upgrade(url)
    assert current_revision(url) == head
    assert tables(url) == MODEL_TABLES | {"alembic_version"}
    assert schema_differences(url) == []


def test_each_revision_steps_down_and_up_again(empty_database):
    """The stairway: every downgrade undoes exactly its upgrade, so the next upgrade still runs."""
    url = empty_database
    previous = "base"
    for revision in revisions():
        upgrade(url, revision)
        before = tables(url)
        downgrade(url, previous)
        assert current_revision(url) == (None if previous == "base" else previous)
        upgrade(url, revision)
        assert tables(url) == before
        previous = revision


def test_models_and_migrations_agree(empty_database):
    """No drift: autogenerate would produce an empty migration. If this fails, run
    `alembic revision --autogenerate` (see src/televisit/migrations) and review the result."""
    upgrade(empty_database)
    differences = schema_differences(empty_database)
    assert differences == [], "\n".join(str(d) for d in differences)


def test_upgrade_twice_is_a_no_op(empty_database):
    upgrade(empty_database)
    upgrade(empty_database)
    assert current_revision(empty_database) == revisions()[-1]
