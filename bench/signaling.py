"""Signaling relay benchmark: Televisit's /api/v1/ws against a bare Node.js `ws` relay.

Both servers run on this machine in the same run, pinned to the same core, and one load
generator (Python `websockets`, in worker processes pinned to the other cores) drives them
identically, one after the other:

- steady:     open loop, every socket of the call pairs sends `signal` frames at a fixed rate;
              server CPU time (/proc/<pid>/stat) per relayed message, and p50/p99 latency
              (send → receive on the other socket, the send time travels in the payload);
- saturation: closed loop, each side keeps a window of signals in flight and answers each one
              it receives; messages relayed per second and latency under that load;
- idle:       a few thousand authenticated idle connections; RSS growth per connection.

It prints one JSON summary with both sides and the ratios (ours / node) against the targets of
issue 3 (CPU per message <= 1.5x Node's, memory per connection <= 2x).

    .venv/bin/python bench/signaling.py                    # ~3 minutes
    .venv/bin/python bench/signaling.py --duration 60 --idle-connections 5000
    .venv/bin/python bench/signaling.py --variant shipped --variant ws=websockets,deflate=off
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fixtures
import wsload  # the worker module beside this file
from procs import free_port, stop, televisit_argv, televisit_env, wait_for_port  # beside this file too

from tests.fixtures.machine import machine_busy_seconds, process_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
NODE_PEER = ROOT / "bench" / "peers" / "ws-relay"
PASSWORD = "Quartz-Harbor-Lantern-7q!x"  # a throwaway database
TARGETS = {"cpu_us_per_msg": 1.5, "rss_bytes_per_conn": 2.0}


# -- processes ------------------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a front may run workers in child processes)."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
        i += 1
    return pids


def cpu_times(pid: int | list[int]) -> tuple[float, float]:
    """User and system CPU time of a process (or several), all threads and child processes included."""
    user = system = 0.0
    for one in (pid if isinstance(pid, list) else [pid]):
        for p in process_tree(one):
            u, s = process_cpu_seconds(p)
            user, system = user + u, system + s
    return user, system


def cpu_seconds(pid: int | list[int]) -> float:
    return sum(cpu_times(pid))


def settled_rss(server: Server) -> tuple[int, int | None]:
    """RSS once garbage is gone: V8 collects lazily (the relay runs gc() on SIGUSR2 and prints its
    heap figures); CPython frees by reference counting as it goes. Also V8's live heap, for Node."""
    if not server.name.startswith("node"):
        return rss_bytes(server.pids), None
    os.kill(server.pid, signal.SIGUSR2)
    time.sleep(1)
    heap = None
    for line in reversed(server.log.read_text().splitlines()):
        if line.startswith('{"memory"'):
            memory = json.loads(line)["memory"]
            heap = memory["heapUsed"] + memory["external"]
            break
    return rss_bytes(server.pid), heap


def rss_bytes(pid: int | list[int]) -> int:
    total = 0
    for one in (pid if isinstance(pid, list) else [pid]):
        for p in process_tree(one):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def redis_cpu_seconds(url: str | None) -> float | None:
    """Redis's own CPU time (INFO cpu): the broker's share of a cross-instance message."""
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    path: str
    cpus: list[int] | None
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    # The database (its directory) whose accounts and rooms this server knows: provisioned once.
    db: Path | None = None
    # More instances of the same server (--instances): the second side of every pair connects to
    # the next one, so every relayed message crosses the broker (Redis).
    more: list[Server] = field(default_factory=list)
    redis_url: str | None = None
    http: bool = True  # serves the REST API (provisioning needs one that does)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    @property
    def uris(self) -> list[str]:
        return [self.uri] + [s.uri for s in self.more]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        return [self.pid] + [s.pid for s in self.more]

    def start(self) -> None:
        cpus = self.cpus
        self.proc = subprocess.Popen(  # our own commands
            self.argv, env=self.env, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        wait_for_port(self.port, self.proc)
        for other in self.more:
            other.start()

    def stop(self) -> None:
        for other in self.more:
            other.stop()
        if self.proc is not None:
            stop(self.proc)


IDLE_MAX = 0  # the idle phase's size, set by main(): the servers' connection limit goes above it


def ours_env(tmp: Path) -> dict[str, str]:
    return televisit_env(
        tmp,
        # Lift the per-connection flood limit: the saturation phase is a deliberate flood.
        ws_rate_per_second="1000000",
        ws_rate_burst="1000000",
        # Thousands of sockets from one host and a few accounts: lift the per-address and
        # per-user socket caps (meant for real clients, not a load generator).
        ws_max_per_address="1000000",
        ws_max_per_user="1000000",
        # Cheap password hashing for the 100 throwaway accounts; logins are not measured.
        password_time_cost="1",
        password_memory_cost="8192",
        password_parallelism="1",
        # Above the idle phase's size (its default, 12,000, is a production instance's).
        limit_concurrency=str(max(12_000, IDLE_MAX + 1_000)),
    )


REDIS_URL = os.environ.get("TELEVISIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def ours_server(variant: str, tmp: Path, cpus: list[int] | None) -> Server:
    """A variant is `shipped` or comma-separated key=value items: `instances=N` (N servers over
    Redis, pairs split across them), `redis=on|URL` (the Redis broker), `tree=DIR` (`televisit
    serve` of another checkout, e.g. a `git worktree` of an older commit, on its own database),
    and anything else is an option of bench/serve_variant.py (ws=, loop=, deflate=, front=, ...)."""
    options = ({} if variant == "shipped"
               else dict(item.strip().partition("=")[::2] for item in variant.split(",")))
    instances = int(options.pop("instances", "1"))
    redis = options.pop("redis", "on" if instances > 1 else None)
    redis_url = REDIS_URL if redis == "on" else redis
    tree = options.pop("tree", None)
    env = ours_env(tmp)
    db = tmp
    if tree is not None:  # another checkout: its own code and its own (migrated) database
        if options:
            raise SystemExit(f"tree= runs that checkout's `televisit serve` and takes no options: {variant}")
        db = tmp / re.sub(r"[^A-Za-z0-9]+", "_", tree)
        db.mkdir(exist_ok=True)
        env = ours_env(db)
        env["PYTHONPATH"] = os.pathsep.join([str(Path(tree).resolve() / "src"), env.get("PYTHONPATH", "")])
    if redis_url:
        env["TELEVISIT_REDIS_URL"] = redis_url
    servers = []
    for i in range(instances):
        port = free_port()
        if not options:  # exactly what production runs
            argv = [*televisit_argv(), "serve", "--port", str(port)]
        else:
            argv = [sys.executable, str(ROOT / "bench" / "serve_variant.py"), "--port", str(port)]
            for key, value in options.items():
                argv += [f"--{key.strip()}", value.strip()]
        log_file = tmp / f"televisit-{re.sub(r'[^A-Za-z0-9]+', '_', variant)}-{i}.log"
        servers.append(Server(f"televisit[{variant}]" + (f"#{i + 1}" if i else ""), argv, env, port,
                              "/api/v1/ws", cpus, log_file, db=db, redis_url=redis_url,
                              http=options.get("front", "uvicorn") != "picows"))
    servers[0].more = servers[1:]
    return servers[0]


def node_server(tmp: Path, cpus: list[int] | None, token: str, deflate: bool) -> Server:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed: the Node.js peer cannot run")
    if not (NODE_PEER / "node_modules" / "ws").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_PEER, check=True)
    port = free_port()
    env = dict(os.environ)
    env.update({"RELAY_PORT": str(port), "RELAY_TOKEN": token, "RELAY_DEFLATE": "1" if deflate else "0",
                "TELEVISIT_WS_RATE_PER_SECOND": "1000000", "TELEVISIT_WS_RATE_BURST": "1000000"})
    return Server("node-ws" + ("[deflate]" if deflate else ""),
                  [node, "--expose-gc", str(NODE_PEER / "relay.js")],
                  env, port, "/", cpus, tmp / "node.log")


# -- provisioning (REST) ----------------------------------------------------------------------
def api(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)  # localhost
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None


@dataclass
class Calls:
    room_ids: list[str] = field(default_factory=list)
    doctor_tokens: list[str] = field(default_factory=list)
    patient_tokens: list[str] = field(default_factory=list)


def provision(server: Server, pairs: int, run_id: str) -> Calls:
    """An admin (CLI), then per pair a doctor, a patient, an appointment and a started call."""
    base = f"http://127.0.0.1:{server.port}"
    admin = f"bench-admin-{run_id}@example.com"
    subprocess.run(
        [*televisit_argv(), "users", "create", "--role", "admin", "--email", admin,
         "--password", PASSWORD, "--name", "Bench Admin"],
        env=server.env, cwd=ROOT, check=True, capture_output=True,
    )

    def login(email: str) -> dict[str, Any]:
        return api(base, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})

    admin_token = login(admin)["access_token"]
    calls = Calls()
    starts = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    for i in range(pairs):
        people = {}
        for role in ("doctor", "patient"):
            email = f"bench-{role}-{i}-{run_id}@example.com"
            api(base, "POST", "/api/v1/admin/users",
                {"email": email, "password": PASSWORD, "full_name": f"Bench {role} {i}", "role": role},
                admin_token)
            people[role] = login(email)
        doctor, patient = people["doctor"], people["patient"]
        appt = api(base, "POST", "/api/v1/appointments",
                   {"patient_id": patient["user"]["id"], "starts_at": starts, "duration_minutes": 30},
                   doctor["access_token"])
        call = api(base, "POST", f"/api/v1/appointments/{appt['id']}/call", {}, doctor["access_token"])
        calls.room_ids.append(call["room"]["id"])
        calls.doctor_tokens.append(doctor["access_token"])
        calls.patient_tokens.append(patient["access_token"])
    return calls


PROVISIONED: dict[Path, Calls] = {}


def provisioned(server: Server, args: argparse.Namespace) -> Calls:
    """The call pairs of the server's database, provisioned through it the first time."""
    assert server.db is not None
    if server.db not in PROVISIONED:
        if not server.http:
            raise RuntimeError(f"{server.name} serves no REST API: list a variant on the same database first")
        log(f"provisioning {args.pairs} call pairs on {server.name}")
        PROVISIONED[server.db] = provision(server, args.pairs, uuid.uuid4().hex[:8])
    return PROVISIONED[server.db]


# -- the load generator's workers -------------------------------------------------------------
class Workers:
    def __init__(self, count: int, compression: str | None, payload: str, cpus: list[int] | None,
                 files: int = 0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=wsload.run, args=(theirs, compression, payload, cpus, files),
                               daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def call(self, command: str, per_worker: list[dict[str, Any]]) -> list[Any]:
        for pipe, kwargs in zip(self.pipes, per_worker, strict=True):
            pipe.send((command, kwargs))
        return self.collect()

    def send(self, command: str, per_worker: list[dict[str, Any]]) -> None:
        for pipe, kwargs in zip(self.pipes, per_worker, strict=True):
            pipe.send((command, kwargs))

    def collect(self) -> list[Any]:
        results = []
        for pipe in self.pipes:
            status, result = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"load worker failed: {result}")
            results.append(result)
        return results

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send(("stop", {}))
        for proc in self.procs:
            proc.join(5)


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def percentiles(latencies_ns: list[int]) -> dict[str, float | None]:
    if not latencies_ns:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "samples": 0}
    s = sorted(latencies_ns)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] / 1e6, 3)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": round(s[-1] / 1e6, 3),
            "samples": len(s)}


# -- the measurements -------------------------------------------------------------------------
def timed_phase(server: Server, workers: Workers, command: str, kwargs: dict[str, Any],
                duration: float, warmup: float) -> dict[str, Any]:
    """Run a load phase; sample the server's and the clients' CPU exactly at the window's edges."""
    start = time.monotonic_ns() + int((warmup + 0.5) * 1e9)
    end = start + int(duration * 1e9)
    workers.send(command, [{**kwargs, "start": start, "end": end, "warmup_ns": int(warmup * 1e9)}]
                 * len(workers.pipes))
    time.sleep(max(0, (start - time.monotonic_ns()) / 1e9))
    (user0, sys0), client0, all0 = cpu_times(server.pids), workers.cpu(), machine_busy_seconds()
    redis0 = redis_cpu_seconds(server.redis_url)
    time.sleep(max(0, (end - time.monotonic_ns()) / 1e9))
    (user1, sys1), client1, all1 = cpu_times(server.pids), workers.cpu(), machine_busy_seconds()
    redis1 = redis_cpu_seconds(server.redis_url)
    cpu0, cpu1 = user0 + sys0, user1 + sys1
    results = workers.collect()
    received = sum(r["received"] for r in results)
    latencies = [x for r in results for x in r["latencies_ns"]]
    cpu = cpu1 - cpu0
    return {
        "relayed": received,
        "msgs_per_s": round(received / duration, 1),
        "server_cpu_s": round(cpu, 3),
        "server_core_util": round(cpu / duration, 3),
        "server_system_share": round((sys1 - sys0) / cpu, 3) if cpu else None,
        "cpu_us_per_msg": round(cpu / received * 1e6, 2) if received else None,
        "client_core_util": round((client1 - client0) / duration, 3),
        # Cores used by everything else on the machine meanwhile: > 0.1 means a noisy run.
        "others_core_util": round(max(0.0, (all1 - all0) - cpu - (client1 - client0)) / duration, 3),
        "latency": percentiles(latencies),
        "errors": sum(r["errors"] for r in results),
        # Redis is shared with the rest of the machine: its CPU in the window, per message.
        **({"redis_cpu_us_per_msg": round((redis1 - redis0) / received * 1e6, 2) if received else None}
           if redis0 is not None and redis1 is not None else {}),
    }


def measure_calls(server: Server, workers: Workers, pairs: list[wsload.Pair], args: argparse.Namespace,
                  profile: Path | None) -> dict[str, Any]:
    t0, c0 = time.monotonic(), cpu_seconds(server.pids)
    time.sleep(2)
    idle_util = (cpu_seconds(server.pids) - c0) / (time.monotonic() - t0)
    started = time.monotonic()
    workers.call("connect_pairs", [{"pairs": p} for p in split(pairs, len(workers.pipes))])
    connect_s = time.monotonic() - started
    time.sleep(1)
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [shutil.which("py-spy") or "py-spy", "record", "-p", str(server.pid), "-r", "100", "-f", "raw",
             "-d", str(int(args.duration + args.warmup + 1)), "-o", str(profile),
             *(["--native"] if args.profile_native else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    rate_per_conn = args.rate / (2 * len(pairs))
    steady = timed_phase(server, workers, "steady", {"rate_per_conn": rate_per_conn},
                         args.duration, args.warmup)
    steady["offered_msgs_per_s"] = args.rate
    steady["server_idle_core_util"] = round(idle_util, 4)
    if spy is not None:
        spy.wait()
    saturation = timed_phase(server, workers, "saturate", {"window": args.window},
                             args.saturation_duration, args.warmup)
    saturation["in_flight_per_side"] = args.window
    saturation["server_bound"] = saturation["server_core_util"] >= 0.9
    workers.call("close_pairs", [{}] * len(workers.pipes))
    return {"pairs": len(pairs), "instances": len(server.uris), "connect_and_join_s": round(connect_s, 2),
            "steady": steady,
            "saturation": saturation}


def measure_idle(server: Server, workers: Workers, tokens: list[str], count: int) -> dict[str, Any]:
    """RSS growth per idle authenticated connection (after a warm-up that is opened and closed)."""
    n = len(workers.pipes)
    warm = max(100, count // 20)
    workers.call("open_idle", [{"uri": server.uri, "tokens": tokens, "count": warm // n, "batch": 50}] * n)
    workers.call("close_idle", [{}] * n)
    time.sleep(1.5)
    before, heap_before = settled_rss(server)
    started = time.monotonic()
    opened = workers.call("open_idle", [{"uri": server.uri, "tokens": tokens, "count": c, "batch": 100}
                                        for c in (len(x) for x in split(list(range(count)), n))])
    open_s = time.monotonic() - started
    time.sleep(2)
    after, heap_after = settled_rss(server)
    cpu0 = cpu_seconds(server.pid)
    time.sleep(2)
    idle_util = (cpu_seconds(server.pid) - cpu0) / 2
    workers.call("close_idle", [{}] * n)
    good = sum(o["opened"] for o in opened)
    return {
        "connections": good,
        "failed": sum(o["failed"] for o in opened),
        "open_and_auth_s": round(open_s, 2),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "rss_bytes_per_conn": round((after - before) / good) if good else None,
        **({"v8_heap_bytes_per_conn": round((heap_after - heap_before) / good)}
           if good and heap_before is not None and heap_after is not None else {}),
        "server_core_util_idle": round(idle_util, 4),
    }


def dig(result: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


HEADLINES = {
    "cpu_us_per_msg": ("calls", "steady", "cpu_us_per_msg"),
    "cpu_us_per_msg_saturated": ("calls", "saturation", "cpu_us_per_msg"),
    "msgs_per_s_saturated": ("calls", "saturation", "msgs_per_s"),
    "p50_ms_steady": ("calls", "steady", "latency", "p50_ms"),
    "p99_ms_steady": ("calls", "steady", "latency", "p99_ms"),
    "p50_ms_saturated": ("calls", "saturation", "latency", "p50_ms"),
    "p99_ms_saturated": ("calls", "saturation", "latency", "p99_ms"),
    "rss_bytes_per_conn": ("idle", "rss_bytes_per_conn"),
}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    return {name: dig(result, *path) for name, path in HEADLINES.items()}


def ratios(ours: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    a, b = headline(ours), headline(node)
    out = {name: (round(a[name] / b[name], 2) if a[name] and b[name] else None) for name in HEADLINES}
    cpu, mem = out["cpu_us_per_msg"], out["rss_bytes_per_conn"]
    out["cpu_target_met"] = None if cpu is None else cpu <= TARGETS["cpu_us_per_msg"]
    out["memory_target_met"] = None if mem is None else mem <= TARGETS["rss_bytes_per_conn"]
    return out


def measure_server(server: Server, is_node: bool, workers: Workers, calls: Calls, node_token: str,
                   args: argparse.Namespace) -> dict[str, Any]:
    if server.proc is None:
        server.start()
    if not is_node:
        calls = provisioned(server, args)
    uris = server.uris
    pairs = [wsload.Pair(uris[i % len(uris)], room,
                         node_token if is_node else calls.doctor_tokens[i],
                         node_token if is_node else calls.patient_tokens[i],
                         uris[(i + 1) % len(uris)])
             for i, room in enumerate(calls.room_ids)]
    tokens = [node_token] if is_node else calls.doctor_tokens + calls.patient_tokens
    profile = None
    if args.profile and not is_node and shutil.which("py-spy"):
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = args.profile / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", server.name)[:120] + ".txt")
    result: dict[str, Any] = {"rss_at_start_mb": round(rss_bytes(server.pid) / 2**20, 1)}
    if not args.skip_calls:
        log(f"{server.name}: {len(pairs)} call pairs")
        result["calls"] = measure_calls(server, workers, pairs, args, profile)
    if not args.skip_idle and not server.more:  # memory per connection: one instance only
        log(f"{server.name}: {args.idle_connections} idle connections")
        result["idle"] = measure_idle(server, workers, tokens, args.idle_connections)
    if profile is not None:
        result["profile"] = str(profile)
    log(f"{server.name}: " + json.dumps(headline(result)))
    return result


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    ws_version = json.loads((NODE_PEER / "node_modules" / "ws" / "package.json").read_text())["version"]
    versions = {}
    for mod in ("uvicorn", "websockets", "uvloop", "httptools", "wsproto", "fastapi", "starlette",
                "pydantic"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            versions[mod] = None
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    return {"televisit_commit": git.stdout.strip() or None,
            "televisit_src_files_changed": len(dirty.stdout.splitlines()),
            "cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "node": node, "node_ws": ws_version, **versions}


# -- main -------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--pairs", type=int, default=50, help="concurrent call pairs (default 50)")
    p.add_argument("--rate", type=float, default=2000,
                   help="steady phase: signals sent per second over all sockets (default 2000)")
    p.add_argument("--duration", type=float, default=15, help="steady window, s (default 15)")
    p.add_argument("--saturation-duration", type=float, default=10, help="saturation window, s (default 10)")
    p.add_argument("--warmup", type=float, default=2, help="load before each window, s (default 2)")
    p.add_argument("--window", type=int, default=4, help="saturation: signals in flight per socket")
    p.add_argument("--idle-connections", type=int, default=2500, help="idle phase size (default 2500)")
    p.add_argument("--payload", choices=["ice", "sdp"], default="ice",
                   help="signal data: an ICE candidate (~300 B frame) or an SDP offer (~2.5 KB)")
    p.add_argument("--client-deflate", choices=["on", "off"], default="on",
                   help="clients offer permessage-deflate, as browsers do (default on)")
    p.add_argument("--node-deflate", action="store_true",
                   help="let the Node relay accept permessage-deflate too (ws's default is off)")
    p.add_argument("--variant", action="append",
                   help="our server: 'shipped' (`televisit serve`) or uvicorn options for "
                        "bench/serve_variant.py, e.g. 'ws=websockets,loop=asyncio,deflate=off' "
                        "(repeatable; default: shipped)")
    p.add_argument("--instances", type=int, default=1,
                   help="also measure N `televisit serve` instances over Redis (TELEVISIT_TEST_REDIS_URL, "
                        "default 127.0.0.1:6379), the two sides of each pair on different instances, "
                        "beside one instance in the same run (the variant 'instances=N')")
    p.add_argument("--workers", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and clients to separate cores")
    p.add_argument("--skip-node", action="store_true", help="measure only our server")
    p.add_argument("--skip-calls", action="store_true", help="skip the call-pair phases")
    p.add_argument("--skip-idle", action="store_true", help="skip the idle-connection phase")
    p.add_argument("--profile", type=Path, help="py-spy raw profile of our server's steady phase (dir)")
    p.add_argument("--profile-native", action="store_true", help="with --profile: native frames too")
    p.add_argument("--json-out", type=Path, help="also write the summary here")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    variants = args.variant or ["shipped"]
    if args.instances > 1:
        variants.append(f"instances={args.instances}")
    global IDLE_MAX
    IDLE_MAX = args.idle_connections
    # Every idle socket is a file here and one in the server: raise the limit where allowed
    # (CAP_SYS_RESOURCE raises the hard limit too); the servers and workers inherit it.
    files = wsload.raise_fd_limit(args.idle_connections + 2_048)
    if files < args.idle_connections + 512:
        log(f"the open files limit is {files}: fewer idle connections than asked will open")
    cores = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cores) >= 2
    server_cpus, client_cpus = ([cores[0]], cores[1:]) if pin else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="televisit-bench-"))
    node_token = uuid.uuid4().hex
    compression = "deflate" if args.client_deflate == "on" else None
    servers: list[Server] = []
    workers = None
    summary: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/signaling.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": None,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pinning": {"server_cpus": server_cpus, "client_cpus": client_cpus},
    }
    try:
        node = node_server(tmp, server_cpus, node_token, args.node_deflate)
        ours = [ours_server(v, tmp, server_cpus) for v in variants]
        # Both stacks up at once, as the issue asks; each is measured while the other idles.
        node.start()
        servers.append(node)
        ours[0].start()
        servers.append(ours[0])
        summary["machine"] = machine()
        calls = provisioned(ours[0], args)
        workers = Workers(args.workers, compression, args.payload, client_cpus, files)
        results: dict[str, Any] = {}
        targets = [] if args.skip_node else [node]
        targets += ours
        for server in targets:
            is_node = server is node
            try:
                results[server.name] = measure_server(server, is_node, workers, calls, node_token, args)
            except Exception as exc:  # a variant that cannot run is reported, not fatal
                log(f"{server.name}: failed: {exc}")
                results[server.name] = {"error": f"{type(exc).__name__}: {exc}"}
                for command in ("close_pairs", "close_idle"):
                    workers.call(command, [{}] * len(workers.pipes))
            if server.proc is not None and server not in servers:
                servers.append(server)
            if not is_node:
                server.stop()  # one of ours at a time; node stays up for the whole run
        summary["headline"] = {name: headline(r) for name, r in results.items()}
        summary["node"] = results.get(node.name)
        summary["ours"] = {s.name: results[s.name] for s in ours}
        summary["targets"] = {"cpu_us_per_msg_max_ratio": TARGETS["cpu_us_per_msg"],
                              "rss_bytes_per_conn_max_ratio": TARGETS["rss_bytes_per_conn"]}
        single = next((s for s in ours
                       if not s.more and s.redis_url is None and "error" not in results[s.name]), None)
        if single is not None:  # several instances over Redis against one, same run
            summary["ratios_instances_over_one"] = {
                s.name: {name: (round(x / y, 2) if (x := headline(results[s.name])[name])
                                and (y := headline(results[single.name])[name]) else None)
                         for name in ("cpu_us_per_msg", "cpu_us_per_msg_saturated", "msgs_per_s_saturated",
                                      "p50_ms_steady", "p99_ms_steady")} | {"against": single.name}
                for s in ours if s.more and "error" not in results[s.name]}
        if summary["node"]:
            summary["ratios_ours_over_node"] = {s.name: ratios(results[s.name], summary["node"])
                                                for s in ours if "error" not in results[s.name]}
    finally:
        if workers is not None:
            workers.stop()
        for server in servers:
            server.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
