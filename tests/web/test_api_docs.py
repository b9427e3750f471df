"""The interactive API docs work without internet: every file the page needs comes from our own
origin, under a CSP that allows no inline script and no other host; production hides them."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from televisit.app import create_app
from tests.e2e.conftest import launch
from tests.fixtures.app import client_for, make_settings
from tests.fixtures.assertions import assert_error
from tests.fixtures.browser import CHROMIUM, chromium_args
from tests.fixtures.live import serve
from tests.fixtures.services import service_missing

DOCS = "/api/v1/docs"
OPENAPI = "/api/v1/openapi.json"
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"


class PageRefs(HTMLParser):
    """Every URL the page loads (scripts, styles, icons, images) and the bodies of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.openapi_url: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(values[name] or "")
        if values.get("data-openapi-url"):
            self.openapi_url = values["data-openapi-url"]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    csp = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in csp.split("; ")}


@pytest.fixture
def docs_db(tmp_path: Path, sqlite_template: Path) -> str:
    db = tmp_path / "docs.db"
    shutil.copy(sqlite_template, db)
    return f"sqlite+aiosqlite:///{db}"


@contextlib.asynccontextmanager
async def running(database_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, **overrides), configure_logs=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_the_docs_page_and_all_it_loads_come_from_our_origin(docs_db):
    async with running(docs_db) as application, client_for(application) as http:
        page = await http.get(DOCS)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        refs = PageRefs()
        refs.feed(page.text)
        assert refs.inline_scripts == []  # the start-up code is a file
        assert len(refs.urls) >= 4, refs.urls  # Swagger UI's script and style, our init, the icon
        for ref in [*refs.urls, refs.openapi_url]:
            assert ref is not None
            url = urlsplit(urljoin(str(page.url), ref))
            assert (url.scheme, url.netloc) == ("http", "testserver"), ref  # same origin
            asset = await http.get(url.path)
            assert asset.status_code == 200 and asset.content, ref
        assert (await http.get(refs.openapi_url or "")).json()["info"]["title"] == "Televisit API"

        directives = csp_directives(page)
        assert directives["script-src"] == ["'self'"]
        assert directives["style-src"] == ["'self'"]
        assert directives["connect-src"] == ["'self'"]
        assert directives["default-src"] == ["'none'"]
        csp = page.headers["content-security-policy"]
        assert "unsafe" not in csp and "http" not in csp and "*" not in csp


@pytest.mark.parametrize(("overrides", "served"), [
    ({"env": "production"}, False),
    ({"env": "production", "api_docs": True}, True),
    ({"env": "development", "api_docs": False}, False),
    ({"env": "development"}, True),
])
async def test_the_docs_are_off_in_production_unless_enabled(docs_db, overrides, served):
    async with running(docs_db, **overrides) as application, client_for(application) as http:
        for path in (DOCS, OPENAPI, f"{DOCS}/swagger-ui-bundle.js", f"{DOCS}/swagger-init.js"):
            response = await http.get(path)
            if served:
                assert response.status_code == 200, path
            else:
                assert_error(response, 404)
                assert response.headers["cache-control"] == "no-store"
        # The rest of the API is unaffected.
        assert_error(await http.get("/api/v1/me"), 401)


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        service_missing("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
    return CHROMIUM


async def test_the_docs_render_in_a_browser_that_reaches_only_our_origin(docs_db, chromium_path):
    async with running(docs_db) as application, serve(application) as live:
        async with launch(chromium_path, chromium_args()) as browser:
            page = await browser.new_page()
            elsewhere: list[str] = []
            refused: list[str] = []

            async def only_our_origin(route: Any) -> None:
                if urlsplit(route.request.url).netloc == f"127.0.0.1:{live.port}":
                    await route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    await route.abort()

            await page.route("**/*", only_our_origin)
            page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else None)
            await page.goto(f"{live.http_url}{DOCS}")

            tag = page.locator("#operations-tag-auth")
            await tag.wait_for(state="visible", timeout=20_000)
            login = page.locator(".opblock-post").filter(has_text="/api/v1/auth/login")
            await login.first.wait_for(state="visible")
            assert "POST" in await login.first.inner_text()
            await page.get_by_text("/api/v1/auth/login", exact=True).first.wait_for(state="visible")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
            # "Try it out" reaches the API from the page (connect-src 'self').
            await login.first.locator(".opblock-summary").click()
            await login.first.get_by_role("button", name="Try it out").click()
            await login.first.get_by_role("button", name="Execute").click()
            status = login.first.locator(".live-responses-table tbody .response-col_status").first
            await status.wait_for(state="visible", timeout=10_000)
            assert (await status.inner_text()).strip() in {"401", "422"}
        assert elsewhere == []
        assert refused == []
