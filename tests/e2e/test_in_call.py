"""What people do inside a call, in two real browsers: share a screen (and stop it from the
browser's own bar), go audio only by hand and on a link that really degrades, read the call timer,
choose a speaker and play a test sound.

Chromium's `--use-fake-ui-for-media-stream` with `--use-fake-device-for-media-stream` (the flags
every e2e browser starts with) answers getDisplayMedia with a fake 1280x720 "screen" and no
picker, so no extra flag is needed. A phone browser has no getDisplayMedia: the phone pages here
delete it before the app loads, as on Android Chrome or iOS Safari.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.a11y import CROWDED_PX, a11y_page, box_of, check_a11y, check_call_overlays, overlap
from tests.e2e.pages import DOCTOR, PATIENT, book_visit, call_between, shot, sign_in, wait_connected

NO_SCREEN_CAPTURE = "delete MediaDevices.prototype.getDisplayMedia;"

# What this browser receives on each video line (the camera's, and the screen line every call
# negotiates, calls/peer.ts), the size each remote <video> shows, and what it sends: bytes of
# outgoing video and audio, and the labels of the tracks on its video senders. `frames` counts
# decoded frames on all video lines.
MEDIA = """async () => {
  const pc = window.__peers.filter((p) => p.connectionState !== 'closed').pop();
  const tile = (prefix) => {
    const v = document.querySelector(`.remote video[aria-label^="${prefix}"]`);
    return { shown: !!v, width: v ? v.videoWidth : 0, height: v ? v.videoHeight : 0,
             frames: 0, content: null };
  };
  const camera = tile('Video of'), screen = tile('Screen shared by');
  const out = { camera, screen, frames: 0, videoSent: 0, audioSent: 0, sending: [],
                sinkId: (document.querySelector('.remote-cam video') || {}).sinkId ?? null };
  if (!pc) return out;
  // The screen line is the second video line of the negotiated description.
  const order = [...(pc.remoteDescription?.sdp ?? '').matchAll(/^a=mid:(\\S+)/gm)].map((m) => m[1]);
  const videoMids = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video' && t.mid !== null)
    .map((t) => t.mid).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      const line = r.mid === videoMids[1] ? screen : camera;
      line.frames += r.framesDecoded || 0;
      out.frames += r.framesDecoded || 0;
      // The RTP header extension Chromium sets for screen captures (video-content-type).
      line.content = r.contentType || 'camera';
    }
    if (r.type === 'outbound-rtp' && r.kind === 'video') out.videoSent += r.bytesSent || 0;
    if (r.type === 'outbound-rtp' && r.kind === 'audio') out.audioSent += r.bytesSent || 0;
  });
  out.sending = pc.getSenders().filter((s) => s.track && s.track.kind === 'video').map((s) => s.track.label);
  return out;
}"""


async def media(page: Page) -> dict[str, Any]:
    return await page.evaluate(MEDIA)


async def until(page: Page, check: Any, what: str, timeout: float = 20) -> dict[str, Any]:
    """Poll MEDIA until `check(stats)` holds; the last reading in the failure otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await media(page)
        if check(stats):
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: {stats}")
        await asyncio.sleep(0.3)


async def video_flows(page: Page, what: str) -> dict[str, Any]:
    """New remote frames decoded, and our own video bytes growing, over a second."""
    before = await media(page)
    return await until(page, lambda s: (s["frames"] > before["frames"] + 5
                                        and s["videoSent"] > before["videoSent"]), what)


async def video_stopped(page: Page, what: str) -> dict[str, Any]:
    """No video bytes leave this browser and no remote frames arrive for two seconds, while audio
    keeps going: the bandwidth is really saved (waits for the change to settle first)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        a = await media(page)
        await asyncio.sleep(2)
        b = await media(page)
        still = b["videoSent"] == a["videoSent"] and b["frames"] == a["frames"]
        if still and b["audioSent"] > a["audioSent"]:
            return b
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: video still flows or audio stopped: {a} → {b}")


async def end_capture_from_browser_bar(page: Page) -> None:
    """What the browser's "Stop sharing" bar does: the capture stops and its track fires `ended`
    (a track stopped by the page itself fires nothing, so the app cannot tell the two apart)."""
    await page.evaluate("""() => {
      const pc = window.__peers.filter((p) => p.connectionState !== 'closed').pop();
      const t = pc.getSenders().map((s) => s.track).find((t) => t && t.label.startsWith('screen'));
      t.stop();
      t.dispatchEvent(new Event('ended'));
    }""")


async def test_the_doctor_shares_a_screen_and_stops_from_the_browser_bar(browser, instance, artifacts):
    doctor = await a11y_page(browser, instance.url)
    patient = await a11y_page(browser, instance.url)
    await call_between(doctor, patient)
    camera = await video_flows(patient, "the patient never saw the doctor's camera")
    assert camera["camera"]["content"] == "camera" and not camera["screen"]["shown"]
    # The doctor's camera as captured (the fake one: 1280x720), and half of it: the largest the
    # camera may be sent at beside a shared screen. Between those the browser picks the size for
    # the link and the CPU (its `balanced` preference), so the checks below are bounds, not sizes.
    capture = await doctor.evaluate("""() => {
      const pc = window.__peers.filter((p) => p.connectionState !== 'closed').pop();
      const { width, height } = pc.getSenders().find((s) => s.track?.kind === 'video').track.getSettings();
      return [width, height];
    }""")
    half = (capture[0] // 2, capture[1] // 2)
    # A new call starts the camera small so that its first frame goes at once (calls/firstPicture.ts),
    # then gives it its size back (FIRST_PICTURE_MS, 12 s).
    await until(patient, lambda s: (s["camera"]["width"] > half[0]
                                    and s["camera"]["frames"] > camera["camera"]["frames"] + 5),
                "the doctor's camera stayed at the size of its first frames", timeout=30)
    # A desktop patient can share too.
    await expect(patient.get_by_role("button", name="Share screen")).to_be_visible()

    await doctor.get_by_role("button", name="Share screen").click()
    await expect(doctor.get_by_test_id("my-share-banner")).to_have_text(
        f"You are sharing your screen. {PATIENT[1]} sees it, and your camera small beside it.")
    await expect(doctor.get_by_role("button", name="Stop sharing")).to_be_visible()
    announced = patient.get_by_role("status").filter(has_text=f"{DOCTOR[1]} is sharing their screen")
    await expect(announced).to_be_visible()
    await expect(patient.get_by_label(f"Screen shared by {DOCTOR[1]}")).to_be_visible()
    await expect(patient.get_by_label(f"Video of {DOCTOR[1]}")).to_be_visible()
    # The screen line decodes the 1280x720 fake screen, marked as a screen capture, while the
    # camera goes on beside it as a thumbnail, sent at half its width and height.
    shared = await until(patient, shows_screen,
                         "the patient's screen tile never showed the shared screen")
    await until(patient, lambda s: (s["screen"]["frames"] > shared["screen"]["frames"] + 5
                                    and s["camera"]["frames"] > shared["camera"]["frames"] + 5
                                    and s["camera"]["content"] == "camera"
                                    and s["camera"]["width"] <= half[0] and s["camera"]["height"] <= half[1]),
                "the shared screen and the doctor's small camera do not both move on")
    await assert_beside(patient, DOCTOR[1])
    await assert_apart(doctor, ["my-share-banner", "call-quality"])
    await assert_apart(patient, ["share-banner", "call-quality", "remote-camera"])
    sending = (await media(doctor))["sending"]
    assert len(sending) == 2 and sum(label.startswith("screen") for label in sending) == 1, sending
    await shot(doctor, artifacts, "in-call-share-doctor")
    await shot(patient, artifacts, "in-call-share-patient")
    await check_a11y(patient, "call, the doctor sharing (patient)")
    await check_a11y(doctor, "call, sharing (doctor)")

    await end_capture_from_browser_bar(doctor)
    await expect(doctor.get_by_role("button", name="Share screen")).to_be_visible()
    await expect(doctor.get_by_test_id("my-share-banner")).to_be_hidden()
    await expect(patient.get_by_test_id("share-banner")).to_be_hidden()
    await expect(patient.get_by_label(f"Screen shared by {DOCTOR[1]}")).to_have_count(0)
    back = await until(patient, lambda s: s["camera"]["width"] > half[0],
                       "the doctor's camera did not come back to its size")
    await until(patient, lambda s: s["camera"]["frames"] > back["camera"]["frames"] + 5,
                "the camera came back frozen")
    assert not any(label.startswith("screen") for label in (await media(doctor))["sending"])
    await shot(patient, artifacts, "in-call-share-ended-patient")

    # The patient shares from her side too (she never makes an offer: the screen line is already
    # there), and the doctor sees her screen large and her camera small.
    await patient.get_by_role("button", name="Share screen").click()
    await expect(doctor.get_by_label(f"Screen shared by {PATIENT[1]}")).to_be_visible()
    theirs = await until(doctor, shows_screen,
                         "the doctor never saw the patient's screen")
    await until(doctor, lambda s: (s["screen"]["frames"] > theirs["screen"]["frames"] + 5
                                   and s["camera"]["frames"] > theirs["camera"]["frames"] + 5),
                "the patient's screen and camera do not both reach the doctor")
    await assert_beside(doctor, PATIENT[1])
    await shot(doctor, artifacts, "in-call-share-by-patient-doctor")
    await patient.get_by_role("button", name="Stop sharing").click()
    await expect(doctor.get_by_label(f"Screen shared by {PATIENT[1]}")).to_have_count(0)
    await expect(doctor.get_by_test_id("share-banner")).to_be_hidden()


def shows_screen(stats: dict[str, Any]) -> bool:
    """The screen line decodes the fake 1280x720 screen, marked as a screen capture."""
    screen = stats["screen"]
    return bool(screen["content"] == "screenshare" and (screen["width"], screen["height"]) == (1280, 720))


async def assert_apart(page: Page, test_ids: list[str]) -> None:
    """These parts of the call screen are all visible and none covers another."""
    boxes = {t: await box_of(page.get_by_test_id(t), t) for t in test_ids}
    for i, a in enumerate(test_ids):
        for b in test_ids[i + 1:]:
            assert not overlap(boxes[a], boxes[b], CROWDED_PX), f"{a} covers {b}: {boxes}"


async def assert_beside(page: Page, sharer: str) -> None:
    """The shared screen fills the picture and the sharer's camera sits small inside it, whole."""
    screen = await page.get_by_label(f"Screen shared by {sharer}").bounding_box()
    cam = await page.get_by_label(f"Video of {sharer}").bounding_box()
    assert screen and cam, (screen, cam)
    assert cam["width"] * cam["height"] < screen["width"] * screen["height"] / 8, (screen, cam)
    inside = (screen["x"] <= cam["x"] and cam["x"] + cam["width"] <= screen["x"] + screen["width"]
              and screen["y"] <= cam["y"] and cam["y"] + cam["height"] <= screen["y"] + screen["height"])
    assert inside, (screen, cam)


async def phone_patient(browser: Any, base_url: str) -> Page:
    page = await a11y_page(browser, base_url, "phone")
    await page.context.add_init_script(NO_SCREEN_CAPTURE)
    return page


async def test_audio_only_by_hand_stops_video_both_ways_and_comes_back(browser, instance, artifacts):
    doctor = await a11y_page(browser, instance.url)
    patient = await phone_patient(browser, instance.url)
    await call_between(doctor, patient)
    await video_flows(doctor, "no video to the doctor")
    await video_flows(patient, "no video to the patient")
    # A phone cannot share a screen: no control. The device picker is within reach.
    await expect(patient.get_by_role("button", name="Audio only")).to_be_visible()
    await expect(patient.get_by_role("button", name="Share screen")).to_have_count(0)
    await patient.get_by_role("button", name="Devices").click()
    await expect(patient.get_by_role("group", name="Devices").get_by_label("Microphone")).to_be_visible()
    await patient.get_by_role("button", name="Devices").click()

    await patient.get_by_role("button", name="Audio only").click()
    await expect(patient.get_by_role("button", name="Audio only")).to_have_attribute("aria-pressed", "true")
    notice = patient.get_by_test_id("audio-only-notice")
    await expect(notice).to_have_text("You turned video off. Audio continues.")
    await expect(doctor.get_by_test_id("audio-only-notice")).to_have_text(
        f"{PATIENT[1]} turned video off. Audio continues.")
    # Neither side sends video any more (her choice stops his video too); audio goes on.
    await video_stopped(patient, "the patient still sends or receives video")
    await video_stopped(doctor, "the doctor still sends or receives video")
    await shot(patient, artifacts, "in-call-audio-only-patient-phone")
    await shot(doctor, artifacts, "in-call-audio-only-doctor")
    await check_a11y(patient, "call, audio only (phone)")
    await check_a11y(doctor, "call, the other side audio only (doctor)")

    await patient.get_by_role("button", name="Audio only").click()
    await expect(patient.get_by_test_id("audio-only-notice")).to_be_hidden()
    await expect(doctor.get_by_test_id("audio-only-notice")).to_be_hidden()
    await video_flows(doctor, "video did not come back to the doctor")
    await video_flows(patient, "video did not come back to the patient")

    # The doctor can ask for it too; he sees his own words, she sees his.
    await doctor.get_by_role("button", name="Audio only").click()
    await expect(patient.get_by_test_id("audio-only-notice")).to_have_text(
        f"{DOCTOR[1]} turned video off. Audio continues.")
    await video_stopped(patient, "the patient still sends video after the doctor chose audio only")
    await doctor.get_by_role("button", name="Audio only").click()
    await video_flows(patient, "video did not come back after the doctor turned it on")

    # A phone cannot share, but it shows a shared screen: the screen fills the picture, the
    # doctor's camera sits in its own corner, and nothing on the picture covers anything else.
    await doctor.get_by_role("button", name="Share screen").click()
    await expect(patient.get_by_label(f"Screen shared by {DOCTOR[1]}")).to_be_visible()
    await until(patient, shows_screen, "the phone never showed the doctor's screen")
    await assert_beside(patient, DOCTOR[1])
    await assert_apart(patient, ["share-banner", "call-quality", "remote-camera"])
    await check_call_overlays(patient, "call, the doctor sharing (phone)")
    await check_a11y(patient, "call, the doctor sharing (phone)")
    await shot(patient, artifacts, "in-call-share-patient-phone")
    await doctor.get_by_role("button", name="Stop sharing").click()
    await expect(patient.get_by_label(f"Screen shared by {DOCTOR[1]}")).to_have_count(0)


CAP = """(kbps) => {
  const pc = window.__peers.filter((p) => p.connectionState !== 'closed').pop();
  const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'video');
  const params = sender.getParameters();
  params.encodings = params.encodings.map((e) => {
    const next = { ...e };
    if (kbps === null) delete next.maxBitrate; else next.maxBitrate = kbps * 1000;
    return next;
  });
  return sender.setParameters(params);
}"""


async def test_a_weak_link_pauses_video_on_both_sides_with_a_notice(browser, instance, artifacts):
    """The link degrades for real: the doctor's browser may send at most 30 kbit/s of video (an
    encoder cap, `RTCRtpSender.setParameters`), so the patient receives below 60 kbit/s at a few
    frames a second. Her browser judges her link poor from getStats, pauses video after six
    seconds, and both screens say why. While video is paused nothing shows the cap (audio and the
    bandwidth estimate are fine), so after ten good seconds video is tried again: still capped, it
    pauses again, now for twice as long. Once the cap is lifted, video comes back and stays."""
    doctor = await a11y_page(browser, instance.url)
    patient = await a11y_page(browser, instance.url)
    await call_between(doctor, patient)
    await video_flows(patient, "no video to the patient")
    notice = patient.get_by_test_id("audio-only-notice")
    clock = asyncio.get_running_loop().time

    await doctor.evaluate(CAP, 30)
    capped_at = clock()
    # "was": while video is paused the link is judged without it (and often looks fine again).
    weak = "Video is paused because your connection was weak. Audio continues."
    await expect(notice).to_have_text(weak, timeout=40_000)
    paused_after = clock() - capped_at
    await expect(doctor.get_by_test_id("audio-only-notice")).to_have_text(
        f"Video is paused because {PATIENT[1]}'s connection was weak. Audio continues.")
    await expect(patient.get_by_role("button", name="Audio only")).to_have_attribute("aria-pressed", "true")
    await video_stopped(doctor, "the doctor still sends video on a weak link")
    await video_stopped(patient, "the patient still sends video on her weak link")
    await shot(patient, artifacts, "in-call-weak-link-patient")
    await shot(doctor, artifacts, "in-call-weak-link-doctor")

    # Still capped: video is tried again, found weak again, and paused again.
    await expect(notice).to_be_hidden(timeout=40_000)
    retried_at = clock()
    await expect(notice).to_have_text(weak, timeout=40_000)
    relapse_after = clock() - retried_at

    await doctor.evaluate(CAP, None)  # the link is good again
    lifted_at = clock()
    await expect(notice).to_be_hidden(timeout=60_000)
    back_after = clock() - lifted_at
    await expect(doctor.get_by_test_id("audio-only-notice")).to_be_hidden()
    await video_flows(patient, "video did not come back to the patient")
    await video_flows(doctor, "video did not come back to the doctor")
    # Measured, not asserted (docs/web.md): cap → pause, retry → pause, lifted cap → video back.
    print(f"weak link: paused {paused_after:.1f} s after the cap, paused again {relapse_after:.1f} s after "
          f"the retry, video back {back_after:.1f} s after the cap was lifted")
    # And it stays: more than the six weak seconds that would pause it again.
    await patient.wait_for_timeout(8_000)
    await expect(notice).to_be_hidden()
    await video_flows(patient, "video stopped again after the cap was lifted")


async def test_timer_speaker_choice_and_test_sound(browser, instance, artifacts):
    doctor = await a11y_page(browser, instance.url)
    patient = await a11y_page(browser, instance.url)
    await sign_in(doctor, DOCTOR[0])
    await sign_in(patient, PATIENT[0])
    await expect(doctor.get_by_role("heading", name="Your visits")).to_be_visible()
    await book_visit(doctor, PATIENT[1])
    await doctor.get_by_role("link", name="Start visit").first.click()
    await expect(doctor.get_by_role("heading", name="Get ready for your visit")).to_be_visible()

    # The pre-call check: a test sound on the chosen speaker, which the call then uses.
    speaker = doctor.get_by_label("Speaker")
    await expect(speaker.locator("option")).to_contain_text(
        ["Fake Default Audio Output", "Fake Audio Output 1"])
    await speaker.select_option(label="Fake Audio Output 1")
    chosen = await speaker.input_value()
    assert chosen not in ("", "default")
    await doctor.get_by_role("button", name="Play test sound").click()
    await expect(doctor.get_by_test_id("test-sound-status")).to_have_text(re.compile("^Did you hear a tone?"))
    await shot(doctor, artifacts, "in-call-precheck-test-sound")
    await check_a11y(doctor, "pre-call check with speaker and test sound")

    await doctor.get_by_role("button", name="Start the call").click()
    await patient.get_by_role("alertdialog", name=f"{DOCTOR[1]} is calling").get_by_role(
        "button", name="Accept call").click()
    await wait_connected(doctor)
    await wait_connected(patient)
    await until(doctor, lambda s: s["sinkId"] == chosen, "the call does not play on the chosen speaker")

    timer = doctor.get_by_test_id("call-timer")
    await expect(timer).to_have_text(re.compile(r"^Call time \d\d:\d\d$"))
    first = await timer.locator("time").inner_text()
    await expect(timer.locator("time")).not_to_have_text(first, timeout=5_000)  # it ticks
    assert re.fullmatch(r"00:0\d", first), first
    # Not read out every second: no live region around it.
    live = await timer.evaluate("(el) => !!el.closest('[role=status],[aria-live],[role=timer]')")
    assert live is False
    await expect(patient.get_by_test_id("call-timer")).to_be_visible()
    await shot(doctor, artifacts, "in-call-timer")
