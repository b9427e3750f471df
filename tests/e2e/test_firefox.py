"""A whole call between Chromium and Debian's Firefox ESR, both ways round: the doctor in Chromium
(Playwright) and the patient in Firefox (WebDriver BiDi, tests/e2e/bidi.py), then the other way.
Ringing, video both ways (remote frames decoded on each side), mute seen by the other side, a chat
message each way, hang-up, and no uncaught error or CSP violation in either browser."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.bidi import FirefoxPage, aria, firefox_page, text
from tests.e2e.conftest import PASSWORD, RECORD_PEERS
from tests.e2e.pages import (
    DOCTOR,
    PATIENT,
    VIDEO_STATS,
    book_visit,
    chat_log,
    open_page,
    send_chat,
    sign_in,
    start_call,
    wait_connected,
)


class Chromium:
    """A person in Chromium, through the Chromium tests' own steps (tests/e2e/pages.py)."""

    browser = "chromium"

    def __init__(self, page: Page, artifacts: Path, run: str) -> None:
        self.page, self.artifacts, self.run = page, artifacts, run

    async def sign_in(self, email: str) -> None:
        await sign_in(self.page, email)
        await expect(self.page.get_by_role("heading", name="Your visits")).to_be_visible()

    async def book_and_call(self, patient: str) -> None:
        await book_visit(self.page, patient)
        await start_call(self.page, patient)

    async def accept(self, caller: str) -> None:
        ring = self.page.get_by_role("alertdialog", name=f"{caller} is calling")
        await expect(ring).to_be_visible()
        await self.shot("ringing")
        await ring.get_by_role("button", name="Accept call").click()

    async def wait_connected(self) -> None:
        await wait_connected(self.page)

    async def video(self) -> dict[str, Any]:
        return await self.page.evaluate(VIDEO_STATS)

    async def press_button(self, name: str) -> None:
        await self.page.get_by_role("button", name=name).click()

    async def sees(self, words: str) -> None:
        await expect(self.page.get_by_text(words)).to_be_visible()

    async def sees_line(self, pattern: str) -> None:
        await expect(self.page.get_by_text(re.compile(pattern))).to_be_visible(timeout=20_000)

    async def chat(self, message: str) -> None:
        await send_chat(self.page, message)

    async def chat_shows(self, message: str) -> None:
        await expect(chat_log(self.page)).to_contain_text(message)

    async def sees_call_ended(self) -> None:
        await expect(self.page.get_by_role("heading", name="Call ended")).to_be_visible()

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(self.artifacts / f"{self.run}-{name}-chromium.png"))

    async def problems(self) -> list[str]:
        return list(self.page.console_problems)  # type: ignore[attr-defined]


class Firefox:
    """The same person's steps in Firefox ESR, by accessible names too."""

    browser = "firefox"

    def __init__(self, page: FirefoxPage, artifacts: Path, run: str) -> None:
        self.page, self.artifacts, self.run = page, artifacts, run

    async def sign_in(self, email: str) -> None:
        await self.page.goto("/")
        await self.page.wait(aria("Sign in", "heading"))
        await self.page.fill(aria("Email", "textbox"), email)
        await self.page.fill(aria("Password"), PASSWORD)
        await self.page.click(aria("Sign in", "button"))
        await self.page.wait(aria("Your visits", "heading"))

    async def book_and_call(self, patient: str) -> None:
        await self.page.fill(aria("Find a patient", "searchbox"), patient.split()[0][:4])
        await self.page.click(text(patient))  # in the button "Select <name> <email>" of the matches
        await self.page.fill(aria("Reason (optional)", "textbox"), "Follow-up on blood pressure")
        await self.page.click(aria("Book visit", "button"))
        await self.page.wait(text(f"Visit booked with {patient}"))
        await self.page.click(aria("Start visit", "link"))
        await self.page.wait(aria("Get ready for your visit", "heading"))
        await self.page.wait(aria("Your camera preview"))
        await self.page.click(aria("Start the call", "button"))
        await self.page.wait(aria(f"Calling {patient}…", "heading"))

    async def accept(self, caller: str) -> None:
        await self.page.wait(aria(f"{caller} is calling", "alertdialog"))
        await self.shot("ringing")
        await self.page.click(aria("Accept call", "button"))

    async def wait_connected(self) -> None:
        await self.page.poll("() => document.querySelector('[data-testid=call-status]')?.textContent.trim()",
                             lambda status: status == "Connected", "the call connected", timeout=25)

    async def video(self) -> dict[str, Any]:
        return dict(await self.page.evaluate(VIDEO_STATS))

    async def press_button(self, name: str) -> None:
        await self.page.click(aria(name, "button"))

    async def sees(self, words: str) -> None:
        await self.page.wait(text(words))

    async def sees_line(self, pattern: str) -> None:
        await self.page.poll("() => document.body.innerText",
                             lambda shown: re.search(pattern, shown, re.M) is not None,
                             f"a line matching {pattern!r}", timeout=20)

    async def chat(self, message: str) -> None:
        await self.page.fill(aria("Message", "textbox"), message)
        await self.page.press(aria("Message", "textbox"), "Enter")

    async def chat_shows(self, message: str) -> None:
        await self.page.poll("() => document.querySelector('[role=log][aria-label=\"Chat messages\"]')"
                             "?.textContent ?? ''",
                             lambda log: message in log, f"the chat message {message!r}")

    async def sees_call_ended(self) -> None:
        await self.page.wait(aria("Call ended", "heading"))

    async def shot(self, name: str) -> None:
        await self.page.screenshot(self.artifacts / f"{self.run}-{name}-firefox.png")

    async def problems(self) -> list[str]:
        return await self.page.problems()


async def remote_frames(person: Chromium | Firefox, more_than: int = 0, timeout: float = 20) -> int:
    """Wait until this person's remote video decodes frames beyond `more_than` and has a picture size."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await person.video()
        if stats["frames"] > more_than and stats["width"] > 0 and stats["state"] == "connected":
            return int(stats["frames"])
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{person.browser}: no new remote video frames: {stats}")
        await asyncio.sleep(0.25)


async def whole_call(doctor: Chromium | Firefox, patient: Chromium | Firefox) -> None:
    await doctor.sign_in(DOCTOR[0])
    await patient.sign_in(PATIENT[0])

    # Ringing: the doctor calls, the patient's screen rings with the doctor's name, she accepts.
    await doctor.book_and_call(PATIENT[1])
    await patient.accept(DOCTOR[1])
    await doctor.wait_connected()
    await patient.wait_connected()

    # Video both ways: each side decodes the other's frames, and they keep coming.
    for person in (doctor, patient):
        first = await remote_frames(person)
        await remote_frames(person, more_than=first)
    # Each side measures its own connection and shows the other's (relayed by quality.report).
    measured = r" connection: (excellent|good|poor, the video may stutter)$"
    for person, other in ((doctor, PATIENT[1]), (patient, DOCTOR[1])):
        for whose in ("Your", f"{other}'s"):
            await person.sees_line(f"^{whose}{measured}")
    await doctor.shot("doctor-in-call")
    await patient.shot("patient-in-call")

    # Mute, each way, is shown to the other side.
    await doctor.press_button("Mute microphone")
    await patient.sees(f"{DOCTOR[1]} muted their microphone")
    await patient.press_button("Mute microphone")
    await doctor.sees(f"{PATIENT[1]} muted their microphone")
    await patient.shot("patient-sees-doctor-muted")

    # A chat message each way.
    await doctor.chat("Hello Patty, can you see me clearly?")
    await patient.chat_shows("Hello Patty, can you see me clearly?")
    await patient.chat("Yes, and I can read your messages.")
    await doctor.chat_shows("Yes, and I can read your messages.")

    # Hang-up ends the call on both screens.
    await doctor.press_button("Hang up")
    await doctor.sees_call_ended()
    await patient.sees_call_ended()
    await patient.shot("patient-call-ended")

    assert await doctor.problems() == [], doctor.browser
    assert await patient.problems() == [], patient.browser


@pytest.mark.parametrize("firefox_is", ["patient", "doctor"])
async def test_a_whole_call_between_chromium_and_firefox_esr(firefox_is, browser, instance, artifacts):
    chromium = await open_page(browser, instance.url)
    async with firefox_page(instance.url, init_script=RECORD_PEERS) as page:
        run = f"firefox-{firefox_is}"  # screenshots: artifacts/firefox-patient-ringing-firefox.png, ...
        firefox = Firefox(page, artifacts, run)
        other = Chromium(chromium, artifacts, run)
        try:
            if firefox_is == "patient":
                await whole_call(doctor=other, patient=firefox)
            else:
                await whole_call(doctor=firefox, patient=other)
        except Exception:
            with contextlib.suppress(Exception):  # what Firefox showed when the test failed, if it can
                await firefox.shot("failed")
            raise
