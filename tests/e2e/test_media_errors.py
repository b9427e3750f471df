"""What a person sees when the camera cannot be used: a clear message, not a blank screen."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.conftest import CHROMIUM_ARGS, launch
from tests.e2e.pages import DOCTOR, PATIENT, book_visit, shot, sign_in


async def test_a_blocked_camera_says_how_to_allow_it(instance, chromium_path, artifacts):
    # Without the fake-UI flag and without the permission, Chromium refuses getUserMedia.
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    async with launch(chromium_path, args) as browser:
        context = await browser.new_context(base_url=instance.url,
                                            viewport={"width": 1024, "height": 768})
        page = await context.new_page()
        await sign_in(page, DOCTOR[0])
        await book_visit(page, PATIENT[1])
        await page.get_by_role("link", name="Start visit").click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("Camera and microphone access is blocked")
        await expect(page.get_by_role("button", name="Try again")).to_be_visible()
        await expect(page.get_by_role("button", name="Start the call")).to_be_disabled()
        await shot(page, artifacts, "30-precheck-camera-blocked")
