"""Call set-up in the browser: Televisit's web app against a bare page pair, accept → first frame.

For each call the callee clicks "Accept call" and the benchmark measures, on each side, the time
from that click to the first decoded remote video frame (requestVideoFrameCallback on the remote
<video>), in headless Debian Chromium with fake camera and microphone, two browser contexts per
system. The two systems take turns call by call (ABBA order) in one browser, so machine noise
hits both; the first call of each system is a warm-up and is not counted.

- ours:     `televisit serve` (bench/serve_variant.py with the shipped uvicorn settings) on a
            throwaway SQLite database with the demo accounts (`televisit demo`); the doctor signs
            in, opens the visit with Alice, "Start the call"; Alice signs in, "Accept call".
- baseline: bench/peers/call-baseline/call.html (plain JS, no framework) through the bare Node
            relay bench/peers/ws-relay/relay.js: the same getUserMedia constraints, the same
            frames (room.join, participant.joined, signal), nothing else.

One init script instruments both systems the same way: the accept click (capture phase), the
remote video's first frame, and a timeline (getUserMedia, WebSocket frames, peer connection
steps) for finding where the time goes. Times are performance.timeOrigin + performance.now();
the caller's figure compares two pages, so each page's offset to the wall clock is measured and
subtracted.

`--relay` makes every call relay-only through one real coturn (the shipped configuration,
deploy/coturn/turnserver.conf, adapted for one machine by tests/fixtures/coturn.py): ours with
TELEVISIT_ICE_TRANSPORT_POLICY=relay and the coturn's URL and secret, the bare pages with the same
`iceTransportPolicy: "relay"` and credentials of the same scheme; each measured call checks that
both sides' selected candidate pair is relay-to-relay. Target: 1.3x the baseline.

`--cold` measures the patient's whole wait when the app is not loaded yet (bench/call_cold.py): the
caller is already in the call and waiting (ours: the doctor started it and it rings; the bare caller
has joined the room), and for each call the callee's page loads in a fresh browser context (empty
HTTP cache, service workers blocked), already signed in (ours: the session put in sessionStorage,
where the app keeps it, before navigation; the bare page needs none), straight into the call with
no click (ours: /visits/<id>/call?room=<room>, what a ringing notification's Answer opens; the bare
page: ?join=<room>). Each side's figure is from the callee's navigation start (performance.timeOrigin)
to its first remote frame; the summary adds where the callee's load went (files, bytes, long tasks,
and milestones such as the document, the last script, the socket's opening and room.join in
timeline_median_ms). Target: 1.2x the bare page's cold load.

`--system hybrid` adds the bare pages on our server (the server's share without the web app);
`--variant NAME=DIR` adds a prototype build of the web app with its own server. docs/benchmarks.md
has the figures and how to read them.

    .venv/bin/python bench/call_setup.py                  # 12 calls per system, about a minute
    .venv/bin/python bench/call_setup.py --calls 20 --json-out /tmp/call_setup.json
    .venv/bin/python bench/call_setup.py --relay          # both systems through one coturn
    .venv/bin/python bench/call_setup.py --cold --calls 10   # page load -> first frame
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import call_cold
from procs import free_port, stop, televisit_argv, televisit_env, wait_for_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fixtures
from televisit.rooms.ice import turn_credentials
from tests.fixtures.browser import CHROMIUM, chromium_args
from tests.fixtures.coturn import TurnServer, start_shipped_turnserver

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PAGE_DIR = ROOT / "bench" / "peers" / "call-baseline"
RELAY_DIR = ROOT / "bench" / "peers" / "ws-relay"
CHROMIUM_ARGS = chromium_args()
DEMO_PASSWORD = "televisit-demo-visit"  # src/televisit/cli.py prints it for the demo
DOCTOR = "doctor@demo.televisit.test"
PATIENT = "alice@demo.televisit.test"
PATIENT_NAME = "Alice Patient"
HYBRID_PATIENT = "bob@demo.televisit.test"
HYBRID_DOCTOR = "hybrid-doctor@example.com"
TARGET = 1.2
RELAY_TARGET = 1.3  # relay-only through coturn (issue 13)

# The same instrument in every page of both systems. It adds listeners and thin wrappers only.
INSTRUMENT = r"""
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const B = window.__bench = { accept: null, frame: null, events: [], peers: [] };
  const mark = (name) => { if (B.events.length < 500) B.events.push([name, now()]); };
  B.reset = () => { B.accept = null; B.frame = null; B.events = []; };
  /** Wall clock minus this page's clock, read at a Date.now() tick (pages are separate processes). */
  B.offset = () => {
    const r = [];
    for (let k = 0; k < 5; k++) {
      const d0 = Date.now();
      let d; let t;
      do { t = now(); d = Date.now(); } while (d === d0);
      r.push(d - t);
    }
    return r.sort((a, b) => a - b)[2];
  };
  addEventListener('click', (ev) => {
    const t = now();
    if (ev.target instanceof Element && ev.target.closest('[aria-label="Accept call"]')) {
      B.accept = t;
      B.events.push(['accept', t]);
    }
  }, true);

  const md = navigator.mediaDevices;
  if (md) {
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = async (c) => {
      mark('gum.start');
      try { return await gum(c); } finally { mark('gum.end'); }
    };
    const enumerate = md.enumerateDevices.bind(md);
    md.enumerateDevices = async () => {
      mark('devices.start');
      try { return await enumerate(); } finally { mark('devices.end'); }
    };
  }

  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input.url ?? String(input), location.href);
    const method = init?.method ?? input?.method ?? 'GET';
    const name = 'fetch.' + method + ' ' + url.pathname.replace(/[0-9a-f-]{36}/g, '{id}');
    mark(name + ' start');
    try { return await nativeFetch(input, init); } finally { mark(name + ' end'); }
  };

  const label = (f) => f.type !== 'signal' ? f.type
    : 'signal.' + (f.data?.description?.type ?? (f.data?.candidate ? 'candidate' : 'other'));
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        try { mark('recv.' + label(JSON.parse(ev.data))); } catch {}
      });
    }
    send(data) { try { mark('send.' + label(JSON.parse(data))); } catch {} return super.send(data); }
  };

  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      B.peers.push(this);
      mark('pc.new');
      this.addEventListener('connectionstatechange', () => mark('pc.' + this.connectionState));
      this.addEventListener('icegatheringstatechange', () => mark('ice.gathering.' + this.iceGatheringState));
      this.addEventListener('track', (ev) => mark('pc.track.' + ev.track.kind));
    }
    async createOffer(...args) { mark('offer.create'); return super.createOffer(...args); }
    async setLocalDescription(...args) {
      const r = await super.setLocalDescription(...args);
      mark('local.' + this.localDescription?.type);
      return r;
    }
    async setRemoteDescription(...args) {
      const r = await super.setRemoteDescription(...args);
      mark('remote.' + this.remoteDescription?.type);
      return r;
    }
  };

  // The first frame of the other side's video (both systems label it "Video of ...").
  const watch = (video) => {
    if (video.__benchWatched) return;
    video.__benchWatched = true;
    video.requestVideoFrameCallback((t, meta) => {
      if (B.frame !== null) return;
      B.frame = performance.timeOrigin + meta.presentationTime;
      B.frameCallback = performance.timeOrigin + t;
      B.frameSize = [meta.width, meta.height];
      B.events.push(['frame', B.frame]);
    });
  };
  new MutationObserver(() => {
    for (const v of document.querySelectorAll('video[aria-label^="Video of"]')) watch(v);
  }).observe(document, { childList: true, subtree: true });
})();
"""

# The live connection's selected candidate pair, as devtools would show it (both types "relay" when
# the call really went through coturn).
SELECTED_PAIR = """async () => {
  const pc = __bench.peers.filter((p) => p.connectionState === 'connected').pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  const byId = new Map(); stats.forEach((r) => byId.set(r.id, r));
  const transport = [...byId.values()].find((r) => r.type === 'transport' && r.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  const type = (id) => byId.get(id).candidateType;
  return pair ? [type(pair.localCandidateId), type(pair.remoteCandidateId)] : null;
}"""

# What the transport and the video streams did up to the first frame (read right after it), to tell
# a lost first key frame (PLI, a second key frame) from a late one.
DIAG = """async () => {
  const pc = __bench.peers.filter((p) => p.connectionState === 'connected').pop();
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = { localCandidates: 0, remoteCandidates: 0, pairs: 0, succeeded: 0 };
  stats.forEach((r) => {
    if (r.type === 'local-candidate') out.localCandidates += 1;
    else if (r.type === 'remote-candidate') out.remoteCandidates += 1;
    else if (r.type === 'candidate-pair') { out.pairs += 1; if (r.state === 'succeeded') out.succeeded += 1; }
    else if (r.type === 'transport') out.pairChanges = r.selectedCandidatePairChanges;
    else if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesReceived) {
      out.in = { frames: r.framesDecoded, keyFrames: r.keyFramesDecoded, pli: r.pliCount, fir: r.firCount,
                 nack: r.nackCount, lost: r.packetsLost, dropped: r.framesDropped, width: r.frameWidth };
    } else if (r.type === 'outbound-rtp' && r.kind === 'video' && r.framesEncoded) {
      out.out = { frames: r.framesEncoded, keyFrames: r.keyFramesEncoded, pli: r.pliCount, fir: r.firCount,
                  nack: r.nackCount, width: r.frameWidth, limit: r.qualityLimitationReason };
    }
  });
  return out;
}"""

READ_PAGE = """() => ({ accept: __bench.accept, frame: __bench.frame, frameSize: __bench.frameSize ?? null,
  events: __bench.events, offset: __bench.offset() })"""


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # localhost
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@dataclass
class Processes:
    """The servers this run started; stopped by pid at the end, nothing else."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=logfile.open("ab"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


# -- the two systems' servers -------------------------------------------------------------------
def start_ours(procs: Processes, tmp: Path, dist: Path, origins: list[str],
               turn: TurnServer | None = None) -> tuple[str, int]:
    """`televisit demo`, then the server as `televisit serve` runs it, serving a snapshot of the
    built web app (another `npm run build` during the run must not swap the files under it).
    With `turn`: TURN through that coturn and the clinic's relay-only policy."""
    snapshot = tmp / "dist"
    shutil.copytree(dist, snapshot)
    env = televisit_env(tmp)
    if turn is not None:
        env.update({"TELEVISIT_TURN_URLS": json.dumps([turn.url]),
                    "TELEVISIT_TURN_SECRET": turn.secret, "TELEVISIT_ICE_TRANSPORT_POLICY": "relay"})
    env["TELEVISIT_ALLOWED_ORIGINS"] = json.dumps(origins)  # the bare pages' origin (--system hybrid)
    subprocess.run([*televisit_argv(), "demo"], env=env, cwd=ROOT, check=True, capture_output=True)
    # A second doctor for --system hybrid (the demo doctor's visit with Alice is booked at that time).
    subprocess.run([*televisit_argv(), "users", "create", "--role", "doctor", "--email", HYBRID_DOCTOR,
                    "--password", DEMO_PASSWORD, "--name", "Dr. Bench Hybrid"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    preload = tmp / "spa_snapshot.py"
    preload.write_text(
        "import functools, pathlib, televisit.app as app_module\n"
        "app_module.mount_spa = functools.partial(\n"
        f"    app_module.mount_spa, dist=pathlib.Path({str(snapshot)!r}))\n"
    )
    port = free_port()
    proc = procs.start(
        [sys.executable, str(ROOT / "bench" / "serve_variant.py"), "--port", str(port),
         "--deflate", "off", "--preload", str(preload)],
        env, tmp / "televisit.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz", proc)
    return base, proc.pid


def start_coturn(procs: Processes, tmp: Path) -> TurnServer:
    """coturn with the shipped configuration, adapted for one machine (tests/fixtures/coturn.py)."""
    workdir = tmp / "coturn"
    workdir.mkdir()
    proc, server = start_shipped_turnserver(workdir)
    procs.procs.append(proc)
    return server


def relay_only(turn: TurnServer, user: str) -> dict[str, Any]:
    """An RTCConfiguration for the bare pages: the same coturn, relay only, credentials of the
    scheme our server uses (coturn's use-auth-secret)."""
    username, credential = turn_credentials(turn.secret, user, int(time.time()) + 3600)
    return {"iceServers": [{"urls": [turn.url], "username": username, "credential": credential}],
            "iceTransportPolicy": "relay"}


def start_relay(procs: Processes, tmp: Path, token: str) -> tuple[str, int]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed: the baseline relay cannot run")
    if not (RELAY_DIR / "node_modules" / "ws").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RELAY_DIR, check=True)
    port = free_port()
    env = dict(os.environ, RELAY_PORT=str(port), RELAY_TOKEN=token)
    proc = procs.start([node, str(RELAY_DIR / "relay.js")], env, tmp / "relay.log")
    wait_for_port(port, proc, timeout=30)
    return f"ws://127.0.0.1:{port}/", proc.pid


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


def serve_baseline_page() -> tuple[str, http.server.ThreadingHTTPServer]:
    """The static page from a plain file server (http://127.0.0.1 is a secure context)."""
    handler = functools.partial(_Quiet, directory=str(BASELINE_PAGE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/call.html", server


# -- one call in each system ---------------------------------------------------------------------
@dataclass
class Pair:
    caller: Any
    callee: Any


class Baseline:
    name = "baseline"

    def __init__(self, browser: Any, page_url: str, relay: tuple[str, int], token: str,
                 turn: TurnServer | None = None) -> None:
        self.browser, self.page_url, self.turn = browser, page_url, turn
        self.tokens = {"caller": token, "callee": token}
        self.relay_url, self.server_pid = relay

    async def configure(self, page: Any, user: str) -> None:
        if self.turn is not None:
            await page.evaluate("c => configure(c)", relay_only(self.turn, user))

    async def open(self, cold: bool = False) -> Pair:
        """Both pages, connected; with `cold` the caller's only (the callee's loads in each call)."""
        pages = []
        for role in ("caller",) if cold else ("caller", "callee"):
            context = await self.browser.new_context()
            for script in (INSTRUMENT, call_cold.COLD_INSTRUMENT) if cold else (INSTRUMENT,):
                await context.add_init_script(script)
            page = await context.new_page()
            await page.goto(f"{self.page_url}?role={role}")
            await page.evaluate("([url, token]) => connect(url, token)", [self.relay_url, self.tokens[role]])
            await self.configure(page, role)
            pages.append(page)
        self.pair = Pair(pages[0], pages[1] if len(pages) > 1 else None)
        return self.pair

    async def new_room(self) -> str:
        return str(uuid.uuid4())

    async def call(self) -> str:
        """The caller joins a new room; returns it once the caller's peer connection exists."""
        room = await self.new_room()
        peers = await self.pair.caller.evaluate("() => __bench.peers.length")
        await self.pair.caller.evaluate("room => call(room)", room)
        await self.pair.caller.wait_for_function("n => __bench.peers.length > n", arg=peers)
        return room

    async def ring(self) -> None:
        room = await self.call()
        await self.pair.callee.evaluate("room => ring(room)", room)

    def cold_url(self, room: str) -> str:
        """The callee's page joining `room` as it loads (cold mode)."""
        query = {"role": "callee", "join": room, "ws": self.relay_url, "token": self.tokens["callee"]}
        if self.turn is not None:
            query["rtc"] = json.dumps(relay_only(self.turn, "callee"))
        return f"{self.page_url}?{urllib.parse.urlencode(query)}"

    def cold_scripts(self) -> list[str]:
        return []  # the bare page needs no sign-in

    async def hang_up(self) -> None:
        for page in (self.pair.caller, self.pair.callee):
            if page is not None:
                await page.evaluate("() => hangUp()")


class Ours:
    def __init__(self, browser: Any, server: tuple[str, int], name: str = "ours") -> None:
        self.browser, self.name = browser, name
        self.base, self.server_pid = server

    async def _sign_in(self, email: str, cold: bool = False) -> Any:
        context = await self.browser.new_context()
        for script in (INSTRUMENT, call_cold.COLD_INSTRUMENT) if cold else (INSTRUMENT,):
            await context.add_init_script(script)
        page = await context.new_page()
        await page.goto(self.base + "/sign-in")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/visits")
        return page

    async def open(self, cold: bool = False) -> Pair:
        """The doctor and Alice signed in through the UI; with `cold` only the doctor, and Alice's
        session over REST, for the fresh pages (cold_scripts)."""
        if cold:
            self.patient_session = rest(self.base, "POST", "/api/v1/auth/login",
                                        {"email": PATIENT, "password": DEMO_PASSWORD})
            self.pair = Pair(await self._sign_in(DOCTOR, cold=True), None)
        else:
            self.pair = Pair(await self._sign_in(DOCTOR), await self._sign_in(PATIENT))
        return self.pair

    def book_next_visit(self) -> None:
        """A held visit is done and has no Start any more: book Alice's next one over REST, as soon
        as the doctor is free (a start within the early-join window, 15 minutes)."""
        login = {"password": DEMO_PASSWORD}
        doctor = rest(self.base, "POST", "/api/v1/auth/login", {**login, "email": DOCTOR})["access_token"]
        alice = rest(self.base, "POST", "/api/v1/auth/login", {**login, "email": PATIENT})["user"]["id"]
        for minutes in range(1, 15):
            starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60 * minutes))
            try:
                rest(self.base, "POST", "/api/v1/appointments", {
                    "patient_id": alice, "duration_minutes": 5, "reason": "Benchmark", "starts_at": starts,
                }, doctor)
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 409:  # another visit in that slot: try a minute later
                    raise
        raise RuntimeError("no free slot for Alice's next visit")

    async def ring(self) -> None:
        """The doctor starts the visit with Alice through the UI; ringing once its peer connection exists."""
        doctor = self.pair.caller
        await doctor.get_by_role("heading", name="Your visits").wait_for()
        await doctor.get_by_role("listitem", name=re.compile(r"^Visit with ")).first.wait_for()
        start = doctor.get_by_role("link", name=re.compile("Start visit|Join visit"))
        card = doctor.get_by_role("listitem", name=re.compile(f"^Visit with {PATIENT_NAME}"))
        if not await card.filter(has=start).count():
            await asyncio.to_thread(self.book_next_visit)
            await doctor.reload()
        peers = await doctor.evaluate("() => __bench.peers.length")
        await card.filter(has=start).first.locator(start).click()
        await doctor.get_by_role("button", name=re.compile("Start the call|Join the call")).click()
        await doctor.wait_for_function("n => __bench.peers.length > n", arg=peers)

    async def call(self) -> str:
        """Cold mode: the doctor starts the call and it rings; returns its room (the doctor's room.join)."""
        await self.ring()
        room: str = await self.pair.caller.evaluate("() => __bench.room")
        self.visit = re.search(r"/visits/([^/]+)/call", self.pair.caller.url)[1]  # type: ignore[index]
        return room

    def cold_url(self, room: str) -> str:
        """The call screen answering a known room: what the app opens for an accepted ring
        (IncomingCall.vue) and what a ringing notification's Answer opens (public/sw.js)."""
        return f"{self.base}/visits/{self.visit}/call?{urllib.parse.urlencode({'room': room})}"

    def cold_scripts(self) -> list[str]:
        return [call_cold.session_script(self.base, self.patient_session)]

    async def hang_up(self) -> None:
        await self.pair.caller.get_by_role("button", name="Hang up").click()
        for page in (self.pair.caller, self.pair.callee):
            if page is not None:
                await page.get_by_role("button", name="Back to visits").click()
                await page.wait_for_url("**/visits")


def rest(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    req = urllib.request.Request(base + path, method=method,  # localhost
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


class Hybrid(Baseline):
    """The bare pages on our server: what the server costs, without the web app.

    A second doctor and Bob (not Alice, so the app's pages never ring for these calls) sign in over
    REST; the pages authenticate on /api/v1/ws with those tokens. Each call is started with
    POST /appointments/{id}/call on a visit booked for now and ended with POST /rooms/{id}/end.
    """

    name = "hybrid"

    def __init__(self, browser: Any, page_url: str, server: tuple[str, int],
                 turn: TurnServer | None = None) -> None:
        ws_url = server[0].replace("http", "ws", 1) + "/api/v1/ws"
        super().__init__(browser, page_url, (ws_url, server[1]), "", turn)
        self.base = server[0]

    async def open(self, cold: bool = False) -> Pair:
        login = {"password": DEMO_PASSWORD}
        doctor = rest(self.base, "POST", "/api/v1/auth/login", {**login, "email": HYBRID_DOCTOR})
        self.doctor = doctor["access_token"]
        bob = rest(self.base, "POST", "/api/v1/auth/login", {**login, "email": HYBRID_PATIENT})
        starts = time.time() + 120
        appointment = rest(self.base, "POST", "/api/v1/appointments", {
            "patient_id": bob["user"]["id"], "duration_minutes": 60, "reason": "Benchmark",
            "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts)),
        }, self.doctor)
        self.appointment_id = appointment["id"]
        self.tokens = {"caller": self.doctor, "callee": bob["access_token"]}
        return await super().open(cold)

    async def new_room(self) -> str:
        """The call started over REST (the room our server made), before the caller's page joins it."""
        started = await asyncio.to_thread(
            rest, self.base, "POST", f"/api/v1/appointments/{self.appointment_id}/call", None, self.doctor)
        room: str = started["room"]["id"]
        self.room = room
        return room

    async def hang_up(self) -> None:
        await super().hang_up()
        await asyncio.to_thread(rest, self.base, "POST", f"/api/v1/rooms/{self.room}/end", None, self.doctor)


def cpu_ns(pids: list[int]) -> int:
    """CPU time of these processes' live threads, in ns (/proc/<pid>/task/<tid>/schedstat)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # the thread ended
    return total


async def chromium_processes(cdp: Any) -> dict[str, list[int]]:
    """Chromium's process ids by type (browser, renderer, GPU, utility)."""
    info = await cdp.send("SystemInfo.getProcessInfo")
    kinds: dict[str, list[int]] = {}
    for proc in info["processInfo"]:
        kind = proc["type"].split(".mojom.")[0].lower()  # "video_capture.mojom.VideoCaptureService"
        kinds.setdefault(kind, []).append(proc["id"])
    return kinds


def profile_self_ms(profile: dict[str, Any]) -> dict[str, float]:
    """A CDP CPU profile's self time per function (`name url:line`), in ms."""
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    self_us: dict[str, float] = {}
    for node, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        f = nodes[node]
        where = f"{f['url'].rsplit('/', 1)[-1]}:{f['lineNumber'] + 1}" if f["url"] else ""
        key = f"{f['functionName'] or '(anonymous)'} {where}".strip()
        self_us[key] = self_us.get(key, 0.0) + delta
    return {k: round(v / 1000, 2) for k, v in self_us.items()}


async def one_call(system: Baseline | Ours, settle: float, timeout_ms: float, cdp: Any,
                   relay: bool = False, profile: bool = False) -> dict[str, Any]:
    pair = system.pair
    for page in (pair.caller, pair.callee):
        await page.evaluate("() => __bench.reset()")
    await system.ring()
    accept = pair.callee.get_by_role("button", name="Accept call")
    await accept.wait_for()
    await asyncio.sleep(settle)  # the ring has settled, as it has when a person answers
    if profile:  # the callee page's JavaScript, sampled every 100 µs from the click to the frames
        profiler = await pair.callee.context.new_cdp_session(pair.callee)
        await profiler.send("Profiler.enable")
        await profiler.send("Profiler.setSamplingInterval", {"interval": 100})
        await profiler.send("Profiler.start")
    kinds = {**await chromium_processes(cdp), "server": [system.server_pid]}
    cpu0 = {kind: cpu_ns(pids) for kind, pids in kinds.items()}
    await accept.click()
    for page in (pair.caller, pair.callee):
        await page.wait_for_function("() => __bench.frame !== null", timeout=timeout_ms, polling=50)
    profiled = None
    if profile:
        profiled = profile_self_ms((await profiler.send("Profiler.stop"))["profile"])
        await profiler.detach()
    cpu = {kind: (cpu_ns(pids) - cpu0[kind]) / 1e6 for kind, pids in kinds.items()}
    cpu["chromium"] = sum(v for k, v in cpu.items() if k != "server")
    caller, callee = await pair.caller.evaluate(READ_PAGE), await pair.callee.evaluate(READ_PAGE)
    diag = {"caller": await pair.caller.evaluate(DIAG), "callee": await pair.callee.evaluate(DIAG)}
    if relay:  # a call that did not go through coturn would not measure what --relay claims
        for side, page in (("caller", pair.caller), ("callee", pair.callee)):
            selected = await page.evaluate(SELECTED_PAIR)
            if selected != ["relay", "relay"]:
                raise RuntimeError(f"{system.name} {side}: selected candidate pair {selected}, not relay")
    await system.hang_up()
    accept_wall = callee["accept"] + callee["offset"]
    return {
        "callee_ms": callee["frame"] - callee["accept"],
        "caller_ms": caller["frame"] + caller["offset"] - accept_wall,
        "frame_size": callee["frameSize"],
        "cpu_ms": cpu,
        "diag": diag,
        **({"profile_self_ms": profiled} if profiled is not None else {}),
        "timeline": {
            "callee": timeline(callee["events"], callee["offset"], accept_wall),
            "caller": timeline(caller["events"], caller["offset"], accept_wall),
        },
    }


async def cpu_snapshot(cdp: Any, server_pid: int) -> dict[int, tuple[str, int]]:
    """Each Chromium process's type and CPU time so far (ns), and the server's."""
    kinds = {**await chromium_processes(cdp), "server": [server_pid]}
    return {pid: (kind, cpu_ns([pid])) for kind, pids in kinds.items() for pid in pids}


def cpu_between(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU ms by process type between two snapshots; a process that started meanwhile (the fresh
    context's renderer) counts from zero."""
    cpu: dict[str, float] = {}
    for pid, (kind, ns) in after.items():
        cpu[kind] = cpu.get(kind, 0.0) + (ns - before.get(pid, (kind, 0))[1]) / 1e6
    cpu["chromium"] = sum(v for k, v in cpu.items() if k != "server")
    return cpu


async def one_cold_call(system: Baseline | Ours, settle: float, timeout_ms: float, cdp: Any,
                        relay: bool = False) -> dict[str, Any]:
    """The caller is in the call, waiting; the callee's page loads in a fresh context (empty HTTP
    cache, service workers blocked) already signed in, and joins on load. Measured from the
    callee's navigation start (performance.timeOrigin) to each side's first remote frame."""
    caller = system.pair.caller
    await caller.evaluate("() => { __bench.reset(); __bench.room = null; }")
    room = await system.call()
    await asyncio.sleep(settle)  # the caller has been waiting a while, as when a patient comes in
    context = await system.browser.new_context(service_workers="block")
    try:
        for script in (INSTRUMENT, call_cold.COLD_INSTRUMENT, *system.cold_scripts()):
            await context.add_init_script(script)
        callee = await context.new_page()
        devtools = await context.new_cdp_session(callee)
        await devtools.send("Performance.enable")  # the renderer's main-thread counters, for the breakdown
        cpu0 = await cpu_snapshot(cdp, system.server_pid)
        await callee.goto(system.cold_url(room), wait_until="commit")
        for page in (caller, callee):
            await page.wait_for_function("() => __bench.frame !== null", timeout=timeout_ms, polling=50)
        cpu = cpu_between(cpu0, await cpu_snapshot(cdp, system.server_pid))
        metrics = (await devtools.send("Performance.getMetrics"))["metrics"]
        page, far = await callee.evaluate(call_cold.READ_COLD), await caller.evaluate(READ_PAGE)
        page["metrics"] = {m["name"]: m["value"] for m in metrics}
        if relay:
            for side, p in (("caller", caller), ("callee", callee)):
                selected = await p.evaluate(SELECTED_PAIR)
                if selected != ["relay", "relay"]:
                    raise RuntimeError(f"{system.name} {side}: selected candidate pair {selected}, not relay")
        load = call_cold.breakdown(page)
        if load["cache_hits"]:
            raise RuntimeError(f"{system.name}: {load['cache_hits']} files came from the HTTP cache")
        await system.hang_up()
    finally:
        await context.close()
    origin_wall = page["origin"] + page["offset"]
    return {
        "callee_ms": page["frame"] - page["origin"],
        "caller_ms": far["frame"] + far["offset"] - origin_wall,
        "frame_size": page["frameSize"],
        "cpu_ms": cpu,
        "load": load,
        "files": call_cold.files(page),
        "timeline": {
            "callee": timeline(call_cold.events(page), page["offset"], origin_wall),
            "caller": timeline(far["events"], far["offset"], origin_wall),
        },
    }


def timeline(events: list[list[Any]], offset: float, accept_wall: float) -> dict[str, float]:
    """Each event's first occurrence after the accept click (cold: the callee's navigation start),
    in ms from it."""
    first: dict[str, float] = {}
    for name, t in events:
        at = t + offset - accept_wall
        if at >= -0.5 and name not in first:
            first[name] = round(at, 1)
    return first


# -- statistics -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def describe(values: list[float]) -> dict[str, Any]:
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1),
            "n": len(values), "min_ms": round(min(values), 1), "max_ms": round(max(values), 1)}


def median_timeline(calls: list[dict[str, Any]], side: str) -> dict[str, float]:
    """Per event, the median time after the accept over the calls that saw it, in time order."""
    names: dict[str, list[float]] = {}
    for c in calls:
        for name, at in c["timeline"][side].items():
            names.setdefault(name, []).append(at)
    medians = {name: round(statistics.median(v), 1) for name, v in names.items() if len(v) * 2 >= len(calls)}
    return dict(sorted(medians.items(), key=lambda kv: kv[1]))


def summarize(
    results: dict[str, list[dict[str, Any]]], args: argparse.Namespace, env: dict[str, Any]
) -> dict[str, Any]:
    target = RELAY_TARGET if args.relay else TARGET
    relayed = ", relay-only through one coturn (every call checked relay-to-relay)" if args.relay else ""
    out: dict[str, Any] = {
        "benchmark": "call set-up: callee's accept click -> first decoded remote video frame" + relayed,
        "relay": args.relay,
        "calls_per_system": args.calls, "warmup_calls_excluded": 1, "settle_s": args.settle,
        "environment": env,
    }
    if args.cold:  # only then, so the warm mode's summary keeps its keys
        out["benchmark"] = ("call set-up, cold: callee's navigation start (performance.timeOrigin) -> "
                            "first decoded remote video frame; the callee's page loads in a fresh "
                            "context (empty HTTP cache, no service worker), already signed in, and "
                            "joins the caller's waiting call on load" + relayed)
        out["cold"] = True
    for name, calls in results.items():
        out[name] = {
            "callee": describe([c["callee_ms"] for c in calls]),
            "caller": describe([c["caller_ms"] for c in calls]),
            "frame_size": calls[0]["frame_size"] if calls else None,
            # CPU used from the accept click until both first frames were seen (polled every 50 ms):
            # all Chromium processes, by type, and the server (our app's process, or the Node relay).
            "cpu_ms_median": {k: round(statistics.median(c["cpu_ms"].get(k, 0.0) for c in calls), 1)
                              for k in calls[0]["cpu_ms"]} if calls else {},
            "timeline_median_ms": {side: median_timeline(calls, side) for side in ("callee", "caller")},
            "samples_ms": {side: [round(c[f"{side}_ms"], 1) for c in calls] for side in ("callee", "caller")},
            # Each call's transport and video counters at its first frames (warm calls), for telling a
            # lost first key frame (a PLI and a second key frame) from a late one.
            "diag_per_call": [c["diag"] for c in calls if "diag" in c],
        }
        profiles = [c["profile_self_ms"] for c in calls if "profile_self_ms" in c]
        if profiles:  # --profile: the callee page's JavaScript self time per function, mean per call
            total: dict[str, float] = {}
            for p in profiles:
                for k, v in p.items():
                    total[k] = total.get(k, 0.0) + v / len(profiles)
            top = sorted(total.items(), key=lambda kv: -kv[1])[:40]
            out[name]["callee_profile_self_ms"] = {k: round(v, 2) for k, v in top}
        if args.cold and calls:
            # Where the callee's cold load went: files, bytes and main-thread long tasks, medians over
            # the calls (timeline_median_ms has the milestones), and the first measured call's files.
            out[name]["load_median"] = call_cold.median_breakdown(calls)
            out[name]["files_first_call"] = calls[0]["files"]
        if args.per_call:
            out[name]["timelines_ms"] = [c["timeline"] for c in calls]
    if results.get("baseline"):
        ratios = {name: ratio_over(out[name], out["baseline"]) for name in results if name != "baseline"}
        if "ours" in ratios:
            out["ratio_ours_over_baseline"] = ratios.pop("ours")
            out["target"] = f"ours <= {target}x baseline (median and p95, both sides)"
            out["within_target"] = all(r["median"] <= target and r["p95"] <= target
                                       for r in out["ratio_ours_over_baseline"].values())
        if ratios:
            out["other_ratios_over_baseline"] = ratios
    return out


def ratio_over(system: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {side: {"median": round(system[side]["median_ms"] / baseline[side]["median_ms"], 2),
                   "p95": round(system[side]["p95_ms"] / baseline[side]["p95_ms"], 2)}
            for side in ("callee", "caller")}


# -- main -------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace, tmp: Path, procs: Processes) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    wanted = args.system or ["baseline", "ours"]
    token = secrets.token_urlsafe(16)
    page_url, page_server = serve_baseline_page()
    turn = start_coturn(procs, tmp) if args.relay else None
    systems: list[Baseline | Ours] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if "baseline" in wanted:
                systems.append(Baseline(browser, page_url, start_relay(procs, tmp, token), token, turn))
            if "ours" in wanted or "hybrid" in wanted:
                if not (args.web_dist / "index.html").is_file():
                    raise SystemExit(f"The web app is not built in {args.web_dist}: run `make web` first.")
                origin = page_url.rsplit("/", 1)[0]
                server = start_ours(procs, tmp, args.web_dist, [origin], turn)
                if "ours" in wanted:
                    systems.append(Ours(browser, server))
                if "hybrid" in wanted:
                    systems.append(Hybrid(browser, page_url, server, turn))
            for i, (label, dist) in enumerate(args.variant):
                # Each variant gets its own server and database, so its calls never ring another's pages.
                (tmp / f"variant{i}").mkdir()
                server = start_ours(procs, tmp / f"variant{i}", dist, [], turn)
                systems.append(Ours(browser, server, f"ours[{label}]"))
            for system in systems:
                await system.open(args.cold)
            cdp = await browser.new_browser_cdp_session()
            results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
            for i in range(args.calls + 1):
                # ABBA: each system goes first in half of the rounds.
                for system in systems if i % 2 == 0 else systems[::-1]:
                    if args.cold:
                        r = await one_cold_call(system, args.settle, args.timeout * 1000, cdp, args.relay)
                    else:
                        r = await one_call(system, args.settle, args.timeout * 1000, cdp, args.relay,
                                           args.profile)
                    log(f"call {i:2d} {system.name:8s} callee {r['callee_ms']:7.1f} ms  "
                        f"caller {r['caller_ms']:7.1f} ms{'  (warm-up)' if i == 0 else ''}")
                    if i > 0:
                        results[system.name].append(r)
            version = browser.version
        finally:
            await browser.close()
            page_server.shutdown()
    env = {"chromium": version, "cpus": os.cpu_count(), "machine": platform.machine(),
           "python": platform.python_version(), "loadavg_at_start": args.load_at_start,
           "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]}
    if turn is not None:
        env["coturn"] = turn.url + " (deploy/coturn/turnserver.conf, adapted by tests/fixtures/coturn.py)"
    return summarize(results, args, env)


def variant(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not (Path(path) / "index.html").is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR with a built app in DIR, got {text!r}")
    return name, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=12, help="measured calls per system (after one warm-up)")
    parser.add_argument("--settle", type=float, default=0.5,
                        help="seconds between the ring showing and the accept click (cold: between "
                             "the caller's call waiting and the callee's navigation)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the first frames")
    parser.add_argument("--system", action="append", choices=["baseline", "ours", "hybrid"],
                        help="run this system (repeatable; default: baseline and ours). hybrid: the bare "
                             "pages on our server, to split the server's share from the web app's")
    parser.add_argument("--variant", action="append", default=[], type=variant, metavar="NAME=DIR",
                        help="also run a build of the web app from DIR (a prototype of a change, built "
                             "with `npx vite build --outDir DIR` from a copy of web/) as ours[NAME]")
    parser.add_argument("--web-dist", type=Path, default=ROOT / "src" / "televisit" / "web" / "dist",
                        help="the built web app to serve (default: what `make web` builds)")
    parser.add_argument("--relay", action="store_true",
                        help="relay-only calls through one real coturn (shipped configuration), for "
                             "every system: TELEVISIT_ICE_TRANSPORT_POLICY=relay for ours, "
                             "iceTransportPolicy 'relay' for the bare pages; target 1.3x")
    parser.add_argument("--cold", action="store_true",
                        help="cold mode: the caller waits in the call, the callee's page loads in a fresh "
                             "context (empty HTTP cache, no service worker) already signed in and joins on "
                             "load; measured from its navigation start (the web app's load included)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the callee page's JavaScript (CDP Profiler, 100 µs) from each click to "
                             "the frames; the summary gets each system's top functions by self time")
    parser.add_argument("--per-call", action="store_true", help="include every call's timeline")
    parser.add_argument("--json-out", type=Path, help="also write the summary here")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    args.load_at_start = [round(x, 2) for x in os.getloadavg()]  # 1, 5, 15 minutes: the shared machine
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="call-setup-"))
    try:
        summary = asyncio.run(run(args, tmp, procs))
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
