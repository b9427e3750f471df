"""The running instance's shared objects, built once and handed to what needs them.

One typed object instead of attributes scattered on `app.state`: a reader sees every dependency
of a handler or background task in its signature. `create_app` builds it; the lifespan starts it
(database engine, broker, socket hub, timers) and stops it.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from televisit.appointments.presence import PresenceSweeper
from televisit.auth import cache as auth_cache
from televisit.auth import service as auth_service
from televisit.core.clock import Clock, SystemClock
from televisit.core.config import Settings
from televisit.core.db import create_engine, create_sessionmaker, session_scope
from televisit.core.logging import instrument_engine
from televisit.core.metrics import TIMEOUT_REASONS, Metrics
from televisit.core.periodic import Periodic
from televisit.core.rowcache import RowCache
from televisit.core.security import Passwords
from televisit.mail.presence import create_presence
from televisit.mail.sender import MailSender, create_transport
from televisit.push.sender import PushSender
from televisit.realtime.broker import Broker
from televisit.realtime.channels import AUTH_CHANNEL
from televisit.realtime.events import Publisher
from televisit.realtime.factory import create_broker
from televisit.realtime.publisher import make_publisher
from televisit.rooms.timers import RoomTimers
from televisit.signaling import frames as f
from televisit.signaling.hub import Hub
from televisit.signaling.service import Handlers
from televisit.signaling.sessions import SessionSweeper

HOUSEKEEPING_INTERVAL = 600.0


@dataclass(eq=False)
class _Started:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    broker: Broker
    publish: Publisher
    hub: Hub
    ws_handlers: Handlers
    room_timers: RoomTimers
    housekeeping: Periodic
    session_sweeper: SessionSweeper
    presence: PresenceSweeper
    mail: MailSender
    push: PushSender


class NotStarted(RuntimeError):
    pass


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.passwords = Passwords(settings)
        self.metrics = Metrics()
        self.auth_cache = RowCache(settings.auth_cache_seconds)
        self.instance_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # Set on SIGTERM: readiness fails, sockets are told to move, upgrades are refused.
        self.draining = False
        self._started: _Started | None = None

    async def start(self) -> None:
        engine = create_engine(self.settings)
        instrument_engine(engine, self.settings)
        broker = create_broker(self.settings.redis_url, f.BrokerCodec())
        await broker.start()
        hub = Hub(broker)
        # Rings a callee with no open socket here (push/sender.py says why "here" is enough).
        push = PushSender(self, online=lambda user_id: user_id in hub.by_user)
        # Events were lost while the broker was down: sockets reconnect and resync (chat by seq).
        broker.on_recovered(hub.on_broker_recovered)
        # Sessions kept for API requests (auth/cache.py): dropped when any instance changes them.
        sessionmaker = create_sessionmaker(engine)
        auth_cache.watch(sessionmaker, self.auth_cache)
        await broker.subscribe(AUTH_CHANNEL, self._auth_changed)
        broker.on_recovered(self.auth_cache.clear)
        self._started = _Started(
            engine=engine, sessionmaker=sessionmaker, broker=broker,
            publish=counting(self.metrics, pushing(push, make_publisher(broker))), hub=hub,
            ws_handlers=Handlers(self, hub), room_timers=RoomTimers(self),
            housekeeping=Periodic("housekeeping", self._housekeep, HOUSEKEEPING_INTERVAL),
            session_sweeper=SessionSweeper(self, hub), presence=PresenceSweeper(self),
            mail=MailSender(self, transport=create_transport(self), presence=create_presence(self.settings),
                            local_users=lambda: hub.by_user.keys()),
            push=push,
        )
        self.metrics.websockets_open.set_function(lambda: len(hub.connections))
        if self.settings.room_timers_enabled:
            self._started.room_timers.start()
            self._started.housekeeping.start()
            self._started.session_sweeper.start()
            self._started.presence.start()
        if self.settings.mail_sender_enabled:
            self._started.mail.start()
        if self.settings.push_sender_enabled:
            self._started.push.start()

    async def stop(self) -> None:
        started, self._started = self._started, None
        if started is not None:
            await started.session_sweeper.stop()
            await started.presence.stop()
            await started.mail.stop()
            await started.push.stop()
            await started.housekeeping.stop()
            await started.room_timers.stop()
            await started.broker.stop()
            await started.engine.dispose()

    def _auth_changed(self, _channel: str, event: f.BrokerEvent) -> None:
        if isinstance(event, f.AuthChanged):
            auth_cache.apply(self.auth_cache, event)

    async def _housekeep(self) -> None:
        """Expired sessions and old failed sign-ins must not pile up forever."""
        async with session_scope(self.sessionmaker) as session:
            await auth_service.prune(session, settings=self.settings, now=self.clock.now())

    @property
    def _live(self) -> _Started:
        if self._started is None:
            raise NotStarted("the runtime is used before the app's lifespan started it")
        return self._started

    @property
    def engine(self) -> AsyncEngine:
        return self._live.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self._live.sessionmaker

    @property
    def broker(self) -> Broker:
        return self._live.broker

    @property
    def publish(self) -> Publisher:
        return self._live.publish

    @property
    def hub(self) -> Hub:
        return self._live.hub

    @property
    def ws_handlers(self) -> Handlers:
        return self._live.ws_handlers

    @property
    def room_timers(self) -> RoomTimers:
        return self._live.room_timers

    @property
    def session_sweeper(self) -> SessionSweeper:
        """Closes sockets whose session ended; tests drive it by hand (`run_once`)."""
        return self._live.session_sweeper

    @property
    def presence(self) -> PresenceSweeper:
        """Takes patients gone longer than the grace out of waiting rooms; tests run it by hand."""
        return self._live.presence

    @property
    def mail(self) -> MailSender:
        return self._live.mail

    @property
    def push(self) -> PushSender:
        """Web Push; tests with `push_sender_enabled` off deliver by hand (`drain`)."""
        return self._live.push

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One transaction whose queued events are published after its commit."""
        return session_scope(self.sessionmaker, self.publish)


def count_events(metrics: Metrics, events: list[tuple[str, f.BrokerEvent]]) -> None:
    """Domain counters, from what a commit published (an event fanned out to two people counts once)."""
    seen: set[int] = set()
    for _channel, event in events:
        if id(event) in seen:
            continue
        seen.add(id(event))
        match event:
            case f.ChatMessage():
                metrics.chat_messages.inc()
            case f.CallIncoming():
                metrics.call_setups.labels("started").inc()
            case f.ExceptConnection(frame=f.CallAnswered()):
                metrics.call_setups.labels("answered").inc()
            case f.CallDeclined():
                metrics.call_setups.labels("declined").inc()
            case f.CallCancelled():
                metrics.call_setups.labels("cancelled").inc()
            case f.RoomEnded(reason=reason) if reason in TIMEOUT_REASONS:
                metrics.room_timeouts.labels(reason).inc()


def counting(metrics: Metrics, publish: Publisher) -> Publisher:
    async def publish_and_count(events: list[tuple[str, f.BrokerEvent]]) -> None:
        count_events(metrics, events)
        await publish(events)

    return publish_and_count


def pushing(sender: PushSender, publish: Publisher) -> Publisher:
    """Publish, then hand the events to the push sender (it queues; it never waits on the network)."""
    async def publish_and_push(events: list[tuple[str, f.BrokerEvent]]) -> None:
        await publish(events)
        sender.notice(list(events))

    return publish_and_push


def runtime_of(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime
