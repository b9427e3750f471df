"""A whole call between Chromium and Debian's Firefox ESR, both ways round: the doctor in Chromium
(Playwright) and the patient in Firefox (WebDriver BiDi, tests/e2e/bidi.py), then the other way.
Ringing, video both ways (remote frames decoded on each side), audio only asked for in each
browser (the notice on both screens; getStats: no video bytes leave either browser and no remote
frame is decoded while audio bytes grow; video decodes again on both sides once both turn it back
on), a screen shared from Chromium and seen in Firefox, mute seen by the other side, a chat message
each way, hang-up, and no uncaught error or CSP violation in either browser.

Chromium's fake getDisplayMedia answers with a 1280x720 fake screen (tests/e2e/test_in_call.py).
Firefox cannot share a screen here, and the test says so rather than faking one: headless Firefox
ESR 153 on these machines has no screen to capture (no X11 display: $DISPLAY is unset and no Xvfb is
installed; no Wayland/PipeWire portal), so getDisplayMedia rejects with `NotFoundError: The object
can not be found here.`; the app tells the person "Your screen could not be shared…" and the call
goes on, which is what is checked. No pref gives it a fake screen: `media.navigator.streams.fake`
fakes only the camera and microphone (MediaManager applies it to `Camera` and `Microphone` sources;
`MOZ_LOG=GetUserMedia:5` shows the screen request going to the "real backend", which enumerates no
screen), `media.navigator.permission.disabled` only skips the prompt, and
`media.getdisplaymedia.enabled` is already true in Firefox ESR.

Firefox ESR drops the inbound-rtp report of a video stream about a second after its sender pauses
(Chromium's encodings `active: false`), and its counters start again from zero when it resumes:
while paused Firefox reads no incoming video at all, and "video flows again" compares readings
taken after the resume."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
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

# What this browser sends and what it shows of the other side, the same script in both browsers:
# bytes of outgoing video and audio, frames decoded on every incoming video stream, and for each
# remote <video> found by its name ("Video of …", "Screen shared by …"; the screen may come on a
# transceiver of its own beside the camera) its picture size and the frames decoded for its track.
MEDIA = """async () => {
  const pc = window.__peers.filter((p) => p.connectionState !== 'closed').pop();
  const out = { state: pc ? pc.connectionState : 'none', videoSent: 0, audioSent: 0, framesIn: 0,
                camera: null, screen: null };
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') out.videoSent += r.bytesSent || 0;
    if (r.type === 'outbound-rtp' && r.kind === 'audio') out.audioSent += r.bytesSent || 0;
    if (r.type === 'inbound-rtp' && r.kind === 'video') out.framesIn += r.framesDecoded || 0;
  });
  const shown = async (name) => {
    const video = document.querySelector(`video[aria-label^="${name}"]`);
    if (!video) return null;
    const track = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    const receiver = track ? pc.getReceivers().find((r) => r.track === track) : null;
    let frames = 0;
    if (receiver) (await receiver.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp') frames += r.framesDecoded || 0;
    });
    return { width: video.videoWidth, height: video.videoHeight, frames };
  };
  out.camera = await shown('Video of ');
  out.screen = await shown('Screen shared by ');
  return out;
}"""


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

    async def media(self) -> dict[str, Any]:
        return dict(await self.page.evaluate(MEDIA))

    async def press_button(self, name: str) -> None:
        await self.page.get_by_role("button", name=name).click()

    async def says(self, testid: str, words: str | None) -> None:
        """The element with this test id reads `words` (None: it is not there)."""
        element = self.page.get_by_test_id(testid)
        await (expect(element).to_be_hidden() if words is None else expect(element).to_have_text(words))

    async def sees_video(self, label: str) -> None:
        await expect(self.page.get_by_label(label, exact=True)).to_be_visible()

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

    async def media(self) -> dict[str, Any]:
        return dict(await self.page.evaluate(MEDIA))

    async def press_button(self, name: str) -> None:
        await self.page.click(aria(name, "button"))

    async def says(self, testid: str, words: str | None) -> None:
        read = f"() => document.querySelector('[data-testid={testid}]')?.textContent.trim() ?? null"
        await self.page.poll(read, lambda shown: shown == words, f"{testid} reading {words!r}")

    async def sees_video(self, label: str) -> None:
        await self.page.wait(aria(label))

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


Person = Chromium | Firefox


async def until(person: Person, check: Callable[[dict[str, Any]], bool], what: str,
                timeout: float = 20) -> dict[str, Any]:
    """Read MEDIA until `check` holds; fail with the last reading otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await person.media()
        if check(stats):
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{person.browser}: {what}: {stats}")
        await asyncio.sleep(0.3)


async def video_flows(person: Person) -> None:
    """New remote frames decoded and our own video bytes growing."""
    before = await person.media()
    await until(person, lambda s: (s["framesIn"] > before["framesIn"] + 5
                                   and s["videoSent"] > before["videoSent"]), "video does not flow both ways")


async def video_stopped(person: Person) -> None:
    """For two seconds no video bytes leave this browser and no remote frame is decoded, while
    audio bytes keep growing (waits for the change to settle first)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        a = await person.media()
        await asyncio.sleep(2)
        b = await person.media()
        still = (b["videoSent"], b["framesIn"]) == (a["videoSent"], a["framesIn"])
        if still and b["audioSent"] > a["audioSent"]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{person.browser}: video still flows or audio stopped: {a} → {b}")


async def both(check: Callable[[Person], Awaitable[None]], *people: Person) -> None:
    """The same check in each browser at once (each browser has its own channel)."""
    await asyncio.gather(*(check(person) for person in people))


async def audio_only_both_ways(firefox: Person, chromium: Person, names: dict[str, str]) -> None:
    """Firefox's person turns video off, then Chromium's: each browser stops its own video for
    either wish, so after Firefox's person turns it back on the video stays off for Chromium's."""
    notice = "audio-only-notice"
    await firefox.press_button("Audio only")
    await firefox.says(notice, "You turned video off. Audio continues.")
    await chromium.says(notice, f"{names['firefox']} turned video off. Audio continues.")
    await both(video_stopped, firefox, chromium)
    await firefox.shot("audio-only")

    await chromium.press_button("Audio only")
    await chromium.says(notice, "You turned video off. Audio continues.")
    await firefox.press_button("Audio only")  # back on: Chromium's person still wants it off
    await firefox.says(notice, f"{names['chromium']} turned video off. Audio continues.")
    await both(video_stopped, firefox, chromium)
    await firefox.shot("other-audio-only")

    await chromium.press_button("Audio only")
    await both(lambda person: person.says(notice, None), firefox, chromium)
    await both(video_flows, firefox, chromium)


async def chromium_shares_a_screen(firefox: Person, chromium: Person, names: dict[str, str]) -> None:
    """Chromium's fake screen (1280x720) reaches Firefox on the screen line, beside the sharer's
    camera, each found by its video's name; stopping leaves the camera alone, full size. Then
    Firefox's person tries: headless Firefox has no screen to capture (module docstring), so she
    is told it failed and the call goes on with her camera."""
    sharer = names["chromium"]
    await chromium.press_button("Share screen")
    await chromium.says("my-share-banner", f"You are sharing your screen. {names['firefox']} sees it, "
                        "and your camera small beside it.")
    await firefox.says("share-banner", f"{sharer} is sharing their screen")
    await firefox.sees_video(f"Screen shared by {sharer}")
    await firefox.sees_video(f"Video of {sharer}")
    shared = await until(firefox, lambda s: s["screen"] is not None
                         and (s["screen"]["width"], s["screen"]["height"]) == (1280, 720)
                         and s["screen"]["frames"] > 0, "the shared screen is not shown")
    # The screen on its own line, the sharer's camera small beside it: both keep moving in Firefox.
    await until(firefox, lambda s: s["screen"]["frames"] > shared["screen"]["frames"] + 5
                and s["camera"] is not None and s["camera"]["frames"] > shared["camera"]["frames"] + 5,
                "the shared screen and the sharer's camera do not both move on")
    await firefox.shot("sees-screen")

    await chromium.press_button("Stop sharing")
    await firefox.says("share-banner", None)
    await firefox.sees_video(f"Video of {sharer}")
    back = await until(firefox, lambda s: s["screen"] is None and s["camera"] is not None
                       and s["camera"]["width"] > 0, "the camera did not come back")
    await until(firefox, lambda s: s["camera"]["frames"] > back["camera"]["frames"] + 5,
                "the camera came back frozen")

    await firefox.press_button("Share screen")
    await firefox.sees("Your screen could not be shared. Try again, or choose a window.")
    await firefox.shot("share-failed")
    await chromium.says("share-banner", None)
    await video_flows(chromium)


async def whole_call(doctor: Person, patient: Person) -> None:
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

    # Audio only, asked for in each browser, and a screen shared from Chromium to Firefox.
    firefox, chromium = (doctor, patient) if doctor.browser == "firefox" else (patient, doctor)
    names = {doctor.browser: DOCTOR[1], patient.browser: PATIENT[1]}
    await audio_only_both_ways(firefox, chromium, names)
    await chromium_shares_a_screen(firefox, chromium, names)

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
