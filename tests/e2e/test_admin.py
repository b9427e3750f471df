"""The admin area in Chromium: an admin lands there, finds a patient, deactivates her (her open
page is signed out at once) and sees it in the audit log; every screen passes axe-core (no
serious or critical violation) on a desktop, at 200% zoom and on a phone."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from televisit.users.models import Role
from tests.e2e.a11y import a11y_page, check_a11y
from tests.e2e.pages import PATIENT, assert_clean_console, open_page, shot, sign_in

ADMIN = ("ada@clinic.test", "Ada Admin")


async def admin_page(browser: Any, base_url: str, size: str) -> Page:
    return await a11y_page(browser, base_url, size)


async def test_admin_finds_a_patient_deactivates_her_and_sees_it_in_the_audit_log(
    browser, instance, artifacts
):
    await instance.user(Role.admin, *ADMIN)
    patient = await open_page(browser, instance.url)
    await sign_in(patient, PATIENT[0])
    await expect(patient.get_by_role("heading", name="Your visits")).to_be_visible()

    page = await admin_page(browser, instance.url, "desktop")
    await sign_in(page, ADMIN[0])
    await expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    assert page.url.endswith("/admin")
    await expect(page.get_by_role("navigation", name="Administration")).to_be_visible()
    await check_a11y(page, "accounts")
    await shot(page, artifacts, "41-admin-accounts")

    await page.get_by_label("Name or email").fill("Patty")
    await page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table", name="Accounts, by name")
    await expect(results.get_by_role("row")).to_have_count(2)  # the header and Patty
    await results.get_by_role("link", name=PATIENT[1]).click()
    await expect(page.get_by_role("heading", name=PATIENT[1])).to_be_visible()
    await expect(page.get_by_text("Signed in on")).to_be_visible()
    await check_a11y(page, "account")
    await shot(page, artifacts, "42-admin-account")

    opener = page.get_by_role("button", name="Deactivate account")
    await opener.click()
    dialog = page.get_by_role("dialog", name="Deactivate this account?")
    await expect(dialog).to_be_visible()
    cancel = dialog.get_by_role("button", name="Cancel")
    confirm = dialog.get_by_role("button", name="Deactivate")
    await expect(cancel).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(confirm).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(cancel).to_be_focused()  # focus stays in the dialog
    await check_a11y(page, "deactivate dialog")
    await shot(page, artifacts, "43-admin-deactivate-dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()  # back where it was

    await opener.click()
    await dialog.get_by_role("button", name="Deactivate").click()
    done = page.get_by_role("status").filter(has_text=f"{PATIENT[1]} is deactivated")
    await expect(done).to_be_visible()
    await expect(done).to_be_focused()  # the button that opened the dialog is gone
    await expect(page.get_by_role("button", name="Reactivate account")).to_be_visible()
    # Her open page is signed out at once: the socket closed, the token is dead.
    await expect(patient.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(patient.get_by_text("Your session has ended")).to_be_visible()
    await shot(page, artifacts, "44-admin-deactivated")

    await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    log = page.get_by_role("table", name="Audit records, newest first")
    deactivated = log.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Account deactivated"))
    await expect(deactivated).to_have_count(1)
    await expect(deactivated).to_contain_text(ADMIN[1])
    await expect(deactivated).to_contain_text("Success")
    await check_a11y(page, "audit log")
    await shot(page, artifacts, "45-admin-audit-log")

    await page.get_by_label("Action").select_option(label="Account deactivated")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"action=admin\.users\.deactivate"))
    await expect(log.get_by_role("row")).to_have_count(2)
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download CSV").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("televisit-audit-")
    csv_text = await asyncio.to_thread(Path(await download.path()).read_text)
    assert csv_text.startswith("id,occurred_at,") and csv_text.count("admin.users.deactivate") == 1
    assert "token" not in download.url and download.url.startswith("blob:")

    await page.get_by_role("link", name="New account").click()
    await expect(page.get_by_role("heading", name="New account")).to_be_visible()
    await check_a11y(page, "new account")
    await page.get_by_label("Full name").fill("Dr. Jonas Weber")
    await page.get_by_label("Email").fill("jonas.weber@example.org")
    await page.get_by_label("Role").select_option(label="Doctor")
    await page.get_by_label("Temporary password").fill("copper-lantern-meadow-58")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dr. Jonas Weber")).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="Account created.")).to_be_visible()
    await shot(page, artifacts, "46-admin-account-created")
    assert_clean_console(patient)


async def test_admin_screens_at_200_percent_zoom_and_on_a_phone(browser, instance, artifacts):
    await instance.user(Role.admin, *ADMIN)
    for size in ("zoom200", "phone"):
        page = await admin_page(browser, instance.url, size)
        await sign_in(page, ADMIN[0])
        await expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
        await check_a11y(page, f"{size} accounts")
        await shot(page, artifacts, f"47-admin-{size}-accounts")

        await page.get_by_role("link", name=PATIENT[1]).click()
        await expect(page.get_by_role("heading", name=PATIENT[1])).to_be_visible()
        await check_a11y(page, f"{size} account")
        await page.get_by_role("button", name="Sign out everywhere").click()
        dialog = page.get_by_role("dialog", name="Sign out everywhere?")
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await expect(dialog.get_by_role("button", name="Sign out everywhere")).to_be_in_viewport()
        await check_a11y(page, f"{size} sign-out dialog")
        await shot(page, artifacts, f"48-admin-{size}-dialog")
        await dialog.get_by_role("button", name="Cancel").click()

        await page.get_by_role("link", name="Audit log").click()
        await expect(page.get_by_role("table", name="Audit records, newest first")).to_be_visible()
        await check_a11y(page, f"{size} audit log")
        await shot(page, artifacts, f"49-admin-{size}-audit")

        nav = page.get_by_role("navigation", name="Administration")
        await nav.get_by_role("link", name="New account").click()
        await expect(page.get_by_role("heading", name="New account")).to_be_visible()
        await check_a11y(page, f"{size} new account")
        await page.context.close()
