"""Sessions on open sockets: a socket closes soon after its session ends, and its use keeps the
session alive.

Each socket carries its session's deadlines (`SessionTimes`), so this instance's sweeper scans
them in memory every `ws_session_sweep_interval` seconds and touches the database only for
sessions whose deadline passed here (re-checked in one query: another device may have used the
session meanwhile) and for activity due to be written to `last_seen_at` (at most once every
`auth.service.seen_interval` per session). Revocation and deactivation do not wait for it: they
arrive as broker events on the user's channel (`Hub._on_user_event`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import structlog

from televisit.auth import service as auth_service
from televisit.core.periodic import Periodic
from televisit.core.runtime import CoreRuntime
from televisit.signaling.connection import Connection, ConnState
from televisit.signaling.hub import Hub, end_session

log = structlog.get_logger("televisit.ws")


class SessionSweeper:
    def __init__(self, runtime: CoreRuntime, hub: Hub) -> None:
        self.runtime = runtime
        self.hub = hub
        self._periodic: Periodic | None = None

    async def run_once(self) -> int:
        """One pass over this instance's sockets; returns how many were closed."""
        settings = self.runtime.settings
        now = self.runtime.clock.now()
        idle = timedelta(seconds=settings.session_idle_timeout)
        interval = auth_service.seen_interval(settings)
        due: dict[uuid.UUID, list[Connection]] = defaultdict(list)
        used: dict[uuid.UUID, list[Connection]] = defaultdict(list)
        writes: dict[uuid.UUID, datetime] = {}
        for conn in tuple(self.hub.connections.values()):
            times, sid = conn.times, conn.session_id
            if times is None or sid is None or conn.state is not ConnState.READY:
                continue
            if now >= times.deadline(idle):
                due[sid].append(conn)
            elif times.active_at - times.seen_at >= interval:
                used[sid].append(conn)
                writes[sid] = max(writes.get(sid, times.active_at), times.active_at)
        if writes:
            for sid in await self._write(writes, used):
                due[sid].extend(used[sid])  # not written: the session may have ended meanwhile
        return await self._recheck(due, now) if due else 0

    async def _write(self, writes: dict[uuid.UUID, datetime],
                     used: dict[uuid.UUID, list[Connection]]) -> set[uuid.UUID]:
        """Write the sockets' use to `last_seen_at`; returns the sessions left unwritten."""
        async with self.runtime.session() as session:
            written = await auth_service.record_activity(session, settings=self.runtime.settings,
                                                         seen=writes)
        for sid in written:
            for conn in used[sid]:
                if conn.times is not None:
                    conn.times.seen_at = max(conn.times.seen_at, writes[sid])
        return set(writes) - written

    async def _recheck(self, due: dict[uuid.UUID, list[Connection]], now: datetime) -> int:
        """Close the sockets whose session the database says is over; trust it for the rest."""
        async with self.runtime.session() as session:
            states = await auth_service.session_states(session, settings=self.runtime.settings,
                                                       session_ids=list(due), now=now)
        closed = 0
        for sid, conns in due.items():
            state = states[sid]
            for conn in conns:
                if state.ended is not None:
                    end_session(conn, state.ended)
                    closed += 1
                elif conn.times is not None and state.last_seen_at and state.expires_at:
                    conn.times.seen_at = max(conn.times.seen_at, state.last_seen_at)
                    conn.times.expires_at = state.expires_at
        if closed:
            log.info("ws_sessions_ended", count=closed)
        return closed

    def start(self) -> None:
        self._periodic = Periodic("ws-sessions", self.run_once,
                                  self.runtime.settings.ws_session_sweep_interval)
        self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
