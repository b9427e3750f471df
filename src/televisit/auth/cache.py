"""Sessions and their users kept for a few seconds, so an API request does not read them again.

Every authenticated request resolved its token with one SQL statement, which cost about as much
as the whole of `/livez` (docs/benchmarks.md, "REST"). The session and user rows are now kept on
the instance, by token digest, for `auth_cache_seconds`, and dropped as soon as either changes:

- `watch` follows every commit of the instance's sessions: a session or user row that a flush
  changed or deleted, and any UPDATE or DELETE statement on those tables (a revocation, a socket
  keeping its session alive), is forgotten here at once, before the request that made the change
  answers, and on every other instance through the broker (`AuthChanged` on `auth`).
- What this instance may have missed (the broker was down, a change made by another program)
  shows within `auth_cache_seconds`; the broker's recovery empties the cache.

Idle and absolute expiry are checked on every request as before, from the kept row.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.session import ORMExecuteState

from televisit.auth.models import AuthSession
from televisit.core.rowcache import RowCache
from televisit.realtime.channels import AUTH_CHANNEL
from televisit.realtime.events import queue_event
from televisit.signaling.frames import AuthChanged
from televisit.users.models import User

T = TypeVar("T")

_NOTED = "televisit_auth_changed"
_EVERYTHING = "everything"
# A bulk statement that names what it changes: execution_options(**changes(...)).
_TAGS_OPTION = "televisit_auth_tags"


@dataclass(frozen=True, slots=True)
class Kept:
    """The columns of a session and of its user, as read."""

    session: dict[str, Any]
    user: dict[str, Any]

    @property
    def tags(self) -> tuple[Hashable, ...]:
        return ("session", self.session["id"]), ("user", self.user["id"])


def _columns(row: object) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


def keep(auth_session: AuthSession, user: User) -> Kept:
    return Kept(_columns(auth_session), _columns(user))


def keep_user(user: User) -> dict[str, Any]:
    """A user's columns, kept under `user_key` (a socket's frames: `auth.service.active_user`)."""
    return _columns(user)


def user_key(user_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("user-row", user_id)


def user_tags(user_id: uuid.UUID) -> tuple[Hashable, ...]:
    return (("user", user_id),)


def restore_user(session: AsyncSession, columns: dict[str, Any]) -> User:
    """The kept user as this request's own object, as if just read (no SQL)."""
    return _attach(session, User, columns)


def restore(session: AsyncSession, kept: Kept) -> tuple[AuthSession, User]:
    """The kept rows as this request's own objects, as if just read (no SQL)."""
    return _attach(session, AuthSession, kept.session), _attach(session, User, kept.user)


def _attach(session: AsyncSession, model: type[T], columns: dict[str, Any]) -> T:
    mapper = inspect(model)
    present = session.sync_session.identity_map.get(mapper.identity_key_from_primary_key((columns["id"],)))
    if present is not None:
        return present  # type: ignore[no-any-return]
    row: T = mapper.class_manager.new_instance()  # no constructor: no attribute events (half the cost)
    instance_state(row).dict.update(columns)
    make_transient_to_detached(row)  # as if loaded: no history, nothing to write
    session.add(row)
    return row


def changes(*, session_ids: Iterable[uuid.UUID] = (), user_ids: Iterable[uuid.UUID] = ()
            ) -> dict[str, Any]:
    """Execution options for a bulk UPDATE of sessions that says which ones it changes (without
    them the whole cache is dropped)."""
    tags = [("session", s) for s in session_ids] + [("user", u) for u in user_ids]
    return {_TAGS_OPTION: tuple(tags)}


def _note(session: Session, tags: Iterable[Hashable]) -> None:
    session.info.setdefault(_NOTED, set()).update(tags)


def _event_of(tags: set[Hashable]) -> AuthChanged:
    if _EVERYTHING in tags:
        return AuthChanged(everything=True)
    pairs = [tag for tag in tags if isinstance(tag, tuple)]
    return AuthChanged(session_ids=sorted(i for kind, i in pairs if kind == "session"),
                       user_ids=sorted(i for kind, i in pairs if kind == "user"))


def apply(cache: RowCache, changed: AuthChanged) -> None:
    """What another instance (or this one, through the broker) changed."""
    if changed.everything:
        cache.clear()
    else:
        cache.forget([("session", i) for i in changed.session_ids] + [("user", i) for i in changed.user_ids])


def watch(factory: async_sessionmaker[AsyncSession], cache: RowCache) -> None:
    """Forget what the sessions made by ``factory`` change, when they commit (here at once, on the
    other instances through the event their commit publishes). ``factory`` must have its own
    session class (`core.db.create_sessionmaker`), so that nothing else is watched."""
    session_class: type[Session] = factory.kw["sync_session_class"]
    watched = (inspect(AuthSession), inspect(User))

    def after_flush(session: Session, _flush: UOWTransaction) -> None:
        for row in (*session.dirty, *session.deleted):
            if isinstance(row, AuthSession):
                _note(session, [("session", row.id)])
            elif isinstance(row, User):
                _note(session, [("user", row.id)])

    def do_orm_execute(state: ORMExecuteState) -> None:
        if (state.is_update or state.is_delete) and state.bind_mapper in watched:
            _note(state.session, state.execution_options.get(_TAGS_OPTION, (_EVERYTHING,)))

    def after_commit(session: Session) -> None:
        tags: set[Hashable] | None = session.info.pop(_NOTED, None)
        if not tags:
            return
        changed = _event_of(tags)
        apply(cache, changed)  # here at once, as the other instances will on the event
        queue_event(session, AUTH_CHANNEL, changed)

    event.listen(session_class, "after_flush", after_flush)
    event.listen(session_class, "do_orm_execute", do_orm_execute)
    event.listen(session_class, "after_commit", after_commit)
