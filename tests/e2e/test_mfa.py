"""A doctor turns on two-factor sign-in from the account page (QR code, manual key, first code,
recovery codes shown once), signs out, and signs in again with a code from the app."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import expect

from televisit.users.models import Role
from tests.e2e.conftest import Instance, _free_port
from tests.e2e.pages import DOCTOR, assert_clean_console, open_page, shot, sign_in
from tests.fixtures.app import make_settings

STEP = 30


async def test_enrol_then_sign_in_with_a_code(browser, instance, artifacts):
    page = await open_page(browser, instance.url)
    await sign_in(page, DOCTOR[0])
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()

    await page.get_by_role("link", name="Account").click()
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await expect(page.get_by_text("Two-factor sign-in is off.")).to_be_visible()
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.get_by_role("img", name="QR code with your two-factor key")
    await expect(qr).to_be_visible()
    assert (await qr.evaluate("img => img.naturalWidth")) > 0  # the SVG really rendered
    secret = (await page.get_by_test_id("manual-key").inner_text()).strip()
    await shot(page, artifacts, "41-mfa-enrol")

    totp = pyotp.TOTP(secret)
    enrolled_step = int(time.time()) // STEP
    await page.get_by_label("Code from your app").fill(totp.at(enrolled_step * STEP))
    await page.get_by_role("button", name="Turn on two-factor sign-in").click()
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes_list = page.get_by_role("list", name="Your recovery codes")
    codes = await codes_list.get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10
    await shot(page, artifacts, "42-mfa-recovery-codes")
    await page.get_by_role("button", name="I have saved my recovery codes").click()
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, DOCTOR[0])
    await expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    await page.get_by_label("Code").fill("000000")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_contain_text("not right")
    # The code used at enrolment cannot be used again: the app's next one (one step of drift is
    # allowed), or the current one if a step has already passed.
    step = max(int(time.time()) // STEP, enrolled_step + 1)
    await page.get_by_label("Code").fill(totp.at(step * STEP))
    await shot(page, artifacts, "43-mfa-code")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    assert_clean_console(page)


@pytest.fixture
async def strict_instance(built_spa: Path, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Instance]:
    """A clinic that requires two-factor sign-in for staff."""
    db = tmp_path / "strict.db"
    shutil.copy(sqlite_template, db)
    settings = make_settings(f"sqlite+aiosqlite:///{db}", log_level="WARNING", mfa_required_for_staff=True)
    inst = Instance(settings=settings, port=_free_port())
    await inst.start()
    await inst.user(Role.doctor, *DOCTOR)
    try:
        yield inst
    finally:
        await inst.stop(drain_first=False)


async def test_required_enrolment_comes_first_then_the_app_works(browser, strict_instance, artifacts):
    page = await open_page(browser, strict_instance.url)
    await sign_in(page, DOCTOR[0])
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await expect(page.get_by_text("Your clinic requires two-factor sign-in")).to_be_visible()
    await page.goto("/visits")  # anything else leads back to the account page
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await page.wait_for_timeout(1500)  # still signed in: the socket was not even tried
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await shot(page, artifacts, "44-mfa-required")

    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = (await page.get_by_test_id("manual-key").inner_text()).strip()
    await page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on two-factor sign-in").click()
    await page.get_by_role("button", name="I have saved my recovery codes").click()
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    await expect(page.get_by_label("Find a patient")).to_be_visible()
    await page.wait_for_timeout(1500)
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    assert await page.get_by_role("alert").count() == 0
    assert_clean_console(page)
