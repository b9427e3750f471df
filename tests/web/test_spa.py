"""The backend serves the built SPA at / without shadowing the API, with caching and security headers."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from televisit.app import create_app
from televisit.web.spa import spa_route
from tests.fixtures.app import client_for, make_settings
from tests.fixtures.assertions import assert_error

INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head>' \
        '<body><div id="app"></div></body></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {})")
    (root / "manifest.webmanifest").write_text('{"name": "Televisit"}')
    (root / "icons").mkdir()
    (root / "icons" / "icon-192.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("outside dist")
    return root


@pytest.fixture
def spa_db(tmp_path: Path, sqlite_template: Path) -> Path:
    db = tmp_path / "spa.db"
    shutil.copy(sqlite_template, db)
    return db


@pytest.fixture
async def spa_app(spa_db: Path) -> AsyncIterator[FastAPI]:
    db = spa_db
    application = create_app(make_settings(f"sqlite+aiosqlite:///{db}"), configure_logs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def web(spa_app: FastAPI, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    spa_route(spa_app).dist = dist
    async with client_for(spa_app) as c:
        yield c


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["script-src"] == ["'self'"], csp  # no unsafe-inline, no eval
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    # Only this origin (its ws:/wss: included): no other host, no scheme wildcard.
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # Camera, microphone and screen share (getDisplayMedia) for this origin only; nothing else.
    policy = dict(p.split("=", 1) for p in response.headers["permissions-policy"].split(", "))
    assert policy == {"camera": "(self)", "microphone": "(self)", "display-capture": "(self)",
                      "geolocation": "()"}


async def test_root_and_client_routes_get_index_html_revalidated(web):
    for path in ("/", "/appointments", "/visit/5b0c0a53-7a55-4b8e-9d0b-3f7f0f3c1a11", "/sign-in?next=/x"):
        response = await web.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert_security_headers(response)


async def test_hashed_assets_are_cached_for_a_year_and_other_files_served(web):
    asset = await web.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.text == "console.log('app')"
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    sw = await web.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
    manifest = await web.get("/manifest.webmanifest")
    assert manifest.headers["cache-control"] == "no-cache"
    icon = await web.get("/icons/icon-192.png")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"


async def test_missing_assets_are_404_not_index_html(web):
    for path in ("/assets/index-gone.js", "/favicon-missing.png", "/icons/nope.svg"):
        response = await web.get(path)
        assert response.status_code == 404, path
        assert "<html" not in response.text


async def test_no_file_outside_dist_is_served(web):
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/..%5csecret.txt"):
        response = await web.get(path)
        assert "outside dist" not in response.text, path


async def test_api_and_ops_paths_keep_their_own_json_404_and_405(web):
    assert_error(await web.get("/api/v1/nope"), 404)
    assert_error(await web.get("/api/nope"), 404)
    assert_error(await web.get("/api"), 404)
    assert_error(await web.post("/api/v1/nope", json={}), 404)
    assert_error(await web.get("/livez/extra"), 404)
    assert_error(await web.get("/metrics/x"), 404)
    # A real API route with the wrong method is still a 405, not the SPA.
    assert_error(await web.get("/api/v1/auth/login"), 405)
    assert (await web.get("/livez")).json() == {"status": "ok"}
    assert (await web.get("/api/v1/me")).status_code == 401


async def test_the_openapi_document_does_not_list_the_spa(web):
    paths = (await web.get("/api/v1/openapi.json")).json()["paths"]
    assert all(p.startswith(("/api/", "/livez", "/readyz", "/metrics")) for p in paths)


async def test_without_a_build_the_root_says_how_to_build_and_the_api_works(spa_app, tmp_path):
    spa_route(spa_app).dist = tmp_path / "not-built"
    async with client_for(spa_app) as c:
        response = await c.get("/")
        assert response.status_code == 503
        assert "make web" in response.text and "make run" in response.text
        assert (await c.get("/appointments")).status_code == 503
        assert (await c.get("/livez")).status_code == 200
        assert_error(await c.get("/api/v1/nope"), 404)
        login = await c.post("/api/v1/auth/login",
                             json={"email": "a@example.org", "password": "wrong-password"})
        assert_error(login, 401)


async def test_the_csp_lets_the_page_connect_to_the_allowed_origins_only(spa_db, dist):
    settings = make_settings(f"sqlite+aiosqlite:///{spa_db}",
                             allowed_origins=["https://portal.clinic.example", "http://localhost:5173"])
    application = create_app(settings, configure_logs=False)
    spa_route(application).dist = dist
    async with application.router.lifespan_context(application), client_for(application) as c:
        csp = (await c.get("/")).headers["content-security-policy"]
    [connect] = [d.split()[1:] for d in csp.split("; ") if d.startswith("connect-src ")]
    assert connect == ["'self'", "https://portal.clinic.example", "wss://portal.clinic.example",
                       "http://localhost:5173", "ws://localhost:5173"]


async def test_text_files_go_out_gzipped_to_browsers_that_take_it(web, dist):
    """The app's entry is ~200 KB raw: a patient on a phone's network gets it gzipped (about a
    third) from `televisit serve` alone; what decompresses is the file, byte for byte."""
    script = "export const words = " + repr(["Your visit with the doctor"] * 400) + ";\n"
    (dist / "assets" / "index-big.js").write_text(script)
    raw = await web.get("/assets/index-big.js", headers={"Accept-Encoding": "identity"})
    assert raw.status_code == 200 and "content-encoding" not in raw.headers
    assert raw.content == script.encode() and int(raw.headers["content-length"]) == len(script)
    assert raw.headers["vary"] == "Accept-Encoding"

    for accept in ("gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "*"):
        zipped = await web.get("/assets/index-big.js", headers={"Accept-Encoding": accept})
        assert zipped.status_code == 200, accept
        assert zipped.headers["content-encoding"] == "gzip", accept
        assert zipped.content == script.encode()  # httpx decompressed it
        assert int(zipped.headers["content-length"]) < len(script) / 3
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert "javascript" in zipped.headers["content-type"]
        assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert zipped.headers["etag"] != raw.headers["etag"]  # another representation
        assert_security_headers(zipped)
    refused = await web.get("/assets/index-big.js", headers={"Accept-Encoding": "gzip;q=0, br"})
    assert "content-encoding" not in refused.headers and refused.content == script.encode()

    # A new build under the same name (index.html between deploys) is compressed anew.
    (dist / "index.html").write_text(INDEX + "<!--" + "x" * 4000 + "-->")
    first = await web.get("/", headers={"Accept-Encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip" and first.text.startswith(INDEX)
    (dist / "index.html").write_text(INDEX + "<!--" + "y" * 5000 + "-->")
    second = await web.get("/visits", headers={"Accept-Encoding": "gzip"})
    assert second.text.endswith("y" * 5000 + "-->")
    assert second.headers["cache-control"] == "no-cache"


async def test_small_and_binary_files_are_not_compressed(web):
    for path in ("/assets/index-abc123.js", "/icons/icon-192.png", "/sw.js"):
        response = await web.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path
    head = await web.head("/", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
