"""What a person does in the app, written once for the browser tests (accessible names only)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.conftest import PASSWORD, RECORD_PEERS

DOCTOR = ("doctor@clinic.test", "Dr. Mira Castell")
PATIENT = ("patty@clinic.test", "Patty Lindqvist")


# Decoded remote frames (getStats) and the remote <video>'s size, as a person would see them; reads
# window.__peers (RECORD_PEERS). Shared with the Firefox tests (tests/e2e/bidi.py).
VIDEO_STATS = """async () => {
  const live = window.__peers.filter((pc) => pc.connectionState !== 'closed');
  const pc = live[live.length - 1];
  const video = document.querySelector('video[aria-label^="Video of"]');
  const out = { state: pc ? pc.connectionState : 'none', frames: 0, width: video ? video.videoWidth : 0,
                sentCamera: null, peers: window.__peers.length };
  if (!pc) return out;
  const stats = await pc.getStats();
  stats.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') out.frames += r.framesDecoded || 0;
  });
  const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'video');
  out.sentCamera = sender ? sender.track.getSettings().deviceId : null;
  return out;
}"""


async def open_page(browser: Any, base_url: str, *, phone: bool = False) -> Page:
    options: dict[str, Any] = {"base_url": base_url, "permissions": ["camera", "microphone"]}
    if phone:
        options.update(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True,
                       device_scale_factor=2)
    else:
        options.update(viewport={"width": 1280, "height": 800})
    context = await browser.new_context(**options)
    await context.add_init_script(RECORD_PEERS)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if _is_problem(m.type, m.text) else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.console_problems = problems  # type: ignore[attr-defined]  # CSP violations, uncaught errors
    return page


def _is_problem(kind: str, text: str) -> bool:
    return "Content Security Policy" in text or (kind == "error" and "Uncaught" in text)


def assert_clean_console(*pages: Page) -> None:
    for page in pages:
        assert page.console_problems == []  # type: ignore[attr-defined]


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def book_visit(doctor: Page, patient_name: str) -> None:
    await doctor.get_by_label("Find a patient").fill(patient_name.split()[0][:4])
    await doctor.get_by_role("button", name=f"Select {patient_name}").click()
    await doctor.get_by_label("Reason (optional)").fill("Follow-up on blood pressure")
    await doctor.get_by_role("button", name="Book visit").click()
    booked = doctor.get_by_role("status").filter(has_text=f"Visit booked with {patient_name}")
    await expect(booked).to_be_visible()


async def start_call(doctor: Page, patient_name: str) -> None:
    await doctor.get_by_role("link", name="Start visit").first.click()
    await expect(doctor.get_by_role("heading", name="Get ready for your visit")).to_be_visible()
    await expect(doctor.get_by_label("Your camera preview")).to_be_visible()
    await doctor.get_by_role("button", name="Start the call").click()
    await expect(doctor.get_by_role("heading", name=f"Calling {patient_name}…")).to_be_visible()


async def call_between(doctor: Page, patient: Page) -> None:
    """Both sign in, the doctor books the patient and calls, she accepts: connected on both sides."""
    await sign_in(doctor, DOCTOR[0])
    await sign_in(patient, PATIENT[0])
    await expect(doctor.get_by_role("heading", name="Your visits")).to_be_visible()
    await book_visit(doctor, PATIENT[1])
    await start_call(doctor, PATIENT[1])
    ring = patient.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling")
    await ring.get_by_role("button", name="Accept call").click()
    await wait_connected(doctor)
    await wait_connected(patient)


async def status(page: Page) -> str:
    return await page.get_by_test_id("call-status").inner_text()


async def wait_connected(page: Page, timeout: float = 25_000) -> None:
    await expect(page.get_by_test_id("call-status")).to_have_text("Connected", timeout=timeout)


async def video_stats(page: Page) -> dict[str, Any]:
    """Decoded remote frames (getStats) and the remote <video>'s size, as a person would see them."""
    return await page.evaluate(VIDEO_STATS)


async def wait_frames(page: Page, more_than: int = 0, timeout: float = 20) -> dict[str, Any]:
    """Wait until the remote video shows new frames (decoded count beyond `more_than`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await video_stats(page)
        if stats["frames"] > more_than and stats["width"] > 0 and stats["state"] == "connected":
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no new remote video frames: {stats}")
        await asyncio.sleep(0.25)


async def check_in(page: Page) -> None:
    """On the pre-call page: once the check's results show, press Check in, as a patient does. When
    the network check ends the button can still move down a line or two (the speed and TURN
    lines arrive), and a click at that moment can land beside it."""
    await expect(page.get_by_role("list", name="Pre-call check")).to_contain_text(
        re.compile(r"Network: good \(\d+ ms\)"), timeout=15_000)
    await page.get_by_role("button", name="Check in").click()
    await expect(page.get_by_role("heading", name="You are in the waiting room")).to_be_visible()


async def send_chat(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")


def chat_log(page: Page) -> Any:
    return page.get_by_role("log", name="Chat messages")


async def shot(page: Page, artifacts: Path, name: str) -> None:
    await page.wait_for_timeout(150)  # let transitions settle
    await page.screenshot(path=str(artifacts / f"{name}.png"))
