"""The cold mode of bench/call_setup.py (`--cold`): the callee's page load → first remote frame.

What call_setup.py needs for it and nothing else: a second init script for cold pages (the socket's
opening, the screens appearing, long tasks, the room the caller joined), what is read from the
callee's page after its first frame (Navigation and Resource Timing), the signed-in session put
where the web app keeps it, and the load breakdown (files, bytes, milestones) summed up per call
and over the calls. The systems, the rounds and the statistics stay in call_setup.py.
"""

from __future__ import annotations

import json
import re
import statistics
from typing import Any

# Runs after call_setup.INSTRUMENT in every page of a cold run (both sides of every system): marks
# on the same clock and into the same list. Only cold runs load it, so the warm mode's timeline
# keeps exactly its events.
COLD_INSTRUMENT = r"""
(() => {
  const B = window.__bench;
  const now = () => performance.timeOrigin + performance.now();
  const mark = (name) => { if (B.events.length < 500) B.events.push([name, now()]); };
  B.room = null;
  const Instrumented = window.WebSocket;
  window.WebSocket = class extends Instrumented {
    constructor(...args) {
      super(...args);
      mark('ws.new');
      this.addEventListener('open', () => mark('ws.open'));
    }
    // The room this page joins: the caller's, so that the callee's address can name it.
    send(data) {
      try { const f = JSON.parse(data); if (f.type === 'room.join') B.room = f.room_id; } catch {}
      return super.send(data);
    }
  };
  B.longtasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) B.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch {}
  // When each part of the screen first exists: the app's first render, the call screen (ours),
  // the other side's <video> element (both systems).
  const SHOWN = [['app.rendered', '#app > *'], ['screen.call', 'section[aria-label="Video visit"]'],
                 ['video.element', 'video[aria-label^="Video of"]']];
  const seen = new Set();
  new MutationObserver(() => {
    for (const [name, selector] of SHOWN) {
      if (!seen.has(name) && document.querySelector(selector)) { seen.add(name); mark(name); }
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""

# The callee's page after its first frame: the frame, the events, and how the page loaded. Times of
# Navigation and Resource Timing entries are ms after performance.timeOrigin (navigation start).
READ_COLD = """() => {
  const pick = (e) => ({ name: e.name, type: e.initiatorType, start: e.startTime, end: e.responseEnd,
    transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize });
  const nav = performance.getEntriesByType('navigation')[0];
  return { frame: __bench.frame, frameSize: __bench.frameSize ?? null, events: __bench.events,
    offset: __bench.offset(), origin: performance.timeOrigin,
    nav: nav ? { ...pick(nav), responseStart: nav.responseStart, interactive: nav.domInteractive,
                 dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd } : null,
    resources: performance.getEntriesByType('resource').map(pick),
    paints: performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]),
    longtasks: __bench.longtasks ?? [] };
}"""


def session_script(origin: str, reply: dict[str, Any]) -> str:
    """The signed-in session where web/src/stores/session.ts keeps it, set before the app's code
    runs: the token, the user and the two-factor flag in sessionStorage (JSON each), and the device
    token in localStorage. Only on the app's origin, and never over a session the tab already has."""
    stored = {
        "televisit.token": json.dumps(reply["access_token"]),
        "televisit.user": json.dumps(reply["user"]),
        "televisit.mfaEnrollment": json.dumps(bool(reply.get("mfa_enrollment_required"))),
    }
    return f"""(() => {{
  if (location.origin !== {json.dumps(origin)}) return;
  const stored = {json.dumps(stored)};
  if (sessionStorage.getItem('televisit.token') === null) {{
    for (const [key, value] of Object.entries(stored)) sessionStorage.setItem(key, value);
  }}
  const device = {json.dumps(reply.get("device_token"))};
  if (device) localStorage.setItem('televisit.device', device);
}})();"""


_HASH = re.compile(r"-[\w-]{8}(?=\.\w+$)")  # Vite's content hash in a file name under assets/


def short_name(url: str) -> str:
    """`http://…/assets/CallView-BeEMHUyF.js` → `CallView.js`; an API call keeps its path."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    if path.startswith("api/"):
        return "/" + re.sub(r"[0-9a-f-]{36}", "{id}", path)
    return _HASH.sub("", path.rsplit("/", 1)[-1]) or "/"


def kind_of(resource: dict[str, Any]) -> str:
    name = short_name(resource["name"])
    if name.endswith(".js"):
        return "js"
    if name.endswith(".css"):
        return "css"
    if resource["type"] in ("fetch", "xmlhttprequest"):
        return "api"
    return "other"


def events(page: dict[str, Any]) -> list[list[Any]]:
    """The page's events with its navigation, paint and file milestones, in time order (page clock)."""
    origin = page["origin"]
    events: list[list[Any]] = list(page["events"])
    nav = page["nav"]
    if nav:
        for key, name in (("responseStart", "doc.response_start"), ("end", "doc.response_end"),
                          ("interactive", "doc.interactive"), ("dcl", "doc.dom_content_loaded"),
                          ("load", "doc.load")):
            if nav[key]:
                events.append([name, origin + nav[key]])
    events += [[f"paint.{name}", origin + at] for name, at in page["paints"]]
    for start, duration in page["longtasks"][:1]:  # the first long task (in ours, the entry's evaluation)
        events += [["long task start", origin + start], ["long task end", origin + start + duration]]
    for r in page["resources"]:
        if kind_of(r) in ("js", "css"):
            events.append([f"file {short_name(r['name'])} requested", origin + r["start"]])
            events.append([f"file {short_name(r['name'])} loaded", origin + r["end"]])
    return sorted(events, key=lambda e: float(e[1]))


def breakdown(page: dict[str, Any]) -> dict[str, Any]:
    """What one cold load fetched and how busy the page's main thread was, up to the first frame."""
    frame_ms = page["frame"] - page["origin"]
    resources = page["resources"]
    totals: dict[str, Any] = {}
    for kind in ("js", "css", "api", "other"):
        mine = [r for r in resources if kind_of(r) == kind]
        totals[f"{kind}_files"] = len(mine)
        totals[f"{kind}_bytes"] = sum(r["transfer"] for r in mine)  # over the wire, headers included
        if kind in ("js", "css"):
            totals[f"{kind}_decoded_bytes"] = sum(r["decoded"] for r in mine)
            totals[f"{kind}_loaded_ms"] = round(max((r["end"] for r in mine), default=0.0), 1)
    nav = page["nav"] or {}
    totals["document_bytes"] = nav.get("transfer", 0)
    before = [(start, duration) for start, duration in page["longtasks"] if start < frame_ms]
    totals["long_tasks_before_frame"] = len(before)
    totals["long_task_ms_before_frame"] = round(sum(min(d, frame_ms - s) for s, d in before), 1)
    # The callee's main thread until the frame was seen (Chromium's counters, read right after it):
    # its CPU time, all its tasks, and the script, compile, style and layout work within them.
    metrics = page.get("metrics", {})
    for key, name in (("ThreadTime", "cpu"), ("TaskDuration", "task"), ("ScriptDuration", "script"),
                      ("V8CompileDuration", "compile"), ("RecalcStyleDuration", "style"),
                      ("LayoutDuration", "layout")):
        totals[f"main_thread_{name}_ms"] = round(metrics.get(key, 0.0) * 1000, 1)
    # A file from the HTTP cache has transferSize 0: a cold load must have none.
    totals["cache_hits"] = sum(1 for r in resources if r["transfer"] == 0 and r["decoded"] > 0)
    return totals


def files(page: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file and API call of one cold load, in the order they finished."""
    return [{"file": short_name(r["name"]), "kind": kind_of(r), "bytes": r["transfer"],
             "decoded_bytes": r["decoded"], "start_ms": round(r["start"], 1), "loaded_ms": round(r["end"], 1)}
            for r in sorted(page["resources"], key=lambda r: r["end"])]


def median_breakdown(calls: list[dict[str, Any]]) -> dict[str, float]:
    keys = calls[0]["load"].keys()
    return {k: round(statistics.median(c["load"][k] for c in calls), 1) for k in keys}
