"""The per-instance loop that drains the outbox: claim due rows, compose, hand to SMTP, record.

Every instance runs one. A claim is exclusive (mail/repository.py) and has a lease: a row is
marked sent under the claim that sent it, and a row whose instance died mid-send is claimed again
once the lease has run out. The one gap: SMTP accepted a message and the instance died before
recording it; that message is sent again after the lease, with the same Message-ID.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

import structlog

from televisit.core.runtime import CoreRuntime
from televisit.mail import service
from televisit.mail.compose import Outgoing, Skip, compose
from televisit.mail.models import MailStatus, OutboxMessage
from televisit.mail.presence import PRESENCE_INTERVAL, Presence
from televisit.mail.transport import Delivery, DeliveryFailed, DevMailbox, SmtpTransport, Transport, describe

log = structlog.get_logger("televisit.mail")

PRUNE_INTERVAL = 3600.0


def create_transport(runtime: CoreRuntime) -> Transport | None:
    """SMTP when configured; the dev mailbox in development; None (mail off) otherwise."""
    settings = runtime.settings
    if settings.smtp_url is not None:
        return SmtpTransport(settings.smtp_url, sender=_envelope_sender(settings.effective_mail_from),
                             timeout=settings.smtp_timeout)
    if settings.env == "development":
        return DevMailbox(Path(settings.mail_dev_dir), f"{settings.effective_public_url}/dev/mailbox")
    return None


def _envelope_sender(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


class MailSender:
    def __init__(self, runtime: CoreRuntime, *, transport: Transport | None, presence: Presence,
                 local_users: Callable[[], Collection[uuid.UUID]]) -> None:
        self.runtime = runtime
        self.transport = transport
        self.presence = presence
        self._local_users = local_users
        self._task: asyncio.Task[None] | None = None
        self._presence_at = float("-inf")
        self._pruned_at = float("-inf")

    # -- one round ------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Handle what is due now; returns how many rows were claimed."""
        now = self.runtime.clock.now()
        await self.refresh_presence(now)
        token = uuid.uuid4().hex
        async with self.runtime.session() as session:
            rows = await service.claim(session, token=token, settings=self.runtime.settings, now=now)
        if not rows:
            return 0
        if self.transport is None:
            for row in rows:
                await self._skip(row, token, "mail is off")
            return len(rows)
        # Stop starting sends well before the lease ends: a row must never be sent by two claims.
        settings = self.runtime.settings
        deadline = time.monotonic() + settings.mail_lease - 2 * settings.smtp_timeout
        waiting = list(rows)
        try:
            async with self.transport.connect() as delivery:
                while waiting and time.monotonic() < deadline:
                    row = waiting.pop(0)
                    try:
                        await self._send(row, token, delivery)
                    except DeliveryFailed as exc:  # the connection broke while sending this one
                        await self._failed(row, token, exc)
                        raise
        except DeliveryFailed as exc:  # SMTP is unreachable or broke: the rest retries with backoff
            for row in waiting:
                await self._failed(row, token, exc)
            waiting = []
        for row in waiting:  # the lease ran short: not tried, not counted
            async with self.runtime.session() as session:
                await service.release(session, message=row, token=token)
        return len(rows)

    async def _send(self, row: OutboxMessage, token: str, delivery: Delivery) -> None:
        try:
            async with self.runtime.session() as session:
                outgoing = await compose(session, row, settings=self.runtime.settings,
                                         last_seen=self.last_seen, now=self.runtime.clock.now())
        except Exception as exc:  # a bug must not stop the queue, nor log what the row holds
            log.error("mail_compose_failed", message_id=str(row.id), kind=row.kind, error=describe(exc))
            await self._failed(row, token, DeliveryFailed(describe(exc)))
            return
        if isinstance(outgoing, Skip):
            await self._skip(row, token, outgoing.why)
            return
        await self._deliver(row, token, delivery, outgoing)

    async def _deliver(self, row: OutboxMessage, token: str, delivery: Delivery, outgoing: Outgoing) -> None:
        settings = self.runtime.settings
        started = time.perf_counter()
        try:
            async with asyncio.timeout(settings.smtp_timeout):
                await delivery.deliver(outgoing)
        except TimeoutError:
            raise DeliveryFailed("TimeoutError", connection_lost=True) from None
        except DeliveryFailed as exc:
            if exc.connection_lost:
                raise
            await self._failed(row, token, exc)
            return
        self.runtime.metrics.mail_send_duration.observe(time.perf_counter() - started)
        self.runtime.metrics.mail_sent.labels(row.kind).inc()
        async with self.runtime.session() as session:
            recorded = await service.mark_sent(session, message=row, token=token,
                                               now=self.runtime.clock.now())
        if not recorded:
            log.warning("mail_claim_lost", message_id=str(row.id), kind=row.kind)

    async def _failed(self, row: OutboxMessage, token: str, exc: DeliveryFailed) -> None:
        """Retry later or give up; logged with the row's id and kind, never its address or body."""
        async with self.runtime.session() as session:
            outcome = await service.mark_failed_attempt(
                session, message=row, token=token, error=exc.error, permanent=exc.permanent,
                settings=self.runtime.settings, now=self.runtime.clock.now())
        failed = outcome == MailStatus.failed
        self.runtime.metrics.mail_failures.labels("failed" if failed else "retry").inc()
        (log.warning if failed else log.info)(
            "mail_failed" if failed else "mail_retry", message_id=str(row.id), kind=row.kind,
            attempts=row.attempts, error=exc.error)

    async def _skip(self, row: OutboxMessage, token: str, why: str) -> None:
        async with self.runtime.session() as session:
            await service.mark_skipped(session, message=row, token=token, why=why)

    # -- presence ---------------------------------------------------------------------------
    async def refresh_presence(self, now: datetime, *, force: bool = False) -> None:
        """Record "seen now" for this instance's connected people (every PRESENCE_INTERVAL)."""
        if not force and time.monotonic() - self._presence_at < PRESENCE_INTERVAL:
            return
        try:
            await self.presence.touch(list(self._local_users()), now)
            self._presence_at = time.monotonic()
        except Exception as exc:  # Redis down: notices may go to people who were there
            log.warning("presence_refresh_failed", error=describe(exc))

    async def last_seen(self, user_id: uuid.UUID) -> datetime | None:
        if user_id in self._local_users():
            return self.runtime.clock.now()
        try:
            return await self.presence.last_seen(user_id)
        except Exception as exc:  # unknown: better a needless notice than a missed message
            log.warning("presence_read_failed", error=describe(exc))
            return None

    # -- the loop ---------------------------------------------------------------------------
    async def _loop(self) -> None:
        settings = self.runtime.settings
        while True:
            claimed = 0
            try:
                claimed = await self.run_once()
                await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database blip must not stop mail for good
                log.error("mail_round_failed", error=describe(exc))
            if claimed < settings.mail_batch_size:
                await asyncio.sleep(settings.mail_poll_interval)

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_INTERVAL:
            return
        async with self.runtime.session() as session:
            await service.prune(session, now=self.runtime.clock.now())
        self._pruned_at = time.monotonic()

    def start(self) -> None:
        if self.transport is None:
            log.warning("mail_off", hint="set TELEVISIT_SMTP_URL to send email")
        else:
            log.info("mail_on", to=self.transport.description)
        self._task = asyncio.create_task(self._loop(), name="mail-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.presence.close()
