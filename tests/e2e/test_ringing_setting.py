"""The account page's ringing setting: reachable by keyboard, passes axe-core at phone width and
200% zoom, and asks the browser for permission only from a tap. (Subscribing needs the browser's
own push service, which Chromium cannot reach from this closed network: the page then says so in
words for patients; the server side of subscribing is tested in tests/push.)"""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.a11y import SIZES, check_a11y
from tests.e2e.pages import PATIENT, shot, sign_in

COULD_NOT = ("This device could not turn on call notifications. "
             "Check your internet connection and try again.")


async def test_the_ringing_setting_on_the_account_page(browser, instance, artifacts):
    for size in ("phone", "zoom200"):
        context = await browser.new_context(base_url=instance.url, bypass_csp=True,
                                            permissions=["notifications"], **SIZES[size])
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await sign_in(page, PATIENT[0])
        await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
        await page.goto("/account")
        card = page.get_by_role("region", name="Calls when Televisit is closed")
        await expect(card).to_be_visible()
        button = card.get_by_role("button", name="Ring this device for calls")
        await expect(button).to_be_visible()
        await check_a11y(page, f"account page ({size})")
        await button.focus()
        await page.keyboard.press("Enter")
        outcome = card.get_by_test_id("ringing-on").or_(card.get_by_role("alert"))
        await expect(outcome).to_be_visible()
        if await card.get_by_role("alert").count():
            await expect(card.get_by_role("alert")).to_have_text(COULD_NOT)
        await check_a11y(page, f"account page after trying ({size})")
        await shot(page, artifacts, f"ringing-setting-{size}")
        await context.close()
