"""Which errors make a request run again (the database restarting) and which never do. The
restart itself, with real PostgreSQL, is in tests/ops/test_faults.py."""

from __future__ import annotations

import asyncpg
import redis.exceptions
from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError

from televisit.core.dbretry import database_unreachable


def _wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def test_the_database_restarting_is_retried():
    assert database_unreachable(ConnectionRefusedError(111, "Connect call failed"))  # the pool's connect()
    assert database_unreachable(DisconnectionError("the database closed this connection"))
    assert database_unreachable(InterfaceError("select 1", {}, Exception("connection is closed"),
                                               connection_invalidated=True))
    assert database_unreachable(asyncpg.CannotConnectNowError("the database system is starting up"))
    # A deadlock's victim was rolled back whole by the database, to be run again.
    assert database_unreachable(asyncpg.DeadlockDetectedError("deadlock detected"))
    assert database_unreachable(asyncpg.AdminShutdownError("terminating connection (administrator command)"))


def test_other_errors_are_not():
    assert not database_unreachable(IntegrityError("insert", {}, Exception("duplicate key")))
    assert not database_unreachable(ValueError("bad input"))
    # Redis down wraps a refused connection too: that is not the database, and retrying would
    # stall requests that Redis does not even need.
    assert not database_unreachable(_wrapped(redis.exceptions.ConnectionError("Error 111"),
                                             ConnectionRefusedError(111, "refused")))
