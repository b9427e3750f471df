"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1 and a free port) that keeps what it gets
and can refuse messages on demand, plain, STARTTLS or TLS, with or without a password."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures.nginx import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """The aiosmtpd handler: answers DATA with `refuse_with` while `refuse_next` > 0."""

    received: list[Received] = field(default_factory=list)
    refuse_next: int = 0
    refuse_with: str = "451 4.3.0 Try again later"
    refused: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                self.refused += 1
                return self.refuse_with
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 OK"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    scheme: str = "smtp"
    credentials: tuple[str, str] | None = None
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        auth = ""
        if self.credentials:
            from urllib.parse import quote

            auth = f"{quote(self.credentials[0], safe='')}:{quote(self.credentials[1], safe='')}@"
        query = f"?ssl_ca_certs={self.ca_file}" if self.ca_file else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}{query}"


def _authenticator(credentials: tuple[str, str]) -> Any:
    def check(_server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials
        return AuthResult(success=ok, handled=False)

    return check


@contextlib.contextmanager
def smtp_server(*, scheme: str = "smtp", credentials: tuple[str, str] | None = None,
                certs: tuple[Path, Path, Path] | None = None,
                port: int | None = None) -> Iterator[SmtpServer]:
    """Start aiosmtpd in its own thread; `smtp+starttls` and `smtps` need ``certs`` (ca, crt, key)."""
    inbox = Inbox()
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    tls: ssl.SSLContext | None = None
    if certs is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(certs[1]), str(certs[2]))
    if scheme == "smtp+starttls":
        kwargs.update(tls_context=tls, require_starttls=True)
    elif scheme == "smtps":
        kwargs.update(ssl_context=tls)
    if credentials is not None:
        kwargs.update(authenticator=_authenticator(credentials), auth_required=True,
                      # aiosmtpd knows only STARTTLS as TLS; smtps is TLS from the first byte.
                      auth_require_tls=scheme == "smtp+starttls")
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(inbox=inbox, port=port, scheme=scheme, credentials=credentials,
                         ca_file=certs[0] if certs else None)
    finally:
        controller.stop()


async def wait_for_mail(inbox: Inbox, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(inbox.received) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(inbox.received)} messages arrived, expected {count}")
        await asyncio.sleep(0.02)
    return inbox.messages()
