"""Every screen of the app through axe-core (no serious or critical violation) and without
sideways scrolling: the public pages, the visits and booking, the account, the pre-call check,
ringing, the call with its chat on a desktop, at 200% zoom and on a phone with large text.
(The admin area is checked in test_admin.py.) Screenshots go to tests/e2e/artifacts/."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.a11y import (
    LARGE_TEXT,
    a11y_page,
    box,
    check_a11y,
    check_call_overlays,
    overlap,
    sideways_overflow,
)
from tests.e2e.pages import (
    DOCTOR,
    PATIENT,
    book_visit,
    call_between,
    chat_log,
    send_chat,
    shot,
    sign_in,
    wait_connected,
)


async def check_call_screen(page: Page, screen: str, message: str, *, middle_clear: bool = True) -> None:
    """The call as a person sees it: accessible, nothing sideways, what sits on the video apart and
    off its middle, controls beside (not over) the video, and the chat shows its latest message
    inside a log of readable height."""
    await check_a11y(page, screen)
    await check_call_overlays(page, screen, middle_clear=middle_clear)
    controls = await box(page, '[role="toolbar"][aria-label="Call controls"]')
    video = await box(page, 'video[aria-label^="Video of"]')
    assert not overlap(controls, video), f"{screen}: the controls cover the video {controls} {video}"
    log = chat_log(page)
    await log.scroll_into_view_if_needed()
    bubble = log.get_by_text(message)
    await expect(bubble).to_be_visible()
    log_box, bubble_box = await log.bounding_box(), await bubble.bounding_box()
    assert log_box and bubble_box
    assert log_box["height"] >= 120, f"{screen}: the chat log is {log_box['height']}px high"
    inside = (log_box["y"] <= bubble_box["y"]
              and bubble_box["y"] + bubble_box["height"] <= log_box["y"] + log_box["height"] + 1)
    assert inside, f"{screen}: the latest message is outside the chat log"


async def test_public_pages_pass_axe(browser, instance, artifacts):
    for size in ("desktop", "phone"):
        page = await a11y_page(browser, instance.url, size)
        for path, heading, name in [
            ("/sign-in", "Sign in", "sign-in"),
            ("/register", "Create a patient account", "register"),
            ("/forgot-password", "Forgot your password?", "forgot-password"),
            ("/reset", "Choose a password", "reset-password"),
            ("/join", None, "join-without-link"),
            ("/no-such-page", "Page not found", "not-found"),
        ]:
            await page.goto(path)
            if heading:
                await expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            else:
                await expect(page.get_by_role("heading", level=1)).to_be_visible()
            await check_a11y(page, f"{name} ({size})")
            await shot(page, artifacts, f"50-{name}-{size}")
        await page.context.close()


async def test_visits_booking_account_call_and_chat_pass_axe_at_every_size(browser, instance, artifacts):
    doctor = await a11y_page(browser, instance.url, "desktop")
    patient = await a11y_page(browser, instance.url, "phone")
    await patient.add_init_script(
        f"document.addEventListener('DOMContentLoaded', () => {{ const s = document.createElement('style');"
        f" s.textContent = {LARGE_TEXT!r}; document.head.append(s); }})")
    await sign_in(doctor, DOCTOR[0])
    await sign_in(patient, PATIENT[0])
    await expect(doctor.get_by_role("heading", name="Your visits")).to_be_visible()
    await expect(patient.get_by_role("heading", name="Your visits")).to_be_visible()
    await check_a11y(doctor, "doctor's visits, empty")
    await check_a11y(patient, "patient's visits, empty (phone, large text)")

    # Booking at 1280 px: the date and length boxes show all of their text.
    await doctor.get_by_label("Find a patient").fill("Patt")
    await expect(doctor.get_by_role("button", name=f"Select {PATIENT[1]}")).to_be_visible()
    await check_a11y(doctor, "patient search results")
    for label in ("Date and time", "Length"):
        field = doctor.get_by_label(label, exact=True)
        width = await field.evaluate("(el) => el.clientWidth")
        inside = await field.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        assert width >= 220 and inside, f"{label} is cut off: {width}px"
    await shot(doctor, artifacts, "51-booking-search")
    await book_visit(doctor, PATIENT[1])
    await check_a11y(doctor, "doctor's visits, booked")
    await shot(doctor, artifacts, "52-doctor-visits")
    card = patient.get_by_role("listitem", name=f"Visit with {DOCTOR[1]}")
    await patient.reload()
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Cancel visit").click()
    await expect(card.get_by_role("group", name="Confirm cancelling")).to_be_visible()
    await check_a11y(patient, "cancel confirmation (phone)")
    await card.get_by_role("button", name="Keep it").click()
    await shot(patient, artifacts, "53-patient-visits-phone")
    await card.get_by_role("link", name="Messages").click()
    await expect(patient.get_by_role("heading", name=f"Messages with {DOCTOR[1]}")).to_be_visible()
    await check_a11y(patient, "conversation (phone, large text)")
    await patient.get_by_role("link", name="Back to visits").click()
    await card.get_by_role("link", name="Check in").click()
    await expect(patient.get_by_role("list", name="Pre-call check")).to_contain_text("Camera: works")
    await check_a11y(patient, "check-in (phone, large text)")
    await shot(patient, artifacts, "53b-patient-check-in-phone")
    await patient.get_by_role("link", name="Back to visits").click()
    await expect(card).to_be_visible()
    doctors_card = doctor.get_by_role("listitem", name=f"Visit with {PATIENT[1]}")
    await doctors_card.get_by_role("link", name="History").click()
    await expect(doctor.get_by_role("heading", level=1)).to_contain_text("Past visits")
    await check_a11y(doctor, "history")
    await doctor.get_by_role("link", name="Back to visits").click()

    await doctor.get_by_role("link", name="Account").click()
    await expect(doctor.get_by_role("heading", name="Your account")).to_be_visible()
    await check_a11y(doctor, "account")
    await doctor.get_by_role("button", name="Set up two-factor sign-in").click()
    await expect(doctor.get_by_role("img", name="QR code with your two-factor key")).to_be_visible()
    await check_a11y(doctor, "two-factor set-up")
    await shot(doctor, artifacts, "54-account-mfa")
    await doctor.get_by_role("link", name="Televisit home").click()

    await doctor.get_by_role("link", name="Start visit").click()
    await expect(doctor.get_by_role("meter", name="Microphone level")).to_be_visible()
    await check_a11y(doctor, "pre-call check")
    await doctor.get_by_role("button", name="Start the call").click()
    await expect(doctor.get_by_role("heading", name=f"Calling {PATIENT[1]}…")).to_be_visible()
    await expect(doctor.get_by_role("heading", level=1)).to_have_text(f"Video visit with {PATIENT[1]}")
    await check_a11y(doctor, "calling")
    ring = patient.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")
    await expect(ring).to_be_visible()
    await check_a11y(patient, "incoming call (phone, large text)")
    await shot(patient, artifacts, "55-incoming-phone")
    await ring.get_by_role("button", name="Accept call").click()
    await wait_connected(doctor)
    await wait_connected(patient)

    text = "Please sit a little closer to the light."
    await send_chat(doctor, text)
    await expect(patient.get_by_role("button", name="Chat, 1 unread")).to_be_visible()
    await check_call_screen(doctor, "call (desktop)", text)
    await shot(doctor, artifacts, "56-call-desktop")

    # The phone's chat: opened from the controls, its log reached with Tab and scrolled by keys.
    await patient.get_by_role("button", name="Chat, 1 unread").click()
    # With 150% text on a 390-pixel phone the status and "Verify this call" no longer fit side by
    # side and the quality lines wrap: the words along the top reach the middle of the picture
    # (apart from each other still). The plain phone keeps it clear (below).
    await check_call_screen(patient, "call with chat (phone, large text)", text, middle_clear=False)
    await patient.get_by_role("button", name="Chat", exact=True).focus()
    log = chat_log(patient)
    for _ in range(12):
        await patient.keyboard.press("Tab")
        if await log.evaluate("(el) => el === document.activeElement"):
            break
    await expect(log).to_be_focused()
    await shot(patient, artifacts, "57-call-chat-phone-large-text")

    # 200% zoom on the doctor's laptop.
    await doctor.set_viewport_size({"width": 640, "height": 400})
    await doctor.wait_for_timeout(200)
    await check_call_screen(doctor, "call at 200% zoom", text)
    await shot(doctor, artifacts, "58-call-zoom200")
    assert await sideways_overflow(patient) <= 0

    await doctor.get_by_role("button", name="Hang up").click()
    await expect(doctor.get_by_role("heading", name="Call ended")).to_be_visible()
    await expect(patient.get_by_role("heading", name="Call ended")).to_be_visible()
    await check_a11y(doctor, "call ended (200% zoom)")
    await check_a11y(patient, "call ended (phone, large text)")
    await shot(patient, artifacts, "59-call-ended-phone")
    for page in (doctor, patient):
        await page.context.close()


async def test_what_sits_on_the_video_keeps_apart_on_a_phone_and_at_200_percent_zoom(browser, instance,
                                                                                    artifacts):
    """The status bar, "Verify this call", the quality lines and the self-view, on a phone and on a
    laptop at 200% zoom (the chat closed, then open below the video): nothing overlaps or crowds,
    and the middle of the other person's video stays clear."""
    doctor = await a11y_page(browser, instance.url, "zoom200")
    patient = await a11y_page(browser, instance.url, "phone")
    await call_between(doctor, patient)
    for page in (doctor, patient):
        await expect(page.get_by_test_id("quality-them")).to_be_visible()
        await expect(page.get_by_role("button", name="Verify this call")).to_be_visible()
    await check_call_overlays(patient, "call (phone)")
    await check_a11y(patient, "call (phone)")
    await shot(patient, artifacts, "58b-call-overlays-phone")
    await check_call_overlays(doctor, "call at 200% zoom")
    await shot(doctor, artifacts, "58c-call-overlays-zoom200")
    await doctor.get_by_role("button", name="Chat", exact=True).click()
    await expect(chat_log(doctor)).to_be_visible()
    await doctor.evaluate("window.scrollTo(0, 0)")
    await check_call_overlays(doctor, "call at 200% zoom with the chat open")
    await check_a11y(doctor, "call at 200% zoom with the chat open")
    await shot(doctor, artifacts, "58d-call-overlays-zoom200-chat")
    for page in (doctor, patient):
        await page.context.close()
