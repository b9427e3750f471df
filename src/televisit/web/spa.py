"""Serve the built single-page app from ``dist/`` with a fallback to ``index.html``.

One origin for the app and the API keeps the CSP strict (``connect-src 'self'``) and the
WebSocket origin check simple. The SPA route is the last route and refuses the API and ops
paths outright, so their own 404/405 answers (the contract's JSON errors) stay untouched.

Text files go out gzipped to browsers that accept it, compressed once per file and kept in
memory (the build is a few hundred KB): ``televisit serve`` without a proxy in front is a
supported way to run, and the app's entry is about 200 KB raw against about 70 KB gzipped, which
a patient on a phone's network waits for before the visit can start. nginx, where it is in front,
compresses the same files itself (deploy/nginx).
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from televisit.runtime import runtime_of

DEFAULT_DIST = Path(__file__).resolve().parent / "dist"

# Paths the SPA never answers: the API, health and metrics keep their own responses.
RESERVED_PREFIXES = ("/api/", "/livez", "/readyz", "/metrics")
RESERVED_EXACT = ("/api",)

# No inline scripts or styles; media comes from the camera (blob/mediastream). The API and the
# WebSocket are this origin's: 'self' covers same-origin ws: and wss: in current browsers (CSP 3), so
# a page hijacked by injected markup still cannot send data to any other host.
CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
OTHER_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def connect_sources(allowed_origins: Sequence[str]) -> list[str]:
    """'self' and the configured ``allowed_origins``, each also as its WebSocket origin.

    An explicit ``https://host`` source does not match ``wss://host`` (CSP 3 scheme matching), so
    both are listed.
    """
    sources = ["'self'"]
    for origin in allowed_origins:
        scheme, sep, rest = origin.rstrip("/").partition("://")
        if not sep or scheme not in ("http", "https") or not rest:
            continue  # not an origin a page could connect to; the WebSocket check ignores it too
        for source in (f"{scheme}://{rest}", f"{'wss' if scheme == 'https' else 'ws'}://{rest}"):
            if source not in sources:
                sources.append(source)
    return sources


def security_headers(allowed_origins: Sequence[str] = ()) -> dict[str, str]:
    """The web app's headers; the CSP's connect-src names this origin and the allowed ones only."""
    directives = [
        f"connect-src {' '.join(connect_sources(allowed_origins))}" if d.startswith("connect-src ") else d
        for d in CSP_DIRECTIVES
    ]
    return {"Content-Security-Policy": "; ".join(directives), **OTHER_HEADERS}


IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Files whose name does not change between builds: browsers must check them every time.
ALWAYS_REVALIDATE = {"index.html", "sw.js", "manifest.webmanifest"}

NOT_BUILT = (
    "The Televisit web app is not built yet.\n"
    "Run `make web` (or `make run`, which builds it) and reload this page.\n"
    "The API is available under /api/v1 meanwhile.\n"
)


def is_reserved(path: str) -> bool:
    return path in RESERVED_EXACT or path.startswith(RESERVED_PREFIXES)


class SpaRoute(Route):
    """A catch-all GET route that does not match reserved paths at all (so they 404/405 as before).

    It serves the build in ``dist`` (a test may point it at another one).
    """

    def __init__(self, dist: Path, headers: dict[str, str]) -> None:
        self.dist = dist
        self.headers = headers
        super().__init__("/{path:path}", self.serve, methods=["GET", "HEAD"], include_in_schema=False)

    async def serve(self, request: Request) -> Response:
        return spa(self.dist, request.url.path, self.headers, gzip_ok=accepts_gzip(request.headers))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and is_reserved(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


def _cache_control(relative: PurePosixPath) -> str:
    if relative.parts[:1] == ("assets",):
        return IMMUTABLE  # Vite puts a content hash in every name under assets/
    if relative.name in ALWAYS_REVALIDATE:
        return REVALIDATE
    return "public, max-age=86400"


def _file_in(dist: Path, path: str) -> tuple[Path, PurePosixPath] | None:
    """The file ``path`` names inside ``dist``, or None; never a file outside it."""
    relative = PurePosixPath(path.lstrip("/"))
    if any(part in ("..", "") for part in relative.parts) or "\\" in path or "\x00" in path:
        return None
    candidate = (dist / relative).resolve()
    if not candidate.is_relative_to(dist.resolve()) or not candidate.is_file():
        return None
    return candidate, relative


def _looks_like_file(path: str) -> bool:
    """Asset-like paths get a real 404 instead of index.html (HTML served as JS breaks loudly)."""
    last = PurePosixPath(path).name
    return path.startswith("/assets/") or ("." in last and not last.endswith(".html"))


# What compresses (the build's text), and below what size gzip saves nothing worth a header.
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".map", ".txt"}
GZIP_MIN_BYTES = 1024


def accepts_gzip(request_headers: Headers) -> bool:
    """Whether ``Accept-Encoding`` takes gzip (``gzip;q=0`` refuses it; ``*`` takes it)."""
    taken: dict[str, float] = {}
    for item in request_headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        if name:
            taken[name.strip().lower()] = q
    return taken.get("gzip", taken.get("*", 0.0)) > 0


@functools.lru_cache(maxsize=512)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    """The file gzipped, once per version of it (its mtime and size are in the cache key)."""
    del mtime_ns, size
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


def _respond(file: Path, relative: PurePosixPath, security: dict[str, str], *, gzip_ok: bool) -> Response:
    headers = {**security, "Cache-Control": _cache_control(relative)}
    if relative.name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    if file.suffix not in COMPRESSIBLE:
        return FileResponse(file, headers=headers)
    headers["Vary"] = "Accept-Encoding"
    stat = file.stat()
    if not gzip_ok or stat.st_size < GZIP_MIN_BYTES:
        return FileResponse(file, headers=headers, stat_result=stat)
    plain = FileResponse(file, stat_result=stat)  # its media type, ETag and Last-Modified
    headers.update({"Content-Encoding": "gzip", "Last-Modified": plain.headers["last-modified"],
                    # Another representation of the same file: its own validator.
                    "ETag": plain.headers["etag"][:-1] + '-gzip"'})
    return Response(_gzipped(os.fspath(file), stat.st_mtime_ns, stat.st_size),
                    media_type=plain.media_type, headers=headers)


def spa(dist: Path, path: str, security: dict[str, str], *, gzip_ok: bool = False) -> Response:
    index = dist / "index.html"
    if not index.is_file():
        return PlainTextResponse(NOT_BUILT, status_code=503,
                                 headers={**security, "Cache-Control": "no-store"})
    found = _file_in(dist, path) if path != "/" else None
    if found is not None:
        return _respond(*found, security, gzip_ok=gzip_ok)
    if path != "/" and _looks_like_file(path):
        return PlainTextResponse("Not found.\n", status_code=404,
                                 headers={**security, "Cache-Control": "no-store"})
    return _respond(index, PurePosixPath("index.html"), security, gzip_ok=gzip_ok)


def mount_spa(app: FastAPI, dist: Path = DEFAULT_DIST) -> SpaRoute:
    """Add the SPA as the last route. Call after every API router is included."""
    route = SpaRoute(dist, security_headers(runtime_of(app).settings.allowed_origins))
    app.router.routes.append(route)
    return route


def spa_route(app: FastAPI) -> SpaRoute:
    return next(r for r in app.router.routes if isinstance(r, SpaRoute))
