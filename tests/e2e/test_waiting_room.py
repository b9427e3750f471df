"""The visit around the call, in three browsers (the doctor on a laptop, two patients on phones):
messages before the visit with live unread counts, check-in with the pre-call check, the doctor's
live waiting room (results, tab count), admit straight into the call without Accept, a second
patient checking in during that call (a knock, never a dialog over the video; she reads that the
doctor is finishing another visit), a call longer than the session idle timeout, a message after
the visit, the history with its conversation and events, a live booking with a notice, and the
second patient leaving the waiting room.
Every screen passes axe-core; screenshots go to tests/e2e/artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from televisit.appointments import service as appointments_service
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from televisit.users import service as users_service
from televisit.users.models import Role
from tests.e2e.a11y import a11y_page, check_a11y
from tests.e2e.conftest import Instance, _free_port
from tests.e2e.pages import (
    DOCTOR,
    PATIENT,
    book_visit,
    chat_log,
    check_in,
    send_chat,
    shot,
    sign_in,
    wait_connected,
)
from tests.fixtures.app import make_settings

OLGA = ("olga@clinic.test", "Olga Brandt")
IDLE_TIMEOUT = 60  # seconds: the smallest the settings allow; the call below lasts longer


@pytest.fixture
async def short_idle_instance(built_spa: Path, tmp_path: Path,
                              sqlite_template: Path) -> AsyncIterator[Instance]:
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db)
    settings = make_settings(f"sqlite+aiosqlite:///{db}", room_timers_enabled=True, log_level="WARNING",
                             session_idle_timeout=IDLE_TIMEOUT)
    inst = Instance(settings=settings, port=_free_port())
    await inst.start()
    await inst.user(Role.doctor, DOCTOR[0], DOCTOR[1])
    await inst.user(Role.patient, PATIENT[0], PATIENT[1])
    await inst.user(Role.patient, OLGA[0], OLGA[1])
    try:
        yield inst
    finally:
        if inst.server and not inst.task.done():  # type: ignore[union-attr]
            await inst.stop(drain_first=False)


async def book_at(inst: Instance, patient_email: str, starts_at: datetime, minutes: int) -> str:
    """Book through the service as if a little earlier, so a visit can already be under way."""
    assert inst.app
    rt = runtime_of(inst.app)
    async with session_scope(rt.sessionmaker) as session:
        doctor = await users_service.get_by_email(session, email=DOCTOR[0])
        patient = await users_service.get_by_email(session, email=patient_email)
        assert doctor and patient
        booked = await appointments_service.book(
            session, settings=inst.settings, doctor=doctor, patient_id=patient.id, starts_at=starts_at,
            duration_minutes=minutes, reason="Blood pressure review", now=starts_at - timedelta(minutes=1))
        return str(booked.id)


def card(page: Page, name: str) -> object:
    return page.get_by_role("listitem", name=re.compile(f"^Visit with {re.escape(name)}"))


async def test_check_in_admit_knock_messages_and_history(browser, short_idle_instance, artifacts):
    inst = short_idle_instance
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    await book_at(inst, PATIENT[0], now - timedelta(minutes=5), 15)  # under way: checking in is open
    await book_at(inst, OLGA[0], now + timedelta(minutes=10), 15)  # next: her waiting room is open too

    doctor = await a11y_page(browser, inst.url, "desktop")
    patty = await a11y_page(browser, inst.url, "phone")
    olga = await a11y_page(browser, inst.url, "phone")
    await doctor.add_init_script("""(() => {
      // Record what the page shows with the Notification API (granted, as after "Notify me").
      window.__notifications = [];
      window.Notification = class { static permission = 'granted';
        static requestPermission() { return Promise.resolve('granted') }
        constructor(title) { window.__notifications.push(title) } close() {} };
    })();""")
    for page, who in ((doctor, DOCTOR), (patty, PATIENT)):
        await sign_in(page, who[0])
        await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()

    # A message before the visit: the doctor's list shows it live, with an unread count.
    await card(patty, DOCTOR[1]).get_by_role("link", name="Messages").click()
    await expect(patty.get_by_role("heading", name=f"Messages with {DOCTOR[1]}")).to_be_visible()
    await send_chat(patty, "I may be two minutes late, sorry.")
    await expect(chat_log(patty)).to_contain_text("I may be two minutes late")
    await check_a11y(patty, "conversation (phone)")
    await shot(patty, artifacts, "60-patient-conversation-before")
    unread = card(doctor, PATIENT[1]).get_by_role("link", name="Messages 1 unread")
    await expect(unread).to_be_visible()
    await check_a11y(doctor, "doctor's day with an unread message")
    await shot(doctor, artifacts, "61-doctor-day-unread")
    await unread.click()
    await expect(chat_log(doctor)).to_contain_text("I may be two minutes late")
    await send_chat(doctor, "No problem, check in when you are ready.")
    await doctor.get_by_role("link", name="Back to visits").click()
    await expect(card(doctor, PATIENT[1]).get_by_role("link", name="Messages", exact=True)).to_be_visible()

    # Check-in: the pre-call check, then the waiting room with the doctor's messages.
    await patty.get_by_role("link", name="Back to visits").click()
    await card(patty, DOCTOR[1]).get_by_role("link", name="Check in").click()
    await expect(patty.get_by_role("heading", name="Get ready for your visit")).to_be_visible()
    results = patty.get_by_role("list", name="Pre-call check")
    await expect(results).to_contain_text("Camera: works")
    await expect(results).to_contain_text("Microphone: works")
    await expect(results).to_contain_text(re.compile(r"Network: good \(\d+ ms\)"))
    await check_a11y(patty, "pre-call check (phone)")
    await shot(patty, artifacts, "62-patient-precall-check")
    await patty.get_by_role("button", name="Check in").click()
    await expect(patty.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    knows = patty.get_by_role("status").filter(has_text=f"{DOCTOR[1]} knows you are here")
    await expect(knows).to_be_visible()
    await expect(patty.get_by_label("Your camera preview")).to_be_visible()
    await expect(chat_log(patty)).to_contain_text("No problem, check in when you are ready.")
    await check_a11y(patty, "waiting room (phone)")
    await shot(patty, artifacts, "63-patient-waiting-room")

    # The doctor's page, not reloaded: she is waiting, with her results; the tab counts her.
    waiting = doctor.get_by_role("listitem", name=f"{PATIENT[1]} is waiting")
    await expect(waiting).to_be_visible()
    await expect(waiting).to_contain_text("Camera: works")
    await expect(waiting).to_contain_text("Waiting since")
    await expect(doctor).to_have_title(re.compile(r"^\(1 waiting\) "))
    await expect(card(doctor, PATIENT[1]).get_by_test_id("visit-state")).to_have_text(re.compile("^Waiting"))
    assert await doctor.evaluate("window.__notifications") == [f"{PATIENT[1]} is in the waiting room"]
    await check_a11y(doctor, "doctor's waiting room")
    await shot(doctor, artifacts, "64-doctor-waiting-room")

    # Admit: she is in the call without Accept.
    await waiting.get_by_role("link", name=f"Admit {PATIENT[1]}").click()
    await wait_connected(doctor)
    await wait_connected(patty)
    await expect(patty.get_by_role("alertdialog")).to_have_count(0)
    await shot(patty, artifacts, "65-patient-admitted")

    # The call outlasts the session idle timeout: nobody is signed out, the call stays up.
    await doctor.wait_for_timeout((IDLE_TIMEOUT + 8) * 1000)
    await wait_connected(doctor)
    await wait_connected(patty)
    await expect(patty.get_by_role("heading", name="Sign in")).to_have_count(0)

    # A second patient checks in during the call: a knock on the doctor's screen, nothing covers
    # the video, and she reads that the doctor is finishing another visit.
    await sign_in(olga, OLGA[0])  # now: a page left idle past the timeout is signed out, as it should be
    await card(olga, DOCTOR[1]).get_by_role("link", name="Check in").click()
    await check_in(olga)
    await expect(olga.get_by_text("The doctor is finishing another visit.")).to_be_visible()
    await expect(olga.get_by_text("declined")).to_have_count(0)
    await check_a11y(olga, "waiting room while the doctor is busy (phone)")
    await shot(olga, artifacts, "66-second-patient-doctor-busy")
    knock = doctor.get_by_test_id("knock")
    await expect(knock).to_contain_text(f"{OLGA[1]} is in the waiting room")
    await expect(doctor.get_by_role("alertdialog")).to_have_count(0)
    await expect(doctor.get_by_role("dialog")).to_have_count(0)
    await expect(doctor).to_have_title(re.compile(r"^\(1 waiting\) "))
    await check_a11y(doctor, "call with a knock")
    await shot(doctor, artifacts, "67-doctor-call-knock")
    await wait_connected(doctor)  # the call was not interrupted
    await wait_connected(patty)

    await doctor.get_by_role("button", name="Hang up").click()
    await expect(doctor.get_by_role("heading", name="Call ended")).to_be_visible()
    await expect(patty.get_by_role("heading", name="Call ended")).to_be_visible()
    await patty.get_by_role("button", name="Back to visits").click()
    await expect(card(patty, DOCTOR[1]).get_by_test_id("visit-state")).to_have_text("Visit done")
    no_way_in = card(patty, DOCTOR[1]).get_by_role("link", name=re.compile("Check in|Join"))
    await expect(no_way_in).to_have_count(0)
    await doctor.get_by_role("button", name="Back to visits").click()
    await expect(card(doctor, PATIENT[1]).get_by_test_id("visit-state")).to_have_text("Done")
    await expect(card(doctor, PATIENT[1]).get_by_role("link", name="Start visit")).to_have_count(0)

    # A message after the visit reaches her list live.
    await card(doctor, PATIENT[1]).get_by_role("link", name="Messages").click()
    await send_chat(doctor, "Your prescription is at the pharmacy.")
    await expect(card(patty, DOCTOR[1]).get_by_role("link", name="Messages 1 unread")).to_be_visible()
    await shot(patty, artifacts, "68-patient-unread-after")

    # The history: the visit with its call length, its conversation and its events.
    await card(patty, DOCTOR[1]).get_by_role("link", name="History").click()
    await expect(patty.get_by_role("heading", name=f"Past visits with {DOCTOR[1]}")).to_be_visible()
    past = patty.get_by_role("listitem", name=re.compile("^Visit of "))
    await expect(past).to_have_count(1)
    await expect(past).to_contain_text(re.compile(r"Call length\s*1 min"))
    await past.get_by_text("Messages and what happened").click()
    transcript = past.get_by_role("list", name="Messages")
    await expect(transcript).to_contain_text("I may be two minutes late")
    await expect(transcript).to_contain_text("Your prescription is at the pharmacy.")
    log = past.get_by_role("list", name="Event log")
    await expect(log).to_contain_text("You checked in")
    await expect(log).to_contain_text("The call ended")
    await check_a11y(patty, "history (phone)")
    await shot(patty, artifacts, "69-patient-history")

    # A live booking: the doctor books, her open page shows it with a notice.
    await doctor.get_by_role("link", name="Back to visits").click()
    await book_visit(doctor, PATIENT[1])
    notices = patty.get_by_role("status", name="Notices")
    await expect(notices).to_contain_text(f"New visit booked with {DOCTOR[1]}")
    await patty.get_by_role("link", name="Back to visits").click()
    await expect(patty.get_by_role("listitem", name=re.compile(f"^Visit with {re.escape(DOCTOR[1])}"))
                 ).to_have_count(2)
    await shot(patty, artifacts, "70-patient-live-booking")

    # Olga is still waiting; she leaves, and the doctor's waiting room and tab follow.
    await expect(doctor.get_by_role("listitem", name=f"{OLGA[1]} is waiting")).to_be_visible()
    await olga.get_by_role("button", name="Leave the waiting room").click()
    await expect(olga.get_by_role("heading", name="Your visits")).to_be_visible()
    await expect(doctor.get_by_role("listitem", name=f"{OLGA[1]} is waiting")).to_have_count(0)
    await expect(doctor.get_by_text("Nobody is waiting.")).to_be_visible()
    await expect(doctor).to_have_title(re.compile(r"^Your visits"))
    await expect(card(doctor, OLGA[1]).get_by_test_id("visit-state")).to_have_text("Left the waiting room")
    for page in (doctor, patty, olga):
        await page.context.close()


async def test_a_patient_waiting_longer_than_the_idle_timeout_stays_signed_in(browser, short_idle_instance):
    inst = short_idle_instance
    await book_at(inst, PATIENT[0], datetime.now(UTC) + timedelta(minutes=5), 15)
    patty = await a11y_page(browser, inst.url, "phone")
    await sign_in(patty, PATIENT[0])
    await card(patty, DOCTOR[1]).get_by_role("link", name="Check in").click()
    await check_in(patty)
    await patty.wait_for_timeout((IDLE_TIMEOUT + 8) * 1000)
    await expect(patty.get_by_role("heading", name="You are in the waiting room")).to_be_visible()
    await patty.context.close()
