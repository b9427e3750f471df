"""A new patient registers, signs out and signs in again, on a phone."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.pages import assert_clean_console, open_page, shot, sign_in


async def test_register_sign_out_and_back_in(browser, instance, artifacts):
    page = await open_page(browser, instance.url, phone=True)
    await page.goto("/")
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Full name").fill("Noor Haddad")
    await page.get_by_label("Email").fill("noor@example.org")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")
    await shot(page, artifacts, "31-phone-register-error")
    await page.get_by_label("Password").fill("amber-kestrel-orchard-19")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    await expect(page.get_by_text("No upcoming visits.")).to_be_visible()
    await expect(page.get_by_text("Noor Haddad")).to_be_visible()
    await shot(page, artifacts, "32-phone-new-patient")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    token = await page.evaluate("sessionStorage.getItem('televisit.token')")
    assert token is None
    await page.goto("/visits")  # signed out: back to the sign-in page
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await sign_in(page, "noor@example.org", "amber-kestrel-orchard-19")
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    assert_clean_console(page)
