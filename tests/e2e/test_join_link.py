"""The join link in Chromium on a phone: a doctor books a visit for someone with no account by
name and email; the link from the email the real SMTP server received opens the visit's check
page with no password, the token leaves the address bar at once and never reaches the server's
logs; the call rings on that page; after the doctor cancels, the same link shows the revoked page.
Also the password-reset pages, from "Forgot your password?" to signing in with the new one."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from televisit.users.models import Role
from tests.e2e.a11y import a11y_page, check_a11y
from tests.e2e.conftest import PASSWORD, Instance, _free_port
from tests.e2e.pages import (
    DOCTOR,
    PATIENT,
    assert_clean_console,
    check_in,
    open_page,
    shot,
    sign_in,
    wait_connected,
)
from tests.e2e.test_admin import admin_page
from tests.fixtures.app import make_settings
from tests.fixtures.logs import captured_logs
from tests.mail.helpers import JOIN_LINK, RESET_LINK, text_of
from tests.mail.smtp import SmtpServer, smtp_server, wait_for_mail

NEW_PASSWORD = "juniper-canyon-lighthouse-58"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def mail_instance(built_spa: Path, tmp_path: Path, sqlite_template: Path,
                        smtp: SmtpServer) -> AsyncIterator[Instance]:
    """The e2e server, sending its mail to the test's SMTP server, links under its own address,
    with the request log on (development's console format) as an operator would run it."""
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db)
    port = _free_port()
    settings = make_settings(
        f"sqlite+aiosqlite:///{db}", room_timers_enabled=True, log_level="INFO", log_sql=True,
        smtp_url=smtp.url, mail_from="Sunrise Clinic <visits@clinic.example>",
        public_url=f"http://127.0.0.1:{port}", clinic_name="Sunrise Clinic",
        mail_sender_enabled=True, mail_poll_interval=0.1, smtp_timeout=5.0, mail_lease=60,
    )
    inst = Instance(settings=settings, port=port)
    with captured_logs(settings) as logs:
        await inst.start()
        inst.logs = logs  # type: ignore[attr-defined]
        await inst.user(Role.doctor, *DOCTOR)
        await inst.user(Role.patient, *PATIENT)
        try:
            yield inst
        finally:
            if inst.server and inst.task and not inst.task.done():
                await inst.stop(drain_first=False)


async def doctor_api(inst: Instance) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=inst.url, timeout=20)
    reply = await client.post("/api/v1/auth/login", json={"email": DOCTOR[0], "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return client


async def emailed(smtp: SmtpServer, address: str, count: int, pattern: Any) -> str:
    """The link of the ``count``-th message to ``address`` (waiting for the sender to send it)."""
    for _ in range(200):
        mine = [r.message for r in smtp.inbox.received if r.rcpt_tos == [address]]
        if len(mine) >= count:
            [(link, _token)] = pattern.findall(text_of(mine[count - 1]))
            return str(link)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message {count} to {address}")


async def test_the_emailed_link_opens_the_visit_on_a_phone_without_a_password(
        browser, mail_instance, smtp, artifacts):
    # The doctor books someone who has no account: "New patient", a name and an email.
    desk = await open_page(browser, mail_instance.url)
    await sign_in(desk, DOCTOR[0])
    await desk.get_by_label("New patient").check()
    await desk.get_by_label("full name").fill("Noa Brennan")
    await desk.get_by_label("s email").fill("noa@example.org")
    await desk.get_by_label("Reason (optional)").fill("Sore throat")
    await desk.get_by_role("button", name="Book visit").click()
    await expect(desk.get_by_role("status").filter(has_text="Visit booked with Noa Brennan")).to_contain_text(
        "invitation")
    await shot(desk, artifacts, "50-desktop-book-new-patient")
    doctor = await doctor_api(mail_instance)
    [visit] = (await doctor.get("/api/v1/appointments")).json()["items"]
    assert visit["patient"]["full_name"] == "Noa Brennan"
    link = await emailed(smtp, "noa@example.org", 1, JOIN_LINK)
    token = link.rsplit("#", 1)[1]
    assert link == f"{mail_instance.url}/join#{token}"

    phone = await open_page(browser, mail_instance.url, phone=True)
    await phone.goto(link)
    await expect(phone.get_by_role("heading", name="Get ready for your visit")).to_be_visible()
    await expect(phone.get_by_text("With Dr. Mira Castell")).to_be_visible()
    assert phone.url == f"{mail_instance.url}/visits/{visit['id']}/check"  # no fragment, no token
    assert token not in await phone.evaluate("location.href + JSON.stringify(history.state)")
    banner = phone.get_by_role("region", name="About this visit link")
    await expect(banner).to_contain_text("no password needed")
    await expect(phone.get_by_role("link", name="Account")).to_have_count(0)
    await shot(phone, artifacts, "51-phone-join-link-check")

    # Her one visit only: the visit list sends her back to it.
    await phone.goto("/visits")
    await expect(phone.get_by_role("heading", name="Get ready for your visit")).to_be_visible()

    # The doctor calls: it rings on her page (her link's socket hears its own visit).
    call = await doctor.post(f"/api/v1/appointments/{visit['id']}/call")
    assert call.status_code == 201, call.text
    await expect(phone.get_by_role("heading", name="Dr. Mira Castell is calling")).to_be_visible()
    await shot(phone, artifacts, "52-phone-join-link-ringing")
    await phone.get_by_role("button", name="Decline call").click()

    # Cancelled: the same link now says so, and what to do.
    for _ in range(100):  # the decline has ended the call
        if (await doctor.get(f"/api/v1/appointments/{visit['id']}")).json()["status"] == "scheduled":
            break
        await asyncio.sleep(0.05)
    cancelled = await doctor.post(f"/api/v1/appointments/{visit['id']}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    again = await open_page(browser, mail_instance.url, phone=True)
    await again.goto(link)
    await expect(again.get_by_role("heading", name="This visit was cancelled")).to_be_visible()
    await expect(again.get_by_role("link", name="Sign in with your password")).to_be_visible()
    assert "#" not in again.url
    await shot(again, artifacts, "53-phone-join-link-revoked")
    checked = await admin_page(browser, mail_instance.url, "phone")
    await checked.goto(link)
    await expect(checked.get_by_role("heading", name="This visit was cancelled")).to_be_visible()
    await check_a11y(checked, "revoked link, phone")

    # The server saw the token only in a request body, which its log never prints.
    logged = mail_instance.logs.getvalue()  # type: ignore[attr-defined]
    assert "/api/v1/auth/join" in logged and "/join" in logged
    assert token not in logged
    assert_clean_console(desk, phone, again)
    await doctor.aclose()


async def test_forgot_password_to_signed_in_with_the_new_one(browser, mail_instance, smtp, artifacts):
    page: Page = await open_page(browser, mail_instance.url, phone=True)
    await page.goto("/")
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    await page.get_by_label("Email").fill(PATIENT[0])
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("If an account uses this address")
    await shot(page, artifacts, "54-phone-forgot-password")

    link = await emailed(smtp, PATIENT[0], 1, RESET_LINK)
    token = link.rsplit("#", 1)[1]
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    assert page.url == f"{mail_instance.url}/reset"
    await page.get_by_label("New password", exact=True).fill("short")
    await page.get_by_label("New password, again").fill("short")
    await page.get_by_role("button", name="Save the password").click()
    await expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password, again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Save the password").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Your new password is set")
    await sign_in(page, PATIENT[0], NEW_PASSWORD)
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    assert token not in mail_instance.logs.getvalue()  # type: ignore[attr-defined]
    assert_clean_console(page)
    await wait_for_mail(smtp.inbox, 1)


async def test_the_emailed_link_checks_her_in_and_the_doctor_admits_her(
        browser, mail_instance, smtp, artifacts):
    """From the invitation to the call with no password: the link's session checks in to the
    waiting room, the doctor sees her there and admits her, and she is in the call without Accept."""
    doctor = await doctor_api(mail_instance)
    starts = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0).isoformat()
    booked = await doctor.post("/api/v1/appointments", json={
        "patient": {"full_name": "Ines Lachance", "email": "ines@example.org"},
        "starts_at": starts, "duration_minutes": 30})
    assert booked.status_code == 201, booked.text
    visit = booked.json()
    link = await emailed(smtp, "ines@example.org", 1, JOIN_LINK)

    desk = await a11y_page(browser, mail_instance.url)
    await sign_in(desk, DOCTOR[0])
    phone = await a11y_page(browser, mail_instance.url, "phone")
    await phone.goto(link)
    await expect(phone.get_by_role("heading", name="Get ready for your visit")).to_be_visible()
    await check_in(phone)
    await check_a11y(phone, "waiting room from a join link, phone")
    await shot(phone, artifacts, "55-phone-join-link-waiting-room")

    # The doctor's open page shows her waiting, without a reload; he admits her.
    waiting = desk.get_by_role("listitem", name="Ines Lachance is waiting")
    await expect(waiting).to_be_visible()
    await waiting.get_by_role("link", name="Admit Ines Lachance").click()
    await wait_connected(desk)
    await wait_connected(phone)
    await expect(phone.get_by_role("alertdialog")).to_have_count(0)  # no Accept step
    await shot(phone, artifacts, "56-phone-join-link-admitted")
    read = (await doctor.get(f"/api/v1/appointments/{visit['id']}")).json()
    assert read["status"] == "in_progress" and read["check_in"]["checks"]["camera"] == "ok"
    await doctor.aclose()
