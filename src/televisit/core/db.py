"""Engine, session factory, declarative base and the column types shared by every model."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, cast

import structlog
from sqlalchemy import (
    CursorResult,
    DateTime,
    Insert,
    MetaData,
    Result,
    Table,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, Mapper, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from televisit.core.config import Settings
from televisit.realtime.events import Publisher, drop_pending, take_pending

log = structlog.get_logger("televisit.db")

KEEP_KEY = "televisit_keep_on_rollback"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # asyncpg reads every `timestamptz` as an aware datetime in UTC already: no Python call per
        # value (a page of 50 visits has 500 of them).
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def create_engine(settings: Settings) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if not settings.is_sqlite:
        kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800)
    engine = create_async_engine(settings.database_url, **kwargs)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif engine.dialect.driver == "asyncpg":
        event.listen(engine.sync_engine, "checkout", _checkout_asyncpg)
        event.listen(engine.sync_engine, "before_cursor_execute", _begin_before_writes)
    return engine


# PostgreSQL (asyncpg): a transaction begins at the first statement that writes or locks, as
# SQLite's driver does, not at the first read. A read-only request (who am I, a visit list without
# its audit record) then costs its SELECTs alone, without BEGIN and COMMIT round trips; a request
# that writes runs everything from its first write (or `SELECT ... FOR UPDATE`, see `lock_rows`)
# to its commit in one transaction. Under READ COMMITTED each statement sees its own snapshot
# anyway, so a read before the first write sees what it would have seen inside the transaction.
_PLAIN_READ = re.compile(r"\s*SELECT\b", re.I)
_LOCKING = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b", re.I)


@lru_cache(maxsize=2048)  # the compiled statements' text: a few hundred distinct strings
def needs_transaction(statement: str) -> bool:
    """Whether ``statement`` must run inside the request's transaction (it writes or locks)."""
    return _PLAIN_READ.match(statement) is None or _LOCKING.search(statement) is not None


def _checkout_asyncpg(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Each checkout: refuse a connection the server has closed (a restarted PostgreSQL: asyncpg
    notices the closed socket by itself), so the pool opens a new one instead of failing the
    request; and start in autocommit until the first write. Unlike `pool_pre_ping` this costs no
    round trip (the ping was BEGIN, a query and ROLLBACK on every request). A connection lost
    silently (a network failure) still fails one request, which invalidates the pool."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the database closed this connection")
    dbapi_connection.autocommit = True


def _begin_before_writes(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
                         _many: bool) -> None:
    if needs_transaction(statement) and not conn.info.pop(LONE_INSERT_KEY, False):
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection.autocommit:
            dbapi_connection.autocommit = False  # asyncpg sends BEGIN before this statement


# Set by `session_scope` while it flushes a request whose one write is a single new row (the
# audit record of a read): on PostgreSQL that INSERT, atomic by itself, then runs without
# BEGIN and COMMIT around it. Used by one statement at most.
LONE_INSERT_KEY = "televisit_lone_insert"


# A model whose rows are written and never read back in the request that makes them (an audit
# record) sets this to True: such a row, alone in its request, goes in as a plain INSERT of its
# attributes, without the unit of work's flush (about 70 µs of a read's CPU in-process).
# Its primary key must be set when it is made; the row leaves the session after the INSERT.
INSERT_ONLY = "__insert_only__"


@cache
def _insert_of(mapper: Mapper[Any]) -> Insert:
    """The model's INSERT, built once: SQLAlchemy works out a new statement's cache key each time."""
    return insert(mapper)


async def _flush_lone_insert(session: AsyncSession) -> None:
    if len(session.new) != 1 or session.deleted or session.dirty:
        return
    connection = await session.connection()
    (row,) = session.new
    state = inspect(row)
    plain = getattr(type(row), INSERT_ONLY, False) and None not in state.mapper.primary_key_from_instance(row)
    # The dict itself, not `connection.info` again afterwards: once a failure has invalidated
    # the connection, reading its `info` raises PendingRollbackError, which would hide the
    # failure (a database restart, which `core.dbretry` retries) behind an error it does not.
    info = connection.info
    info[LONE_INSERT_KEY] = True
    try:
        if plain:
            values = {attr.key: state.dict[attr.key] for attr in state.mapper.column_attrs
                      if attr.key in state.dict}
            await connection.execute(_insert_of(state.mapper), values)
            session.expunge(row)
        else:
            await session.flush()
    finally:
        info.pop(LONE_INSERT_KEY, None)


async def lock_rows(session: AsyncSession, touch: InstrumentedAttribute[Any], ids: list[uuid.UUID]) -> None:
    """Lock rows of ``touch``'s table until the transaction ends, on both backends.

    PostgreSQL: `SELECT ... FOR NO KEY UPDATE`, in id order so two lockers cannot deadlock. SQLite has
    no row locks, and its driver opens a write transaction only at the first write: a no-op
    write (``touch = touch``) takes its single write lock before the reads that depend on it.
    """
    model = touch.class_
    if session.get_bind().dialect.name == "sqlite":
        stmt = update(model).where(model.id.in_(ids)).values({touch: touch})
        await session.execute(stmt.execution_options(synchronize_session=False))
        return
    # FOR NO KEY UPDATE, not FOR UPDATE: lockers still queue behind each other, but a row
    # inserted elsewhere that merely refers to a locked one (a mail for this user, an audit
    # record) takes KEY SHARE for its foreign key and must not wait: with FOR UPDATE a booking
    # and a cancellation of the same two people deadlocked under load (bench/rolling_restart.py).
    locking = select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update(key_share=True)
    await session.execute(locking)


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for a Core statement on it (an UPDATE that touches no object of the
    session skips the ORM's bulk-update path: 550 µs of CPU less per statement, measured)."""
    return cast(Table, model.__table__)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (0 for a result that is not a cursor's)."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # A session class of its own, so that listeners on it (auth/cache.py) see only this factory's
    # sessions, not those of another app in the same process (tests run several).
    session_class = type("TelevisitSession", (Session,), {})
    event.listen(session_class, "after_begin", _connected)
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                              sync_session_class=session_class)


CONNECTED_KEY = "televisit_connected"


def _connected(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[CONNECTED_KEY] = True


def _idle(session: AsyncSession) -> bool:
    """Nothing to commit, roll back or close: the session never took a connection and holds no
    row to write (a request answered from the session cache alone: who am I)."""
    sync = session.sync_session
    return not sync.info.get(CONNECTED_KEY) and not (sync.new or sync.deleted or sync.dirty)


@asynccontextmanager
async def session_scope(
    factory: async_sessionmaker[AsyncSession], publish: Publisher | None = None
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends cleanly, rolled back on any error.

    Events the services queued are handed to ``publish`` only after the commit succeeded. A
    session that stayed idle (`_idle`) skips the commit and the close: each costs a greenlet
    switch into SQLAlchemy's synchronous core, together about 65 µs of CPU, a sixth of `/me`.
    """
    session = factory()
    try:
        try:
            yield session
            if not _idle(session):
                await _flush_lone_insert(session)
                await session.commit()
        except BaseException as exc:
            if not _idle(session):
                await session.rollback()
            drop_pending(session)
            if isinstance(exc, Exception):  # not on cancellation: the task must stop now
                await _write_kept(session)
            raise
        session.info.pop(KEEP_KEY, None)
        events = take_pending(session)
        if events and publish is not None:
            await publish(events)
    finally:
        if not _idle(session):
            await session.close()


def keep_on_rollback(session: AsyncSession, row: object) -> None:
    """Add ``row`` to this transaction and, should it roll back, write it in one of its own.

    For the record of a refusal (another person's visit, a wrong password): the refusal rolls
    the request back, and its record must outlive that. Written by `session_scope`.
    """
    session.add(row)
    session.info.setdefault(KEEP_KEY, []).append(row)


async def _write_kept(session: AsyncSession) -> None:
    rows = session.info.pop(KEEP_KEY, None)
    if not rows:
        return
    try:
        session.add_all(rows)  # the rollback expunged them: they are new rows again
        await session.commit()
    except Exception:
        await session.rollback()
        # The caller's own error is what the client hears about; this one is for the operator.
        log.exception("kept_rows_not_written", count=len(rows))
