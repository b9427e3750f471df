"""The web app as a patient's browser downloads it from `televisit serve` alone (no proxy): its
scripts and styles arrive gzipped, and the page works from them."""

from __future__ import annotations

from playwright.async_api import Response, expect

from televisit.web.spa import GZIP_MIN_BYTES
from tests.e2e.pages import assert_clean_console, open_page


async def test_the_app_arrives_gzipped_and_runs(browser, instance):
    page = await open_page(browser, instance.url, phone=True)
    loaded: list[Response] = []
    page.on("response", lambda response: loaded.append(response))
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.wait_for_load_state("networkidle")

    texts = [r for r in loaded if r.url.endswith((".js", ".css")) and "/assets/" in r.url]
    assert texts, [r.url for r in loaded]
    for response in texts:
        headers = await response.all_headers()
        body = await response.body()  # as the page got it, decompressed
        if len(body) < GZIP_MIN_BYTES:
            continue
        assert headers.get("content-encoding") == "gzip", (response.url, headers)
        sent = int(headers["content-length"])
        assert sent < len(body) / 2, (response.url, sent, len(body))
    assert_clean_console(page)
