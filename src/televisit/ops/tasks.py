"""Where every task of the server waits: `kill -USR1 <pid>` logs it (`asyncio_tasks`).

For a server that holds thousands of sockets and seems stuck on some of them, a thread dump
(py-spy) shows nothing: a suspended coroutine is on no thread's stack. Each task's chain of
awaits is read instead (`cr_await`, down to the future it waits for), as code locations only
(function, file, line; never a local variable, so no token or patient datum can reach the log),
and identical chains are counted once: ten thousand idle sockets are one line.
"""

from __future__ import annotations

import asyncio
import collections
import types
from collections.abc import Iterator
from typing import Any

import structlog

log = structlog.get_logger("televisit.ops")

# A chain deeper than this is cut (a recursion would otherwise never end).
MAX_DEPTH = 64


def _frames(awaitable: Any) -> Iterator[str]:
    """The code locations of a coroutine's chain of awaits, outermost first."""
    for _ in range(MAX_DEPTH):
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if isinstance(frame, types.FrameType):
            code = frame.f_code
            where = "/".join(code.co_filename.rsplit("/", 2)[-2:])  # the package and the file
            yield f"{code.co_qualname} ({where}:{frame.f_lineno})"
            awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
            continue
        if awaitable is not None:  # a future (awaited through its iterator), a generator, ...
            name = type(awaitable).__name__
            yield "<Future>" if name == "FutureIter" else f"<{name}>"
        return


def task_chains(tasks: set[asyncio.Task[Any]] | None = None) -> list[dict[str, Any]]:
    """Every task's chain of awaits, identical chains counted together, the most frequent first."""
    counts: collections.Counter[tuple[str, ...]] = collections.Counter()
    for task in tasks if tasks is not None else asyncio.all_tasks():
        counts[tuple(_frames(task.get_coro()))] += 1
    return [{"count": n, "awaits": list(chain)} for chain, n in counts.most_common()]


def log_tasks() -> None:
    chains = task_chains()
    log.warning("asyncio_tasks", tasks=sum(c["count"] for c in chains), chains=chains)
