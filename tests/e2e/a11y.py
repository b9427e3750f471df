"""Accessibility checks for the browser tests: axe-core injected into the page (the npm package in
web/node_modules, as the app's CSP forbids inline scripts the context bypasses it), sideways
scrolling, what sits on the call's video, and the sizes every screen is checked at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page

from tests.e2e.conftest import RECORD_PEERS

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    # A 1280-pixel-wide window at 200% zoom lays out like this.
    "zoom200": {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 3},
}
# "Large text" on a phone: the browser's text size setting at 150% (rem-based sizes follow it).
LARGE_TEXT = "html { font-size: 150% !important; }"


async def a11y_page(browser: Any, base_url: str, size: str = "desktop") -> Page:
    """A page in its own context at one of SIZES, camera and microphone allowed, axe-ready."""
    assert AXE.is_file(), "axe-core is a devDependency of web/: run `make web`"
    context = await browser.new_context(base_url=base_url, bypass_csp=True,
                                        permissions=["camera", "microphone"], **SIZES[size])
    await context.add_init_script(RECORD_PEERS)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now. The rule that the
    visible label is part of the accessible name (voice control) is experimental in axe: on."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    violations = await page.evaluate("""async () => {
      const result = await axe.run(document, { resultTypes: ['violations'],
        rules: { 'label-content-name-mismatch': { enabled: true } } });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
    }""")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


async def sideways_overflow(page: Page) -> int:
    return await page.evaluate("(() => { const d = document.documentElement; "
                               "return d.scrollWidth - d.clientWidth })()")


async def check_a11y(page: Page, screen: str) -> None:
    """No serious or critical axe violation, and the page does not scroll sideways."""
    serious = await axe_violations(page)
    assert serious == [], f"{screen}: {serious}"
    overflow = await sideways_overflow(page)
    if overflow > 0:
        wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
          .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className}`)""")
        raise AssertionError(f"{screen}: the page scrolls sideways by {overflow}px: {wide}")


async def box(page: Page, selector: str) -> dict[str, float]:
    return await box_of(page.locator(selector).first, selector)


async def box_of(locator: Locator, what: str) -> dict[str, float]:
    b = await locator.bounding_box()
    assert b is not None, f"{what} is not on screen"
    return b


def overlap(a: dict[str, float], b: dict[str, float], gap: float = 0) -> bool:
    """The two boxes intersect, or come closer than `gap` pixels."""
    return (a["x"] < b["x"] + b["width"] + gap and b["x"] < a["x"] + a["width"] + gap
            and a["y"] < b["y"] + b["height"] + gap and b["y"] < a["y"] + a["height"] + gap)


# Closer than this and two things on the video read as one cluttered block.
CROWDED_PX = 4


async def check_call_overlays(page: Page, screen: str, *,
                              middle_clear: bool = True) -> dict[str, dict[str, float]]:
    """What the call screen puts on the other person's video (the status bar, "Verify this call",
    the quality lines, the self-view) sits apart, none within a few pixels of another, and (unless
    told otherwise) none covers the middle tenth of the video. Returns the boxes."""
    verify = page.get_by_role("button", name="Verify this call")
    boxes = {
        "status bar": await box(page, ".status-bar"),
        "Verify this call": await box_of(verify, "Verify this call"),
        "quality lines": await box_of(page.get_by_test_id("call-quality"), "the quality lines"),
        "self-view": await box_of(page.get_by_label("Your video"), "the self-view"),
    }
    names = list(boxes)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not overlap(boxes[first], boxes[second], CROWDED_PX), \
                f"{screen}: the {first} and the {second} touch: {boxes[first]} {boxes[second]}"
    video = await box(page, 'video[aria-label^="Video of"]')
    middle = {"x": video["x"] + video["width"] * .45, "y": video["y"] + video["height"] * .45,
              "width": video["width"] * .1, "height": video["height"] * .1}
    for name, b in boxes.items():
        covers = middle_clear and overlap(b, middle)
        assert not covers, f"{screen}: the {name} covers the middle of the video: {b} {video}"
    return boxes
