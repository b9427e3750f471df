"""Trust between the two people: in a real call both browsers show the same verification code,
and it is the one derived from the DTLS fingerprints each browser actually uses."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.a11y import AXE
from tests.e2e.conftest import RECORD_PEERS
from tests.e2e.pages import DOCTOR, call_between, shot

FINGERPRINTS = """() => {
  const pc = window.__peers.filter((p) => p.connectionState === 'connected').pop();
  const lines = (sdp) => [...new Set(sdp.split(/\\r?\\n/).filter((l) => l.startsWith('a=fingerprint:')))];
  return { local: lines(pc.currentLocalDescription.sdp), remote: lines(pc.currentRemoteDescription.sdp) };
}"""


async def call_page(browser: Any, base_url: str) -> Page:
    """Like a person's browser, plus a CSP bypass so the test can run axe-core on the call screen."""
    assert AXE.is_file()
    context = await browser.new_context(base_url=base_url, permissions=["camera", "microphone"],
                                        viewport={"width": 1280, "height": 800}, bypass_csp=True)
    await context.add_init_script(RECORD_PEERS)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


def expected_code(fingerprint_lines: list[str]) -> str:
    """calls/verification.ts, again: the sorted `algorithm HEX` pairs, SHA-256, six digits."""
    pairs = sorted({(lambda a, h: f"{a.lower()} {h.upper()}")(*line.split(":", 1)[1].split())
                    for line in fingerprint_lines})
    digest = hashlib.sha256("\n".join(pairs).encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 1_000_000:06d}"


async def assert_accessible(page: Page, selector: str) -> None:
    """axe-core on the verification control and panel (the rest of the call screen is another
    change's): no serious or critical violation."""
    await page.add_script_tag(path=str(AXE))
    violations = await page.evaluate("""async (selector) => {
      const result = await axe.run(selector, { resultTypes: ['violations'] });
      return result.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
        .map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    }""", selector)
    assert violations == []


async def read_code(page: Page) -> str:
    await page.get_by_role("button", name="Verify this call").click()
    code = page.get_by_test_id("verify-code")
    await expect(code).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    return (await code.inner_text()).replace(" ", "")


async def test_both_sides_show_the_same_code_from_their_real_fingerprints(browser, instance, artifacts):
    doctor, patient = await call_page(browser, instance.url), await call_page(browser, instance.url)
    await call_between(doctor, patient)

    doctor_code, patient_code = await read_code(doctor), await read_code(patient)
    assert doctor_code == patient_code
    # Each side's pair of fingerprints: its own and the other's, the same two on both sides.
    d, p = await doctor.evaluate(FINGERPRINTS), await patient.evaluate(FINGERPRINTS)
    assert d["local"] == p["remote"] and d["remote"] == p["local"] and d["local"] != d["remote"]
    assert doctor_code == expected_code(d["local"] + d["remote"])
    await expect(patient.get_by_text(f"Read this number to {DOCTOR[1]}")).to_be_visible()
    await shot(doctor, artifacts, "verify-doctor")
    await shot(patient, artifacts, "verify-patient")
    await assert_accessible(patient, ".verify")
    await patient.get_by_role("button", name="Close the code").click()
    await expect(patient.get_by_test_id("verify-code")).to_be_hidden()
    await expect(patient.get_by_role("button", name="Verify this call")).to_be_focused()
