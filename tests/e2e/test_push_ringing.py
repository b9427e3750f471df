"""Ringing a closed app in Chromium: the server's push goes through a push service (the local one
of tests/push, which checks the VAPID token and decrypts it like a browser's) into the app's real
service worker (Chromium's DevTools protocol delivers it, as Chromium's own push client would),
which shows "… is calling" with Answer and Decline; the caller hanging up turns it into a missed
call; an open app shows nothing; Decline (the app opened with the decline intent) declines; a
tap handed to an app open in the background declines or answers there."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from televisit.users.models import Role
from tests.e2e.conftest import Instance, _free_port
from tests.e2e.pages import DOCTOR, PATIENT, book_visit, shot, sign_in, start_call, wait_connected
from tests.fixtures.app import make_settings
from tests.push.receiver import PushService, Received, push_service

NOTIFICATIONS = """() => self.registration.getNotifications().then((all) => all.map((n) => ({
  title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.action), data: n.data })))"""


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        yield service


@pytest.fixture
async def instance(built_spa: Path, tmp_path: Path, sqlite_template: Path,
                   pushes: PushService) -> AsyncIterator[Instance]:
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db)
    settings = make_settings(f"sqlite+aiosqlite:///{db}", room_timers_enabled=True, log_level="WARNING",
                             push_allowed_hosts=["127.0.0.1"], push_allow_loopback=True)
    inst = Instance(settings=settings, port=_free_port())
    await inst.start()
    await inst.user(Role.doctor, *DOCTOR)
    await inst.user(Role.patient, *PATIENT)
    try:
        yield inst
    finally:
        if inst.server and inst.task and not inst.task.done():
            await inst.stop(drain_first=False)


class PatientPhone:
    """The patient's browser: the app with its service worker, and DevTools to deliver pushes."""

    def __init__(self, context: Any, page: Page, cdp: Any, origin: str) -> None:
        self.context, self.page, self.cdp, self.origin = context, page, cdp, origin
        self.registration_id: str | None = None
        cdp.on("ServiceWorker.workerRegistrationUpdated", self._registrations)

    def _registrations(self, event: dict[str, Any]) -> None:
        for r in event["registrations"]:
            if r["scopeURL"].startswith(self.origin) and not r["isDeleted"]:
                self.registration_id = r["registrationId"]

    async def deliver(self, push: Received | dict[str, Any]) -> None:
        payload = push.payload if isinstance(push, Received) else push
        await self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": self.origin, "registrationId": self.registration_id, "data": json.dumps(payload)})

    async def notifications(self) -> list[dict[str, Any]]:
        [worker] = self.context.service_workers
        result: list[dict[str, Any]] = await worker.evaluate(NOTIFICATIONS)
        return result

    async def wait_notifications(self, check: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            shown = await self.notifications()
            if check(shown) or asyncio.get_running_loop().time() > deadline:
                return shown
            await asyncio.sleep(0.1)


async def patient_phone(browser: Any, base_url: str) -> PatientPhone:
    context = await browser.new_context(base_url=base_url, is_mobile=True,
                                        permissions=["notifications", "camera", "microphone"],
                                        viewport={"width": 360, "height": 640}, has_touch=True)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    cdp = await context.new_cdp_session(page)
    phone = PatientPhone(context, page, cdp, base_url)
    await cdp.send("ServiceWorker.enable")
    await sign_in(page, PATIENT[0])
    await expect(page.get_by_role("heading", name="Your visits")).to_be_visible()
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(50):
        if phone.registration_id and context.service_workers:
            break
        await asyncio.sleep(0.1)
    assert phone.registration_id, "the app's service worker did not register"
    return phone


async def subscribe_like_the_app(page: Page, pushes: PushService) -> Any:
    """What ringing.ts sends after `pushManager.subscribe` (which needs Google's push service, not
    reachable here): this browser session's subscription, at the local push service."""
    browser = pushes.browser()
    response = await page.evaluate("""async (body) => {
      const token = JSON.parse(sessionStorage.getItem('televisit.token'));
      const r = await fetch('/api/v1/push/subscriptions', { method: 'POST', body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } });
      return r.status;
    }""", browser.to_json())
    assert response == 201
    return browser


async def test_a_closed_app_rings_with_answer_and_decline_and_stops_when_the_caller_hangs_up(
        browser, instance, pushes, artifacts):
    phone = await patient_phone(browser, instance.url)
    pushes.forward = phone.deliver
    await subscribe_like_the_app(phone.page, pushes)

    doctor = await browser.new_context(base_url=instance.url, permissions=["camera", "microphone"],
                                       viewport={"width": 1280, "height": 800})
    doctor_page = await doctor.new_page()
    await sign_in(doctor_page, DOCTOR[0])
    await book_visit(doctor_page, PATIENT[1])

    # An open app rings by itself: a push reaching it shows nothing.
    await phone.deliver({"kind": "call", "room_id": "r0", "appointment_id": "a0", "caller_name": "Someone",
                         "caller_role": "doctor"})
    await asyncio.sleep(0.5)
    assert await phone.notifications() == []

    # The patient closes the app (the page leaves the origin: no socket, no window).
    await phone.page.goto("about:blank")
    await start_call(doctor_page, PATIENT[1])
    [ring] = await pushes.wait(1)
    assert ring.payload["kind"] == "call"
    room_id = ring.payload["room_id"]
    [shown] = await phone.wait_notifications(lambda n: len(n) == 1)
    assert shown["title"] == f"{DOCTOR[1]} is calling"
    assert shown["actions"] == ["answer", "decline"]
    assert shown["tag"] == f"call-{room_id}" and shown["data"]["room_id"] == room_id

    # The doctor gives up: the same notification becomes a missed call (it stops ringing).
    await doctor_page.get_by_role("button", name="Cancel call").click()
    await pushes.wait(2)
    assert [r.payload["kind"] for r in pushes.received] == ["call", "call_ended"]  # one push per ring
    [missed] = await phone.wait_notifications(lambda n: n and n[0]["title"] == "Missed video call")
    assert missed["title"] == "Missed video call" and missed["tag"] == f"call-{room_id}"


async def test_decline_from_the_notification_declines_the_call(browser, instance, pushes, artifacts):
    phone = await patient_phone(browser, instance.url)
    pushes.forward = phone.deliver
    await subscribe_like_the_app(phone.page, pushes)
    doctor = await browser.new_context(base_url=instance.url, permissions=["camera", "microphone"],
                                       viewport={"width": 1280, "height": 800})
    doctor_page = await doctor.new_page()
    await sign_in(doctor_page, DOCTOR[0])
    await book_visit(doctor_page, PATIENT[1])
    await phone.page.goto("about:blank")
    await start_call(doctor_page, PATIENT[1])
    [ring] = await pushes.wait(1)
    await phone.wait_notifications(lambda n: len(n) == 1)
    # Decline with the app closed: the service worker opens the app with the decline intent
    # (public/sw.js, `intentFor`), which the app sends over its socket once connected.
    await phone.page.goto(f"/visits?decline={ring.payload['room_id']}")
    await expect(doctor_page.get_by_role("alert")).to_have_text(f"{PATIENT[1]} declined the call.")
    await expect(phone.page).to_have_url(f"{instance.url}/visits")
    await shot(doctor_page, artifacts, "push-declined-doctor")


async def patients_visits(page: Page) -> list[dict[str, Any]]:
    """The patient's visits as her app reads them (with the live call's room)."""
    items: list[dict[str, Any]] = await page.evaluate("""async () => {
      const token = JSON.parse(sessionStorage.getItem('televisit.token'));
      const r = await fetch('/api/v1/appointments', { headers: { Authorization: `Bearer ${token}` } });
      return (await r.json()).items; }""")
    return items


CLICK = """async ({ push, action }) => {
  await self.registration.showNotification('test', { tag: 'click-test', data: push });
  const [notification] = await self.registration.getNotifications({ tag: 'click-test' });
  // Chromium cannot click a notification from DevTools: the same event, made by hand (its
  // waitUntil refuses an untrusted event after the handler has started the work).
  try {
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action }));
  } catch (e) { /* waitUntil on an untrusted event */ }
  return true;
}"""


async def test_answer_and_decline_from_a_notification_reach_an_open_app(
        browser, instance, pushes, artifacts):
    """The app is open in the background: the service worker hands the tap to it (no new window)."""
    phone = await patient_phone(browser, instance.url)
    doctor = await browser.new_context(base_url=instance.url, permissions=["camera", "microphone"],
                                       viewport={"width": 1280, "height": 800})
    doctor_page = await doctor.new_page()
    await sign_in(doctor_page, DOCTOR[0])
    await book_visit(doctor_page, PATIENT[1])
    [worker] = phone.context.service_workers

    # Decline: the app sends call.decline over its socket.
    await start_call(doctor_page, PATIENT[1])
    await expect(phone.page.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")).to_be_visible()
    [visit] = await patients_visits(phone.page)
    push = {"kind": "call", "room_id": visit["room_id"], "appointment_id": visit["id"],
            "caller_name": DOCTOR[1], "caller_role": "doctor"}
    await worker.evaluate(CLICK, {"push": push, "action": "decline"})
    await expect(doctor_page.get_by_role("alert")).to_have_text(f"{PATIENT[1]} declined the call.")
    await expect(phone.page.get_by_role("alertdialog")).to_be_hidden()

    # Answer: the app goes to the call screen, which answers.
    await doctor_page.get_by_role("button", name="Back to visits").click()
    await start_call(doctor_page, PATIENT[1])
    await expect(phone.page.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")).to_be_visible()
    [visit] = await patients_visits(phone.page)
    push = {**push, "room_id": visit["room_id"]}
    await worker.evaluate(CLICK, {"push": push, "action": "answer"})
    await expect(phone.page).to_have_url(
        f"{instance.url}/visits/{visit['id']}/call?room={visit['room_id']}")
    await wait_connected(phone.page)
    await wait_connected(doctor_page)
    await shot(phone.page, artifacts, "push-answered-patient")
