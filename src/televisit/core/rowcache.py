"""Rows read by a key, kept on this instance for a few seconds and dropped the moment they change.

The owner of the rows says what each entry depends on (its *tags*) and calls `forget` with the
tags a committed change touched; other instances hear of the change over the broker. An entry is
never older than `ttl` seconds, so a change this instance could not hear of (the broker down, a
write from another program) shows within that time.

A read that started before a change must not store what it read after the change was forgotten:
`put` takes the `generation` the caller saw before reading and stores nothing if a `forget` came
in between.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry:
    value: object
    tags: frozenset[Hashable]
    stored_at: float


class RowCache:
    def __init__(self, ttl: float, *, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.stored_at >= self.ttl:
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: Hashable, value: object, *, tags: Iterable[Hashable], generation: int) -> None:
        if self.ttl <= 0 or generation != self.generation:
            return
        if key not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest stored
        self._entries[key] = _Entry(value, frozenset(tags), self._clock())

    async def read_through(self, key: Hashable, *, read: Callable[[], Awaitable[T | None]],
                           keep: Callable[[T], tuple[object, Iterable[Hashable]]],
                           restore: Callable[[object], T | None]) -> T | None:
        """What ``restore`` makes of the entry kept under ``key``; else ``read()``, kept (as the
        value and tags ``keep`` gives) unless a `forget` came while it was read."""
        kept = self.get(key)
        if kept is not None and (restored := restore(kept)) is not None:
            return restored
        generation = self.generation  # before the read: a change during it must win
        found = await read()
        if found is not None:
            value, tags = keep(found)
            self.put(key, value, tags=tags, generation=generation)
        return found

    def forget(self, tags: Iterable[Hashable]) -> None:
        """Drop every entry that depends on any of ``tags``."""
        gone = set(tags)
        self.generation += 1
        if gone:
            for key in [k for k, e in self._entries.items() if not e.tags.isdisjoint(gone)]:
                del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
