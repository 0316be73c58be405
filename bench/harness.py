"""A small harness for the benchmarks: NATS from the wheel, the real service processes,
a fresh PostgreSQL schema per run, load loops, percentiles and the result records.

Everything listens on 127.0.0.1 and every process started here is stopped by its own
handle (never by name). Bench code does not import from tests/.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg

from contracts import subjects
from contracts.commands import PutWorkflow, StartRun
from services import devserver

ROOT = Path(__file__).resolve().parent.parent
# A snapshot run (see bench/README.md) writes into the work tree's results folder.
RESULTS = Path(os.environ.get("FL_BENCH_RESULTS", ROOT / "bench" / "results"))
POSTGRES_URL = os.environ.get("FL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TENANT = "default"

# The 3-block workflow of items 2, 3, 5 and 6: set -> transform -> noop.
THREE_BLOCKS: dict[str, Any] = {
    "blocks": [
        {"id": "prepare", "type": "set", "config": {"values": {"n": "${input.n}"}}},
        {
            "id": "double",
            "type": "transform",
            "needs": ["prepare"],
            "config": {"expression": "blocks.prepare.output.n"},
        },
        {"id": "done", "type": "noop", "needs": ["double"]},
    ]
}


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # SystemExit unwinds through the `with` blocks, so the stack and schemas are cleaned up.
    raise SystemExit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def full_mode(argv: list[str] | None = None) -> tuple[bool, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="the big numbers (slow)")
    parser.add_argument("--stores", default=None, help="comma-separated: sqlite,postgres")
    args, _ = parser.parse_known_args(argv)
    full = args.full or os.environ.get("FL_BENCH_FULL", "") not in ("", "0", "false")
    return full, args


# ----- results ------------------------------------------------------------------------


def _git_commit() -> str:
    if os.environ.get("FL_BENCH_COMMIT"):
        return os.environ["FL_BENCH_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            # The results of earlier scripts in the same run do not make the code dirty.
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _nats_version() -> str:
    with contextlib.suppress(Exception):
        out = subprocess.run(
            [devserver.nats_server_binary(), "--version"], capture_output=True, text=True
        )
        return out.stdout.strip().split()[-1]
    return "unknown"


MACHINE: dict[str, Any] = {
    "cpus": os.cpu_count(),
    "cpu": _cpu_model(),
    "mem_gib": _mem_gib(),
    "kernel": platform.release(),
    "python": platform.python_version(),
    "nats_server": _nats_version(),
    "commit": _git_commit(),
}


def record(
    metric: str,
    value: float | None,
    unit: str,
    goal: float | None = None,
    better: str = "higher",
    **config: Any,
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": None if value is None else round(float(value), 3),
        "unit": unit,
        "goal": goal,
        "better": better,
        # Other engineers' test suites share these 2 cores: the load says how busy it was.
        "config": {**config, "load_avg_1m": round(os.getloadavg()[0], 2)},
        "machine": MACHINE,
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def write_results(name: str, results: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    text = json.dumps(results, indent=2)
    path.write_text(text + "\n")
    print(text, flush=True)
    return path


def log(*parts: Any) -> None:
    """Progress goes to stderr; stdout carries only the JSON."""
    print(*parts, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def busy_fraction(seconds: float = 2.0) -> float:
    """How busy all cores were over `seconds` (from /proc/stat): 0 idle .. 1 saturated."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return idle, sum(values)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_until_quiet(threshold: float = 0.3, within: float = 180.0) -> float:
    """Other engineers' test suites share the 2 cores: wait (bounded) until they are quiet.

    Returns the busy fraction seen last (recorded with the results)."""
    deadline = time.monotonic() + within
    busy = busy_fraction()
    while busy > threshold and time.monotonic() < deadline:
        log(f"  machine {busy:.0%} busy with other work; waiting for it to calm down")
        busy = busy_fraction(5.0)
    return busy


# ----- PostgreSQL -----------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(prefix: str = "bench") -> Iterator[tuple[str, str]]:
    """A fresh schema; yields (schema name, store URL with ?schema=); dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, f"{POSTGRES_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def stores(kind: str, home: Path) -> Iterator[tuple[str, str]]:
    """(event store URL, read store URL) of one kind: both SQLite or both PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'events.db'}", f"sqlite:///{home / 'read.db'}"
        return
    with pg_schema("bench_evt") as (_, events), pg_schema("bench_read") as (_, reads):
        yield events, reads


# ----- processes ------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    """Resident set size from /proc (psutil is not a dependency)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Stack:
    """NATS (with its monitoring port) and the real command/projector/query/worker processes."""

    def __init__(
        self,
        home: Path,
        event_store: str,
        read_store: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.event_store = event_store
        self.read_store = read_store
        self.nats_port = devserver.free_port()
        self.monitor_port = devserver.free_port()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        self.env = {
            **os.environ,
            "FL_HOME": str(home),
            "FL_NATS_URL": self.nats_url,
            "FL_EVENT_STORE": event_store,
            "FL_READ_STORE": read_store,
            "FL_HTTP_PORT": "0",
            "FL_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.log = open(home / "stack.log", "a")  # noqa: SIM115 — closed in stop()
        self.processes: dict[str, devserver.Process] = {}
        self.url = ""
        self.workers = 0

    def start(self, workers: int = 1) -> Stack:
        self.processes["nats"] = devserver.start_nats(
            self.home / "nats", self.nats_port, self.log, monitor_port=self.monitor_port
        )
        for service in ("command", "projector", "query"):
            self.start_service(service)
        for _ in range(workers):
            self.start_worker()
        port = int((self.home / "run" / "query.ready").read_text())
        self.url = f"http://127.0.0.1:{port}"
        return self

    def start_service(self, service: str, name: str | None = None) -> devserver.Process:
        name = name or service
        ready = self.home / "run" / f"{name}.ready"
        env = {**self.env, "FL_WORKER_ID": name}
        process = devserver.start_service(service, env, ready, self.log)
        devserver.wait_ready({ready: process})
        self.processes[name] = process
        return process

    def start_worker(self) -> devserver.Process:
        self.workers += 1
        return self.start_service("worker", f"worker-{self.workers}")

    def stop_service(self, name: str) -> None:
        process = self.processes.pop(name)
        process.stop()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        self.log.close()

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items() if p.alive()}

    def rss(self) -> dict[str, float | None]:
        return {name: rss_mib(pid) for name, pid in self.pids().items()}

    def cpu(self) -> dict[str, float | None]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def varz(self) -> dict[str, Any]:
        """The server's own counters (in_msgs, out_msgs, …) from its monitoring port."""
        response = httpx.get(f"http://127.0.0.1:{self.monitor_port}/varz", timeout=5)
        result: dict[str, Any] = response.json()
        return result


@contextlib.contextmanager
def running_stack(
    kind: str, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="fl-bench-") as tmp:
        home = Path(tmp)
        with stores(kind, home) as (events, reads):
            stack = Stack(home, events, reads, extra_env)
            try:
                stack.start(workers)
                yield stack
            except BaseException:
                with contextlib.suppress(OSError):
                    log(f"--- tail of {home / 'stack.log'}")
                    log("\n".join((home / "stack.log").read_text().splitlines()[-40:]))
                raise
            finally:
                stack.stop()


# ----- the bus ----------------------------------------------------------------------------


def start_subject() -> str:
    return subjects.command_subject(TENANT, StartRun.AGGREGATE, StartRun.NAME)


async def connect(url: str) -> nats.NATS:
    return await nats.connect(
        url,
        name="flowledger-bench",
        pending_size=512 * 1024 * 1024,
        max_reconnect_attempts=3,
    )


async def put_workflow(nc: nats.NATS, name: str, definition: dict[str, Any]) -> None:
    subject = subjects.command_subject(TENANT, PutWorkflow.AGGREGATE, PutWorkflow.NAME)
    body = json.dumps({"name": name, "definition": definition}).encode()
    reply = json.loads((await nc.request(subject, body, timeout=10)).data)
    if "error" in reply:
        raise RuntimeError(f"putting workflow {name} failed: {reply}")


async def start_run_bus(
    nc: nats.NATS, workflow: str, run_id: str | None = None, n: int = 1
) -> dict[str, Any]:
    """Start a run by request/reply on the bus; the reply (Accepted or an error body)."""
    body: dict[str, Any] = {"workflow": workflow, "input": {"n": n}}
    if run_id:
        body["id"] = run_id
    msg = await nc.request(start_subject(), json.dumps(body).encode(), timeout=10)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


class CompletionWatcher:
    """Sees every RunCompleted event (or another run event) as the relay publishes it
    (a plain core subscription)."""

    def __init__(self, event_type: str = "RunCompleted") -> None:
        self.event_type = event_type
        self.completed_at: dict[str, float] = {}
        self.occurred_at: dict[str, float] = {}
        self.position: dict[str, int] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.sub: Any = None

    async def start(self, nc: nats.NATS) -> CompletionWatcher:
        self.sub = await nc.subscribe(
            subjects.event_subject(TENANT, "run", self.event_type),
            cb=self._on,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=-1,
        )
        return self

    async def _on(self, msg: Any) -> None:
        now = time.time()
        envelope = json.loads(msg.data)
        run_id = envelope["aggregate_id"]
        self.completed_at[run_id] = now
        self.occurred_at[run_id] = _epoch(envelope["occurred_at"])
        self.position[run_id] = int(envelope["position"])
        waiter = self.waiters.pop(run_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    def wait(self, run_id: str) -> Awaitable[float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        if run_id in self.completed_at:
            future.set_result(self.completed_at[run_id])
        else:
            self.waiters[run_id] = future
        return future

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def new_run_id(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


# ----- the read store's position, polled ------------------------------------------------


class PositionPoller:
    """Polls the read store's projection position every `interval` s in a thread.

    `reached_at(p)` is the first poll time at which the read models had applied p: the
    event -> read model lag of an event is that minus the event's own time.
    """

    def __init__(self, read_store_url: str, interval: float = 0.005) -> None:
        from projections.store import create_read_engine

        self.engine = create_read_engine(read_store_url)
        self.interval = interval
        self.times: list[float] = []
        self.positions: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _read(self) -> int:
        from projections.store import read_position

        with self.engine.connect() as conn:
            return read_position(conn)

    def _loop(self) -> None:
        last = -1
        while not self._stop.is_set():
            try:
                position = self._read()
            except Exception:
                position = last
            now = time.time()
            if position > last:
                self.times.append(now)
                self.positions.append(position)
                last = position
            time.sleep(self.interval)

    def start(self) -> PositionPoller:
        self._thread.start()
        return self

    def current(self) -> int:
        return self.positions[-1] if self.positions else 0

    def reached_at(self, position: int) -> float | None:
        index = bisect.bisect_left(self.positions, position)
        return self.times[index] if index < len(self.positions) else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()


# ----- load loops ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else value * 1000


Call = Callable[[], Awaitable[bool | str]]


async def closed_loop(call: Call, inflight: int, duration: float, warmup: float) -> LoadResult:
    """`inflight` callers, each calling again as soon as its call returns."""
    result = LoadResult()
    start = time.monotonic()
    measure_from = start + warmup
    end = measure_from + duration

    async def caller() -> None:
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                return
            try:
                outcome = await call()
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            t1 = time.monotonic()
            if t0 >= measure_from and t1 <= end:
                if outcome is True:
                    result.ok += 1
                    result.latencies.append(t1 - t0)
                else:
                    result.errors += 1
                    if len(result.error_samples) < 3:
                        result.error_samples.append(str(outcome)[:200])

    await asyncio.gather(*(caller() for _ in range(inflight)))
    result.elapsed = duration
    return result


async def open_loop(call: Call, rate: float, duration: float, warmup: float) -> LoadResult:
    """Calls at a fixed rate whatever the answers do; latency counts from the planned time
    (no coordinated omission)."""
    result = LoadResult()
    start = time.monotonic()
    measure_from = start + warmup
    total = int((warmup + duration) * rate)
    tasks: set[asyncio.Task[None]] = set()

    last_answer = measure_from

    async def one(planned: float) -> None:
        nonlocal last_answer
        try:
            outcome = await call()
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        t1 = time.monotonic()
        if planned >= measure_from:
            last_answer = max(last_answer, t1)
            if outcome is True:
                result.ok += 1
                result.latencies.append(t1 - planned)
            else:
                result.errors += 1
                if len(result.error_samples) < 3:
                    result.error_samples.append(str(outcome)[:200])

    for i in range(total):
        planned = start + i / rate
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(planned))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    # Answered per second: when the service falls behind, its answers take longer than the
    # offered window, and this is its real rate.
    result.elapsed = max(duration, last_answer - measure_from)
    return result


# ----- a lean HTTP/1.1 client (httpx's per-request CPU would dominate on 2 cores) ------------


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpPool:
    def __init__(self, url: str, size: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.free: asyncio.Queue[HttpConnection] = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(HttpConnection(host, int(port)))

    async def request(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = await self.free.get()
        try:
            return await conn.request(method, path, body)
        except Exception:
            conn.close()
            raise
        finally:
            self.free.put_nowait(conn)

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()


# ----- helpers shared by several benchmarks -------------------------------------------------


async def wait_for(
    probe: Callable[[], Awaitable[Any]], within: float, interval: float = 0.05
) -> bool:
    """Poll `probe` until it is truthy or `within` seconds passed (polling is the point)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe():
            return True
        await asyncio.sleep(interval)
    return False


async def stream_last_seq(js: Any, stream: str) -> int:
    info = await js.stream_info(stream)
    return int(info.state.last_seq)


def terminate(process: subprocess.Popen[Any]) -> None:
    """Stop a child we started, by its own handle."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
