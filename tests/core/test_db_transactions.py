"""PostgreSQL: reads run without a transaction, everything from the first write to the commit runs
in one, and a connection the server closed is replaced instead of failing a request (core/db.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from televisit.core.db import create_engine, create_sessionmaker, needs_transaction, session_scope
from televisit.users.models import Role, User
from tests.fixtures.app import make_settings


@pytest.fixture
async def engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(pg_database))
    yield engine
    await engine.dispose()


def _user() -> User:
    now = datetime.now(UTC)
    return User(email=f"tx-{uuid.uuid4().hex}@example.org", full_name="Tx Test", role=Role.patient,
                is_active=True, created_at=now, updated_at=now)


async def _xid(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT txid_current()"))).scalar_one())


async def test_reads_run_without_a_transaction(engine: AsyncEngine) -> None:
    async with session_scope(create_sessionmaker(engine)) as session:
        # Each statement is its own transaction: two reads get two transaction ids.
        assert await _xid(session) != await _xid(session)


async def test_the_first_write_starts_the_transaction_that_commits(engine: AsyncEngine) -> None:
    user = _user()
    async with session_scope(create_sessionmaker(engine)) as session:
        await session.execute(select(User.id).limit(1))
        session.add(user)
        await session.flush()
        first = await _xid(session)
        assert await _xid(session) == first  # from the write on, one transaction
    async with session_scope(create_sessionmaker(engine)) as session:
        assert await session.get(User, user.id) is not None


async def test_an_error_after_a_write_rolls_every_write_back(engine: AsyncEngine) -> None:
    first, second = _user(), _user()
    with pytest.raises(RuntimeError):
        async with session_scope(create_sessionmaker(engine)) as session:
            await session.execute(select(User.id).limit(1))
            session.add(first)
            await session.flush()
            session.add(second)
            await session.flush()
            raise RuntimeError("the request failed")
    async with session_scope(create_sessionmaker(engine)) as session:
        found = await session.execute(select(User.id).where(User.id.in_([first.id, second.id])))
        assert found.all() == []


async def test_a_locking_read_starts_the_transaction(engine: AsyncEngine) -> None:
    user = _user()
    async with session_scope(create_sessionmaker(engine)) as session:
        session.add(user)
    async with session_scope(create_sessionmaker(engine)) as session:
        await session.execute(select(User.id).where(User.id == user.id).with_for_update())
        assert await _xid(session) == await _xid(session)


def test_which_statements_need_the_transaction() -> None:
    assert not needs_transaction("SELECT users.id FROM users WHERE users.id = $1")
    assert not needs_transaction("\n  select 1")
    for statement in ("SELECT users.id FROM users ORDER BY users.id FOR UPDATE",
                      "SELECT id FROM users FOR NO KEY UPDATE SKIP LOCKED",
                      "SELECT id FROM users FOR SHARE", "INSERT INTO users (id) VALUES ($1)",
                      "UPDATE users SET email = $1", "DELETE FROM users", "SAVEPOINT sa_savepoint_1",
                      "WITH x AS (DELETE FROM users RETURNING id) SELECT id FROM x"):
        assert needs_transaction(statement), statement


async def test_a_connection_the_server_closed_is_replaced(engine: AsyncEngine, pg_database: str) -> None:
    factory = create_sessionmaker(engine)
    async with session_scope(factory) as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    admin = create_async_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # the pooled connection's socket sees the server close it
    async with session_scope(factory) as session:
        assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid


async def test_a_lone_new_row_is_written_and_two_stay_atomic(engine: AsyncEngine) -> None:
    lone = _user()
    async with session_scope(create_sessionmaker(engine)) as session:
        await session.execute(select(User.id).limit(1))
        session.add(lone)
    first, twin = _user(), _user()
    twin.email = first.email  # the second insert fails: the first must not stay
    with pytest.raises(IntegrityError):
        async with session_scope(create_sessionmaker(engine)) as session:
            session.add_all([first, twin])
    async with session_scope(create_sessionmaker(engine)) as session:
        assert await session.get(User, lone.id) is not None
        assert (await session.execute(select(User.id).where(User.email == first.email))).all() == []


async def test_a_locked_person_can_still_be_referred_to(engine: AsyncEngine) -> None:
    """lock_rows queues lockers of the same rows, but a new row that only refers to a locked one
    (its foreign key takes KEY SHARE) does not wait: FOR UPDATE made a booking and a cancellation
    of the same two people deadlock under load."""
    from televisit.core.db import lock_rows
    from televisit.mail.models import MailKind, OutboxMessage

    factory = create_sessionmaker(engine)
    async with session_scope(factory) as session:
        user = _user()
        session.add(user)
    async with session_scope(factory) as holder:
        await lock_rows(holder, User.updated_at, [user.id])
        now = datetime.now(UTC)
        async with session_scope(factory) as other:  # with FOR UPDATE: waits for the holder
            await other.execute(text("SET LOCAL lock_timeout = '2s'"))
            other.add(OutboxMessage(kind=MailKind.invitation, recipient_id=user.id, payload={},
                                    due_at=now, not_before=now, created_at=now))
        with pytest.raises(DBAPIError, match="lock timeout"):  # another locker queues behind it
            async with session_scope(factory) as second_locker:
                await second_locker.execute(text("SET LOCAL lock_timeout = '300ms'"))
                await lock_rows(second_locker, User.updated_at, [user.id])
