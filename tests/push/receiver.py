"""A Web Push service on 127.0.0.1, for tests: it hands out subscriptions like a browser's
(`PushSubscription.toJSON()`, with keys it holds the private half of), checks each push's VAPID
token (RFC 8292: ES256 over the claims, `aud` its own origin, `exp` under 24 hours ahead, a `sub`)
and decrypts its body (RFC 8291, aes128gcm) as the browser would. It answers 201, or what a test
sets for a subscription (410: "this browser unsubscribed")."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Browser:
    """One subscribed browser: the endpoint and keys it gave the server, and the private key."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    answer: int = 201

    def to_json(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64e(public), "auth": b64e(self.auth_secret)}}


@dataclass
class Received:
    browser: Browser
    payload: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    headers: dict[str, str]
    status: int


class VapidRefused(AssertionError):
    pass


@dataclass
class PushService:
    origin: str
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    browsers: dict[str, Browser] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # What a real push service does next: hand the decrypted message to the browser.
    forward: Callable[[Received], Awaitable[None]] | None = None

    def browser(self) -> Browser:
        token = secrets.token_urlsafe(16)
        b = Browser(token, f"{self.origin}/push/{token}", ec.generate_private_key(ec.SECP256R1()),
                    secrets.token_bytes(16))
        self.browsers[token] = b
        return b

    def browser_with_keys(self, private_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> Browser:
        token = secrets.token_urlsafe(16)
        b = Browser(token, f"{self.origin}/push/{token}", private_key, auth_secret)
        self.browsers[token] = b
        return b

    def for_browser(self, browser: Browser) -> list[Received]:
        return [r for r in self.received if r.browser is browser]

    async def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` pushes arrived, then a moment more to catch any extra one."""
        deadline = time.monotonic() + timeout
        while len(self.received) + len(self.refused) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.received)} pushes arrived, {count} expected; "
                                     f"refused: {self.refused}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        await asyncio.sleep(0.3)
        assert not self.refused, self.refused
        return self.received

    def check_vapid(self, header: str) -> tuple[dict[str, Any], str]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; an ES256 JWT signed by that key, for this origin."""
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise VapidRefused(f"scheme {scheme!r}")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        head_b64, claims_b64, sig_b64 = token.split(".")
        head = json.loads(b64d(head_b64))
        if head.get("alg") != "ES256":
            raise VapidRefused(f"alg {head.get('alg')}")
        signature = b64d(sig_b64)
        if len(signature) != 64:
            raise VapidRefused("an ES256 signature is r || s, 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        try:
            public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise VapidRefused("bad signature") from None
        claims = json.loads(b64d(claims_b64))
        if claims.get("aud") != self.origin:
            raise VapidRefused(f"aud {claims.get('aud')!r}, not {self.origin!r}")
        if not time.time() < claims["exp"] <= time.time() + 24 * 3600:
            raise VapidRefused("exp not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise VapidRefused("sub")
        return claims, key

    async def handle(self, request: web.Request) -> web.Response:
        browser = self.browsers.get(request.match_info["token"])
        if browser is None:
            return web.Response(status=404)
        try:
            claims, key = self.check_vapid(request.headers.get("Authorization", ""))
            if request.headers.get("Content-Encoding") != "aes128gcm":
                raise VapidRefused("content encoding")
            body = await request.read()
            plain = http_ece.decrypt(body, private_key=browser.private_key, auth_secret=browser.auth_secret,
                                     version="aes128gcm")
        except Exception as exc:  # recorded, so the test fails with the reason
            self.refused.append(repr(exc))
            self.arrived.set()
            return web.Response(status=400)
        headers = {k: request.headers.get(k, "") for k in ("TTL", "Urgency", "Topic")}
        received = Received(browser, json.loads(plain), claims, key, headers, browser.answer)
        self.received.append(received)
        if self.forward is not None and browser.answer < 300:
            await self.forward(received)
        self.arrived.set()
        return web.Response(status=browser.answer)


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    service = PushService("")
    app = web.Application()
    app.router.add_post("/push/{token}", service.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service.origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield service
    finally:
        await runner.cleanup()
