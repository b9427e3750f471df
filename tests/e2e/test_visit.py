"""A whole video visit in two browsers, a doctor and a patient, as they would use the app."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect
from sqlalchemy import select

from televisit.appointments.models import AppointmentEvent, EventKind
from televisit.runtime import runtime_of
from tests.e2e.pages import (
    DOCTOR,
    PATIENT,
    assert_clean_console,
    book_visit,
    chat_log,
    open_page,
    send_chat,
    shot,
    sign_in,
    start_call,
    video_stats,
    wait_connected,
    wait_frames,
)


def ended(page):
    return page.get_by_role("group", name="Call ended")


async def test_a_full_visit_survives_a_camera_switch_and_a_server_restart(browser, instance, artifacts):
    doctor = await open_page(browser, instance.url)
    patient = await open_page(browser, instance.url)

    await shot(doctor, artifacts, "01-sign-in")
    await sign_in(doctor, DOCTOR[0])
    await sign_in(patient, PATIENT[0])
    await expect(doctor.get_by_role("heading", name="Your visits")).to_be_visible()
    await expect(patient.get_by_role("heading", name="Your visits")).to_be_visible()

    await book_visit(doctor, PATIENT[1])
    await shot(doctor, artifacts, "02-doctor-visits-booked")
    await patient.reload()  # a reload keeps the tab signed in (token in sessionStorage)
    await expect(patient.get_by_role("listitem", name=f"Visit with {DOCTOR[1]}")).to_be_visible()
    await shot(patient, artifacts, "03-patient-visits")

    await doctor.get_by_role("link", name="Start visit").click()
    await expect(doctor.get_by_role("meter", name="Microphone level")).to_be_visible()
    await expect(doctor.get_by_label("Camera", exact=True)).to_be_enabled()
    await shot(doctor, artifacts, "04-precheck")
    await doctor.get_by_role("button", name="Start the call").click()
    await expect(doctor.get_by_role("heading", name=f"Calling {PATIENT[1]}…")).to_be_visible()
    await shot(doctor, artifacts, "05-doctor-ringing")

    ring = patient.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")
    await expect(ring).to_be_visible()
    await expect(ring.get_by_role("button", name="Accept call")).to_be_focused()
    await shot(patient, artifacts, "06-patient-incoming-call")
    await ring.get_by_role("button", name="Accept call").click()

    # Each side shows the other's video: decoded frames and a real picture size.
    await wait_connected(doctor)
    await wait_connected(patient)
    d, p = await wait_frames(doctor), await wait_frames(patient)
    assert d["width"] > 0 and p["width"] > 0
    # Each side measures its own connection and hears the other's (the quality.report relay).
    measured = r": (excellent|good|poor, the video may stutter)$"
    for page, other in ((doctor, PATIENT[1]), (patient, DOCTOR[1])):
        for whose in ("Your", f"{other}'s"):
            label = page.get_by_text(re.compile(f"^{whose} connection" + measured))
            await expect(label).to_be_visible(timeout=20_000)
    await shot(doctor, artifacts, "07-doctor-in-call")
    await shot(patient, artifacts, "08-patient-in-call")

    # Mute and camera off are shown to the other side; and back on.
    await doctor.get_by_role("button", name="Mute microphone").click()
    await expect(patient.get_by_text(f"{DOCTOR[1]} muted their microphone")).to_be_visible()
    await patient.get_by_role("button", name="Mute microphone").click()
    await patient.get_by_role("button", name="Turn camera off").click()
    await expect(doctor.get_by_text(f"{PATIENT[1]} muted their microphone")).to_be_visible()
    await expect(doctor.get_by_text(f"{PATIENT[1]} turned the camera off")).to_be_visible()
    await shot(doctor, artifacts, "09-doctor-sees-patient-muted")
    await doctor.get_by_role("button", name="Unmute microphone").click()
    await patient.get_by_role("button", name="Unmute microphone").click()
    await patient.get_by_role("button", name="Turn camera on").click()
    await expect(patient.get_by_text(f"{DOCTOR[1]} muted their microphone")).to_be_hidden()
    await expect(doctor.get_by_text(f"{PATIENT[1]} turned the camera off")).to_be_hidden()

    # Chat both ways; text is shown as text, never as HTML.
    await send_chat(doctor, "Hello Patty, can you hear me well?")
    await expect(chat_log(patient)).to_contain_text("Hello Patty, can you hear me well?")
    await send_chat(patient, "<b>Yes</b>, loud and clear.")
    await expect(chat_log(doctor)).to_contain_text("<b>Yes</b>, loud and clear.")
    assert await chat_log(doctor).locator("b").count() == 0
    await shot(patient, artifacts, "10-patient-chat")

    # Picking another camera replaces the track without renegotiation; the picture keeps coming.
    before = await video_stats(doctor)
    seen = (await video_stats(patient))["frames"]
    await doctor.get_by_role("button", name="Devices").click()
    await doctor.get_by_label("Camera", exact=True).select_option(label="fake_device_2")
    await shot(doctor, artifacts, "10b-doctor-devices")
    await doctor.get_by_role("button", name="Devices").click()
    after = await video_stats(doctor)
    assert after["sentCamera"] != before["sentCamera"], (before, after)
    assert after["peers"] == before["peers"]  # the same peer connection: no renegotiation
    await wait_frames(patient, more_than=seen + 30)
    await wait_connected(doctor)

    # A new server instance (same port, same database): sockets reconnect, rejoin, chat resumes.
    seen_d, seen_p = (await video_stats(doctor))["frames"], (await video_stats(patient))["frames"]
    await instance.restart()
    await expect(doctor.get_by_text("Connection to Televisit lost")).to_be_hidden(timeout=15_000)
    await send_chat(patient, "Still there after the hiccup?")
    await expect(chat_log(doctor)).to_contain_text("Still there after the hiccup?")
    await send_chat(doctor, "Yes, all good on my side.")
    await expect(chat_log(patient)).to_contain_text("Yes, all good on my side.")
    await wait_frames(doctor, more_than=seen_d + 30)
    await wait_frames(patient, more_than=seen_p + 30)
    await wait_connected(doctor)
    await wait_connected(patient)
    assert instance.starts == 2 and len(runtime_of(instance.app).hub.connections) == 2
    # Both rejoined the room on the new instance: media state is relayed again.
    await patient.get_by_role("button", name="Mute microphone").click()
    await expect(doctor.get_by_text(f"{PATIENT[1]} muted their microphone")).to_be_visible()
    await shot(doctor, artifacts, "11-doctor-after-server-restart")

    # Hang up ends the room for both.
    await doctor.get_by_role("button", name="Hang up").click()
    await expect(doctor.get_by_role("heading", name="Call ended")).to_be_visible()
    await expect(ended(doctor)).to_contain_text("You ended the visit.")
    await expect(patient.get_by_role("heading", name="Call ended")).to_be_visible()
    await expect(ended(patient)).to_contain_text("The visit has ended.")
    await shot(patient, artifacts, "12-patient-call-ended")
    await patient.get_by_role("button", name="Back to visits").click()
    done = patient.get_by_role("listitem", name=f"Visit with {DOCTOR[1]}")
    await expect(done.get_by_test_id("visit-state")).to_have_text("Visit done")
    await expect(done.get_by_role("link", name="Check in")).to_have_count(0)
    # Each browser reported its call's quality at the end, stored in the visit's event log.
    reports: list[AppointmentEvent] = []
    for _ in range(100):
        async with runtime_of(instance.app).session() as session:
            reports = list((await session.execute(
                select(AppointmentEvent).where(AppointmentEvent.kind == EventKind.quality))).scalars())
        if len(reports) == 2:
            break
        await asyncio.sleep(0.1)
    assert len({r.actor_id for r in reports}) == 2, [r.data for r in reports]  # one from each person
    assert all(r.data["duration_seconds"] > 0 for r in reports), [r.data for r in reports]
    # Installable: the manifest and the service worker are in place; nothing broke the CSP.
    manifest = await patient.evaluate("fetch('/manifest.webmanifest').then((r) => r.json())")
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    assert await patient.evaluate("navigator.serviceWorker.ready.then((r) => r.active !== null)")
    cached = await patient.evaluate("""async () => {
      const urls = [];
      for (const key of await caches.keys()) {
        for (const request of await (await caches.open(key)).keys()) urls.push(new URL(request.url).pathname);
      }
      return urls;
    }""")
    assert "/" in cached and any(u.startswith("/assets/") for u in cached), cached
    assert not [u for u in cached if u.startswith("/api")], cached  # the offline shell only
    assert_clean_console(doctor, patient)


async def test_phone_wrong_password_declined_call_then_a_visit_with_unread_chat(browser, instance, artifacts):
    doctor = await open_page(browser, instance.url)
    phone = await open_page(browser, instance.url, phone=True)

    # Network down: the sign-in says so instead of failing silently.
    await phone.goto("/")
    await phone.context.set_offline(True)
    await phone.get_by_label("Email").fill(PATIENT[0])
    await phone.get_by_label("Password").fill("whatever-it-is")
    await phone.get_by_role("button", name="Sign in").click()
    await expect(phone.get_by_role("alert")).to_contain_text("Cannot reach Televisit")
    await phone.context.set_offline(False)

    await sign_in(phone, PATIENT[0], password="not-my-password-at-all")
    await expect(phone.get_by_role("alert")).to_have_text(
        "The email or password is not right. Please try again.")
    await shot(phone, artifacts, "20-phone-wrong-password")
    await sign_in(phone, PATIENT[0])
    await expect(phone.get_by_role("heading", name="Your visits")).to_be_visible()

    await sign_in(doctor, DOCTOR[0])
    await book_visit(doctor, PATIENT[1])
    await start_call(doctor, PATIENT[1])
    ring = phone.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")
    await expect(ring).to_be_visible()
    await shot(phone, artifacts, "21-phone-incoming-call")
    await ring.get_by_role("button", name="Decline call").click()
    await expect(ended(doctor)).to_contain_text(f"{PATIENT[1]} declined the call.")
    await shot(doctor, artifacts, "22-doctor-call-declined")

    # The doctor calls again and hangs up while it rings: the phone stops ringing and says so.
    await doctor.get_by_role("button", name="Back to visits").click()
    await start_call(doctor, PATIENT[1])
    await expect(ring).to_be_visible()
    await doctor.get_by_role("button", name="Cancel call").click()
    await expect(ring).to_be_hidden()
    await expect(phone.get_by_role("status").filter(has_text=f"Missed call from {DOCTOR[1]}")).to_be_visible()

    # The doctor calls again; the patient accepts on the phone.
    await doctor.get_by_role("button", name="Back to visits").click()
    await start_call(doctor, PATIENT[1])
    await phone.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling").get_by_role(
        "button", name="Accept call").click()
    await wait_connected(phone)
    await wait_connected(doctor)
    stats = await wait_frames(phone)
    assert stats["width"] > 0
    await shot(phone, artifacts, "23-phone-in-call")

    # Chat is collapsed on a phone: new messages show as an unread count.
    await send_chat(doctor, "Please hold your arm in view of the camera.")
    await expect(phone.get_by_role("button", name="Chat, 1 unread")).to_be_visible()
    await phone.get_by_role("button", name="Chat, 1 unread").click()
    await expect(chat_log(phone)).to_contain_text("Please hold your arm in view of the camera.")
    await send_chat(phone, "Like this?")
    await expect(chat_log(doctor)).to_contain_text("Like this?")
    await shot(phone, artifacts, "24-phone-chat")
    await phone.get_by_role("button", name="Chat", exact=True).click()

    # A reload mid-visit (the token is kept for the tab) rejoins the call on a new peer connection.
    await phone.reload()
    await wait_connected(phone)
    await wait_frames(phone)
    seen = (await video_stats(doctor))["frames"]
    await wait_frames(doctor, more_than=seen + 20)

    # The camera switch on the phone: the call stays up and the doctor keeps getting video.
    switch = phone.get_by_role("button", name="Switch camera")
    first = (await video_stats(phone))["sentCamera"]
    await switch.click()  # to fake_device_1 (not encodable, see tests/fixtures/browser.py) ...
    await expect(switch).to_be_enabled()
    await switch.click()  # ... and on to fake_device_2
    await expect(switch).to_be_enabled()
    assert (await video_stats(phone))["sentCamera"] != first
    seen = (await video_stats(doctor))["frames"]
    await wait_frames(doctor, more_than=seen + 30)
    await wait_connected(phone)

    await phone.get_by_role("button", name="Hang up").click()
    await expect(phone.get_by_role("heading", name="Call ended")).to_be_visible()
    await expect(ended(doctor)).to_contain_text("The visit has ended.")
    await shot(phone, artifacts, "25-phone-call-ended")

    # Booking over an existing visit is refused with a message; a later one is booked, then cancelled
    # by the patient, and both lists follow in real time.
    await phone.get_by_role("button", name="Back to visits").click()
    await doctor.get_by_role("button", name="Back to visits").click()
    first = await doctor.get_by_label("Date and time").input_value()  # the next free time, filled in
    await book_visit(doctor, PATIENT[1])
    await doctor.get_by_label("Find a patient").fill("Patt")
    await doctor.get_by_role("button", name=f"Select {PATIENT[1]}").click()
    await doctor.get_by_label("Date and time").fill(first)
    await doctor.get_by_role("button", name="Book visit").click()  # the same slot again
    await expect(doctor.get_by_role("alert")).to_contain_text("already has a visit at that time")
    await expect(doctor.get_by_role("alert")).to_contain_text(f"It collides with {PATIENT[1]} at")
    await shot(doctor, artifacts, "26-doctor-overlap-refused")
    later = await doctor.evaluate("""() => {
      const d = new Date(Date.now() + 3 * 3600 * 1000); d.setMinutes(0, 0, 0);
      const p = (n) => String(n).padStart(2, '0');
      const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
      return `${day}T${p(d.getHours())}:${p(d.getMinutes())}`;
    }""")
    await doctor.get_by_label("Date and time").fill(later)
    await doctor.get_by_role("button", name="Book visit").click()
    await expect(doctor.get_by_role("status").filter(has_text="Visit booked")).to_be_visible()
    # The agenda (today, then the days ahead): the visit done an hour ago says so and offers no start.
    visit_item = re.compile(r"^Visit with ")
    doctors_list = doctor.get_by_role("listitem", name=visit_item)
    phones_list = phone.get_by_role("listitem", name=visit_item)
    await expect(doctors_list).to_have_count(3)
    done = doctors_list.filter(has=doctor.get_by_test_id("visit-state").get_by_text("Done", exact=True))
    await expect(done).to_have_count(1)
    await expect(done.get_by_role("link", name="Start visit")).to_have_count(0)
    await phone.reload()
    await expect(phones_list).to_have_count(3)
    done = phones_list.filter(has=phone.get_by_test_id("visit-state").get_by_text("Visit done", exact=True))
    await expect(done).to_have_count(1)
    await expect(done.get_by_role("link", name="Check in")).to_have_count(0)
    await shot(phone, artifacts, "27-phone-visits")
    await phones_list.last.get_by_role("button", name="Cancel visit").click()
    await phones_list.last.get_by_role("button", name="Yes, cancel it").click()
    await expect(phones_list.last.get_by_test_id("visit-state")).to_have_text("Cancelled")
    await expect(doctors_list.last.get_by_test_id("visit-state")).to_have_text("Cancelled")
    # The doctor is told, not left to notice.
    notices = doctor.get_by_role("status", name="Notices")
    await expect(notices).to_contain_text(f"{PATIENT[1]} cancelled the visit")
    assert_clean_console(doctor, phone)
