"""Runs the checks: each gets its own accounts, sockets and violation list, and one result line."""

from __future__ import annotations

import asyncio
import fnmatch
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from conformance.auth import sign_in
from conformance.client import Api, CheckFailed, Person, Socket, expect_status
from conformance.contract import Contract

ADMIN_USERS = "/api/v1/admin/users"
Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Options:
    """Everything the kit needs to know about the server under test."""

    base_url: str
    admin_email: str
    admin_password: str = field(repr=False)
    admin_totp_secret: str | None = field(default=None, repr=False)
    openapi: str | None = None  # path or URL; default: the repository's openapi.json
    asyncapi: str | None = None
    # Seconds the server was started with; the checks that wait for a timeout run only when given.
    room_unused_timeout: float | None = None
    room_empty_timeout: float | None = None
    ws_auth_timeout: float = 5.0  # the contract's 5 s unless the server was started otherwise
    jobs: int = 4  # checks run side by side (each with its own accounts)
    check_timeout: float = 60.0
    email_domain: str = "example.org"


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.status}  {self.name}" + (f"  {self.reason}" if self.reason else "")


class Context:
    """What one check works with: its own REST client, accounts, sockets, and violations."""

    def __init__(self, options: Options, contract: Contract, http: httpx.AsyncClient, admin_token: str,
                 name: str) -> None:
        self.options, self.contract, self.admin_token, self.name = options, contract, admin_token, name
        self.violations: list[str] = []
        self.api = Api(http, contract, self.violations)
        self._closing: list[Callable[[], Awaitable[None]]] = []

    # -- where the server is ------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.options.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + self.contract.frames.address
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    @property
    def origin(self) -> str:
        """The server's own origin, the one its web app is served from."""
        parts = urlsplit(self.options.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    # -- accounts and visits ------------------------------------------------------------------
    async def person(self, role: str, label: str = "") -> Person:
        """A new account made through the admin API (unique email), signed in."""
        tag = uuid.uuid4().hex[:10]
        email = f"kit-{role}-{tag}@{self.options.email_domain}"
        full_name = " ".join(p for p in ("Kit", role.title(), label, tag) if p)
        password = f"{secrets.token_urlsafe(18)}-kit"
        created = expect_status(await self.api.post(ADMIN_USERS, token=self.admin_token, json={
            "email": email, "password": password, "full_name": full_name, "role": role}), 201)
        token = await sign_in(self.api, email=email, password=password)
        return Person(id=created["id"], email=email, full_name=full_name, role=role, token=token,
                      password=password)

    async def people(self, *roles: str, label: str = "") -> list[Person]:
        return list(await asyncio.gather(*(self.person(role, label) for role in roles)))

    async def book(self, doctor: Person, patient: Person, *, starts_in: timedelta = timedelta(minutes=5),
                   starts_at: str | None = None, minutes: int = 30,
                   reason: str | None = "Kit check-up") -> dict[str, Any]:
        """A visit (by default startable now: calls may start shortly before a visit)."""
        body: dict[str, Any] = {"patient_id": patient.id, "duration_minutes": minutes,
                                "starts_at": starts_at or in_the_future(starts_in)}
        if reason is not None:
            body["reason"] = reason
        result: dict[str, Any] = expect_status(
            await self.api.post("/api/v1/appointments", token=doctor.token, json=body), 201)
        return result

    async def call(self, caller: Person, appointment: dict[str, Any], status: int = 201) -> dict[str, Any]:
        """Start the visit's call; the room."""
        body = expect_status(await self.api.post(f"/api/v1/appointments/{appointment['id']}/call",
                                                 token=caller.token), status)
        room: dict[str, Any] = body["room"]
        return room

    async def room(self, person: Person, room_id: str) -> dict[str, Any]:
        result: dict[str, Any] = expect_status(await self.api.get(f"/api/v1/rooms/{room_id}",
                                                                 token=person.token), 200)
        return result

    async def appointment(self, person: Person, appointment_id: str) -> dict[str, Any]:
        result: dict[str, Any] = expect_status(
            await self.api.get(f"/api/v1/appointments/{appointment_id}", token=person.token), 200)
        return result

    # -- sockets ------------------------------------------------------------------------------
    async def socket(self, person: Person | None, name: str, *, origin: str | None = None) -> Socket:
        """An open socket, authenticated as ``person`` (`ready` received) unless None."""
        socket = await Socket.open(self.ws_url, self.contract, self.violations, name, origin=origin)
        self.on_close(socket.close)
        if person is not None:
            ready = await socket.request({"type": "auth", "token": person.token}, "ready")
            if ready.get("user_id") != person.id:
                raise CheckFailed(f"{name}: ready.user_id {ready.get('user_id')} is not {person.id}")
        return socket

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closing.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closing):
            try:
                await asyncio.wait_for(closer(), 10)
            except Exception:  # noqa: S110 - closing what a finished check left open, best effort
                pass


def in_the_future(delta: timedelta) -> str:
    """A start time ``delta`` from now, whole seconds, ISO 8601 with an offset."""
    return (datetime.now(UTC) + delta).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Awaitable[None]]
    about: str
    needs: Callable[[Options], str | None] = field(default=lambda options: None)


def selected(checks: Sequence[Check], patterns: Sequence[str]) -> list[Check]:
    if not patterns:
        return list(checks)
    return [c for c in checks if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def _run_one(check: Check, options: Options, contract: Contract, http: httpx.AsyncClient,
                   admin_token: str, gate: asyncio.Semaphore) -> Result:
    skip = check.needs(options)
    if skip:
        return Result(check.name, "SKIP", skip)
    async with gate:
        started = time.monotonic()
        context = Context(options, contract, http, admin_token, check.name)
        failure = ""
        try:
            async with asyncio.timeout(options.check_timeout):
                await check.run(context)
        except CheckFailed as exc:
            failure = str(exc)
        except TimeoutError:
            failure = f"did not finish within {options.check_timeout:g} s"
        except Exception as exc:  # a server answer the check could not even read
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            await context.close()
        seconds = time.monotonic() - started
    # A contract violation is the cause to report first: it often explains the failure after it.
    if context.violations:
        more = len(context.violations) - 1
        reason = "contract: " + context.violations[0] + (f" (+{more} more)" if more else "")
        if failure:
            reason += f"; then: {failure}"
        return Result(check.name, "FAIL", _one_line(reason), seconds)
    if failure:
        return Result(check.name, "FAIL", _one_line(failure), seconds)
    return Result(check.name, "PASS", "", seconds)


async def run(options: Options, checks: Sequence[Check], *, contract: Contract | None = None,
              out: Callable[[str], None] = print) -> list[Result]:
    """Run ``checks`` against the server; print a line per check as results come, in order."""
    contract = contract or Contract.load(options.openapi, options.asyncapi)
    async with httpx.AsyncClient(base_url=options.base_url, timeout=20, trust_env=False,
                                 follow_redirects=False) as http:
        setup: list[str] = []
        try:
            admin_token = await sign_in(Api(http, contract, setup), email=options.admin_email,
                                        password=options.admin_password,
                                        totp_secret=options.admin_totp_secret)
        except (CheckFailed, httpx.HTTPError) as exc:
            result = Result("setup.admin-sign-in", "FAIL", _one_line(f"{type(exc).__name__}: {exc}"))
            out(result.line())
            return [result]
        if setup:
            out(Result("setup.admin-sign-in", "FAIL", _one_line("contract: " + setup[0])).line())
        gate = asyncio.Semaphore(max(1, options.jobs))
        tasks = [asyncio.create_task(_run_one(c, options, contract, http, admin_token, gate), name=c.name)
                 for c in checks]
        results = []
        for task in tasks:
            result = await task
            out(result.line())
            results.append(result)
        if setup:
            results.insert(0, Result("setup.admin-sign-in", "FAIL", _one_line("contract: " + setup[0])))
        return results


def summary(results: Sequence[Result], seconds: float) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "SKIP")}
    return (f"{len(results)} checks: {counts['PASS']} passed, {counts['FAIL']} failed, "
            f"{counts['SKIP']} skipped in {seconds:.1f} s")
