"""Where composed emails go: an SMTP server (aiosmtplib), or in development a folder on disk.

Failures are sorted into what a retry may fix (a connection refused, a 4xx reply, a timeout) and
what it will not (a 5xx reply to this message). Their description is the exception's class and
SMTP code only: a server's text can quote the address.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog
from pydantic import SecretStr

from televisit.mail.compose import Outgoing

log = structlog.get_logger("televisit.mail")

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class DeliveryFailed(Exception):
    def __init__(self, error: str, *, permanent: bool = False, connection_lost: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        # The connection is unusable: the rest of the batch waits for the next round.
        self.connection_lost = connection_lost


class Delivery(Protocol):
    async def deliver(self, outgoing: Outgoing) -> None: ...


class Transport(Protocol):
    description: str

    def connect(self) -> AbstractAsyncContextManager[Delivery]: ...


def describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__} {code}" if isinstance(code, int) else type(exc).__name__


def _classify(exc: Exception) -> DeliveryFailed:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return DeliveryFailed(f"SMTPRecipientsRefused {codes[0] if codes else ''}".strip(),
                              permanent=bool(codes) and all(500 <= c < 600 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        return DeliveryFailed(describe(exc), connection_lost=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(describe(exc), permanent=500 <= exc.code < 600)
    return DeliveryFailed(describe(exc), connection_lost=True)  # OSError, TimeoutError, TLS errors


class _SmtpDelivery:
    def __init__(self, client: aiosmtplib.SMTP, sender: str) -> None:
        self._client = client
        self._sender = sender

    async def deliver(self, outgoing: Outgoing) -> None:
        try:
            await self._client.send_message(outgoing.message, sender=self._sender,
                                            recipients=[outgoing.recipient])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise _classify(exc) from None


class SmtpTransport:
    """`smtp://` plain (never upgraded: a local relay's self-signed certificate must not stop
    mail), `smtp+starttls://` (STARTTLS required) or `smtps://` (TLS from the first byte)."""

    def __init__(self, url: SecretStr, *, sender: str, timeout: float) -> None:
        parts = urlsplit(url.get_secret_value())
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or DEFAULT_PORTS[parts.scheme]
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        ca_file = parse_qs(parts.query).get("ssl_ca_certs", [None])[0]
        self._tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._sender = sender
        self._timeout = timeout
        self.description = f"{self._scheme}://{self._host}:{self._port}"  # no credentials

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self._host, port=self._port, username=self._username, password=self._password,
            use_tls=self._scheme == "smtps", start_tls=self._scheme == "smtp+starttls",
            timeout=self._timeout, tls_context=self._tls,
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Delivery]:
        client = self._client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Wrong credentials too: mail waits (and retries) until the operator fixes them.
            raise DeliveryFailed(describe(exc), connection_lost=True) from None
        try:
            yield _SmtpDelivery(client, self._sender)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()


class DevMailbox:
    """Development without SMTP: each message becomes `<time>-<id>.eml` and `.html` in a folder,
    listed at /dev/mailbox (the way letter_opener works for Rails developers)."""

    def __init__(self, directory: Path, listing_url: str) -> None:
        self.directory = directory
        self.listing_url = listing_url
        self.description = f"dev mailbox {directory.resolve()} ({listing_url})"

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Delivery]:
        yield self

    async def deliver(self, outgoing: Outgoing) -> None:
        message = outgoing.message
        row_id = str(message["Message-ID"]).strip("<>").partition("@")[0].replace("-", "")
        stem = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{row_id}"
        html_part = message.get_body(("html",))
        html = html_part.get_content() if html_part is not None else ""
        await asyncio.to_thread(self._write, stem, message.as_bytes(), html)
        log.info("dev_mail_written", file=str((self.directory / f"{stem}.html").resolve()),
                 open=self.listing_url)

    def _write(self, stem: str, eml: bytes, html: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{stem}.eml").write_bytes(eml)
        (self.directory / f"{stem}.html").write_text(html, encoding="utf-8")
