"""Item 6 — a peer side by side: the same 3-step workflow on DBOS (PyPI `dbos`) and on
Flowledger, on the same PostgreSQL server and on SQLite, in one script run.

Flowledger: the 3-block workflow (set -> transform -> noop) with 1 worker, saturated with
64 runs open over the bus (bench/runs_completed.py's method); completed runs/s.
DBOS: three `@DBOS.step()`s (set, transform, noop) in one `@DBOS.workflow()`, called by N
threads in a loop in one process (a child process of this script, so each trial gets a
fresh DBOS); completed workflows/s. DBOS's system tables go to a fresh schema
(`dbos_system_schema`) on the same PostgreSQL database, dropped afterwards, or to a fresh
SQLite file.

Each side is measured at its best. DBOS runs at 1, 2, 4, 8 and 16 threads and its best
rate is the one compared: more threads are not faster for it (on SQLite one thread was
fastest, its writers queueing on the file lock, and 16 ran at three quarters of that; on
PostgreSQL four, at 1.7 times the rate of 16). Flowledger runs once before those
trials and once after, and its rate is the mean of the two, so that the host's drift over
the minute between them (±20 % here) weighs on both sides alike. The ratio is Flowledger /
DBOS; the goal is >= 10.

Run `python -m bench.dbos_peer --peer KIND URL SCHEMA SECONDS WARMUP THREADS` to run only
the DBOS side.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness as h
from bench import runs_completed as rc

THREAD_COUNTS = (1, 2, 4, 8, 16)
GOAL_RATIO = 10.0


def run_peer(
    kind: str, url: str, schema: str, seconds: float, warmup: float, threads: int
) -> dict[str, Any]:
    """The DBOS side, in this process (the child)."""
    try:
        from dbos import DBOS, DBOSConfig
    except ImportError as exc:  # `make install` syncs without the bench group.
        raise SystemExit("dbos is not installed: `make bench` syncs the bench group") from exc

    @DBOS.step()
    def set_step(n: int) -> dict[str, int]:
        return {"n": n}

    @DBOS.step()
    def transform_step(values: dict[str, int]) -> int:
        return values["n"]

    @DBOS.step()
    def noop_step() -> None:
        return None

    @DBOS.workflow()
    def three(n: int) -> int:
        value = transform_step(set_step(n))
        noop_step()
        return value

    config: DBOSConfig = {"name": "flbench", "system_database_url": url, "log_level": "WARNING"}
    if schema:
        config["dbos_system_schema"] = schema
    DBOS(config=config)
    DBOS.launch()
    latencies: list[float] = []
    done = 0
    lock = threading.Lock()
    t0 = time.monotonic()
    measure_from = t0 + warmup
    end = measure_from + seconds

    def loop(worker: int) -> None:
        nonlocal done
        i = 0
        while True:
            start = time.monotonic()
            if start >= end:
                return
            three(worker * 1_000_000 + i)
            i += 1
            finish = time.monotonic()
            if start >= measure_from and finish <= end:
                with lock:
                    done += 1
                    latencies.append((finish - start) * 1000)

    callers = [threading.Thread(target=loop, args=(w,)) for w in range(threads)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    DBOS.destroy()
    return {
        "rate": done / seconds,
        "completed": done,
        "p50": h.percentile(latencies, 50),
        "p99": h.percentile(latencies, 99),
    }


def dbos_side(kind: str, seconds: float, warmup: float, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fl-bench-dbos-") as tmp:
        if kind == "sqlite":
            args = [f"sqlite:///{Path(tmp) / 'dbos.sqlite'}", ""]
            return _child(kind, args, seconds, warmup, threads)
        with h.pg_schema("bench_dbos") as (schema, _):
            return _child(kind, [h.POSTGRES_URL, schema], seconds, warmup, threads)


def _child(
    kind: str, args: list[str], seconds: float, warmup: float, threads: int
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.dbos_peer", "--peer", kind, *args]
    command += [str(seconds), str(warmup), str(threads)]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + warmup + 120, cwd=h.ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"DBOS side failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def flowledger_side(kind: str, seconds: float, warmup: float) -> dict[str, Any]:
    with h.running_stack(kind, workers=1) as stack:
        nc = await h.connect(stack.nats_url)
        await h.put_workflow(nc, rc.WORKFLOW, h.THREE_BLOCKS)
        watcher = await h.CompletionWatcher().start(nc)
        phase = await rc.saturate(nc, watcher, seconds, warmup)
        ids = phase.completed_in_window(watcher)
        lat = rc.latencies_ms(phase, watcher, ids)
        await watcher.stop()
        await nc.close()
    return {
        "rate": phase.rate,
        "seconds": round(phase.measure_to - phase.measure_from, 2),
        "completed": len(ids),
        "p50": h.percentile(lat, 50),
        "p99": h.percentile(lat, 99),
    }


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    full, args = h.full_mode(argv)
    seconds, warmup = (15.0, 3.0) if full else (5.0, 2.0)
    kinds = (args.stores or "sqlite,postgres").split(",")
    results: list[dict[str, Any]] = []
    for kind in kinds:
        # Flowledger before and after DBOS's trials: the host's drift weighs on both.
        ours = [await _flowledger_trial(kind, seconds, warmup, "before")]
        peers = {t: _dbos_trial(kind, seconds, warmup, t) for t in THREAD_COUNTS}
        ours.append(await _flowledger_trial(kind, seconds, warmup, "after"))
        our_rate = statistics.mean(trial["rate"] for trial in ours)
        best = max(THREAD_COUNTS, key=lambda t: peers[t]["rate"])
        config: dict[str, Any] = {
            "store": kind,
            "seconds": seconds,
            "workflow": "set -> transform -> noop (3 steps)",
            "flowledger": {"trials": ours, "workers": 1, "runs_open": rc.WINDOW},
            "dbos": {
                **peers[best],
                "threads": best,
                "by_threads": {str(t): peers[t] for t in THREAD_COUNTS},
                "version": _dbos_version(),
            },
        }
        results.append(h.record(f"peer.{kind}.flowledger.rate", our_rate, "runs/s", **config))
        peer_rate = peers[best]["rate"]
        results.append(h.record(f"peer.{kind}.dbos.rate", peer_rate, "workflows/s", **config))
        ratio = our_rate / peer_rate if peer_rate else None
        results.append(h.record(f"peer.{kind}.ratio", ratio, "x", GOAL_RATIO, **config))
    h.write_results("dbos_peer", results)
    return results


async def _flowledger_trial(kind: str, seconds: float, warmup: float, turn: str) -> dict[str, Any]:
    h.log(f"[dbos_peer] {kind}: Flowledger, 1 worker, {rc.WINDOW} runs open ({turn})")
    trial = await flowledger_side(kind, seconds, warmup)
    h.log(f"   {trial}")
    return trial


def _dbos_trial(kind: str, seconds: float, warmup: float, threads: int) -> dict[str, Any]:
    h.log(f"[dbos_peer] {kind}: DBOS, {threads} threads")
    trial = dbos_side(kind, seconds, warmup, threads)
    h.log(f"   {trial}")
    return trial


def _dbos_version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        _, _, kind, url, schema, seconds, warmup, threads = sys.argv
        peer = run_peer(kind, url, schema, float(seconds), float(warmup), int(threads))
        print(json.dumps(peer))
    else:
        asyncio.run(main())
