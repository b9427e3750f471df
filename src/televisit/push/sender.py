"""Pushes out of what each commit published: a ring (and its end) to a callee with no open
socket, a notice of a new message (never its text) to a recipient with none.

Runs beside the publisher on the instance that committed (like the domain counters), in its own
task: never inside a request's transaction, each push bounded by `push_timeout`. Ringing is only
useful now, so nothing is kept across a restart: a push lost with its instance is a missed ring,
as on a phone out of signal. A subscription the push service no longer knows (404, 410) is
deleted. Logs name the subscription's id and the status, never the endpoint, keys or payload.

"No open socket" is decided by this instance's hub: exact with one instance. With several, a
callee whose app is open on another instance is pushed too, and the service worker shows nothing
while one of the app's windows is visible (web/public/sw.js).
"""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPusher  # type: ignore[import-untyped]  # no type information shipped

from televisit.core.runtime import CoreRuntime
from televisit.push import service, vapid
from televisit.push.models import PushSubscription
from televisit.push.schemas import CallEndedPush, CallPush, MessagePush, Push
from televisit.realtime.broker import Event
from televisit.signaling import frames as f

log = structlog.get_logger("televisit.push")

QUEUE_SIZE = 1000
CHANNEL_PREFIX = "user:"


@dataclass(frozen=True)
class Job:
    user_id: uuid.UUID
    push: Push
    ttl: int
    urgency: str
    topic: str


class PushSender:
    def __init__(self, runtime: CoreRuntime, *, online: Callable[[uuid.UUID], bool]) -> None:
        self.runtime = runtime
        self._online = online
        self._key: ec.EllipticCurvePrivateKey | None = vapid.private_key(runtime.settings)
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    # -- from published events to jobs --------------------------------------------------------
    def notice(self, events: list[tuple[str, Event]]) -> None:
        """Called with every commit's events, after they were published; never blocks."""
        if self._key is None:
            return
        for channel, event in events:
            job = self._job(channel, event)
            if job is None or self._online(job.user_id):
                continue
            try:
                self._queue.put_nowait(job)
            except asyncio.QueueFull:
                log.warning("push_dropped", reason="queue full", kind=job.push.kind)

    def _job(self, channel: str, event: Event) -> Job | None:
        if not channel.startswith(CHANNEL_PREFIX):
            return None
        try:
            user_id = uuid.UUID(channel.removeprefix(CHANNEL_PREFIX))
        except ValueError:
            return None
        settings = self.runtime.settings
        match event:
            case f.CallIncoming(room_id=room, appointment_id=visit, sender=caller):
                return Job(user_id, CallPush(room_id=room, appointment_id=visit, caller_name=caller.full_name,
                                             caller_role=caller.role),
                           ttl=settings.push_ring_ttl, urgency="high", topic=room.hex)
            case f.CallCancelled(room_id=room, appointment_id=visit):
                return Job(user_id, CallEndedPush(room_id=room, appointment_id=visit),
                           ttl=settings.push_ring_ttl, urgency="high", topic=room.hex)
            case f.ChatMessage(message=message) if message.sender_id != user_id:
                return Job(user_id, MessagePush(appointment_id=message.appointment_id),
                           ttl=settings.push_notice_ttl, urgency="normal", topic=message.appointment_id.hex)
        return None

    # -- sending ---------------------------------------------------------------------------------
    async def deliver(self, job: Job) -> int:
        """Push to every subscribed browser of the person; returns how many took it."""
        async with self.runtime.session() as session:
            subs = list(await service.subscriptions_of(session, user_id=job.user_id))
        if not subs:
            return 0
        data = job.push.model_dump_json().encode()
        results = await asyncio.gather(*(self._send(sub, job, data) for sub in subs))
        return sum(results)

    async def _send(self, sub: PushSubscription, job: Job, data: bytes) -> bool:
        key = self._key
        if key is None:  # notice() queues nothing without a key
            return False
        settings = self.runtime.settings
        try:
            service.check_endpoint(sub.endpoint, settings)  # the allowlist may have shrunk since
        except service.EndpointNotAllowed:
            log.warning("push_skipped", subscription_id=str(sub.id), reason="host no longer allowed")
            return False
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        body = WebPusher(info).encode(data, "aes128gcm")["body"]
        headers = {
            "Authorization": vapid.authorization(key, endpoint=sub.endpoint,
                                                 contact=settings.effective_push_contact),
            "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
            "TTL": str(job.ttl), "Urgency": job.urgency, "Topic": job.topic,
        }
        try:
            async with asyncio.timeout(settings.push_timeout):
                async with self._client().post(sub.endpoint, data=body, headers=headers,
                                               allow_redirects=False) as resp:
                    code = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("push_failed", subscription_id=str(sub.id), kind=job.push.kind,
                        error=type(exc).__name__)
            return False
        if code in (404, 410):
            async with self.runtime.session() as session:
                await service.gone(session, subscription_id=sub.id, endpoint_digest=sub.endpoint_digest)
            log.info("push_subscription_gone", subscription_id=str(sub.id), status=code)
            return False
        if code >= 300:
            log.warning("push_refused", subscription_id=str(sub.id), kind=job.push.kind, status=code)
            return False
        return True

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(trust_env=False)
        return self._http

    # -- the task ------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self.deliver(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database blip must not stop ringing for good
                log.error("push_round_failed", kind=job.push.kind, error=type(exc).__name__)

    async def drain(self) -> None:
        """Deliver what is queued now (tests, and a polite stop)."""
        while not self._queue.empty():
            await self.deliver(self._queue.get_nowait())

    def start(self) -> None:
        if self._key is None:
            log.warning("push_off", hint="set TELEVISIT_PUSH_VAPID_PRIVATE_KEY to ring closed apps")
        self._task = asyncio.create_task(self._loop(), name="push-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()
