"""One saturated trial of `bench.ab`, run against the code of the folder it is started in.

`bench.ab` starts this file by its path with the working directory set to a git worktree
of one revision, so that revision's `bench.harness` and services are the ones imported
and started (the services are `python -m services.cli …` children, which inherit the
working directory). It keeps `window` runs of set → transform → noop open for `seconds`
after a warm-up (with `commands` command services side by side, when more than one) and
prints one JSON object: completed runs/s, the CPU each process spent per completed run
(ms), and the PostgreSQL server's when its processes are visible here.
Only harness functions that every revision since 03f5668 has are used (`cpu_seconds`
among them).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import sys
import time
from typing import Any

# The revision under test (the working directory), in place of this file's own folder.
sys.path[0] = os.getcwd()

from bench import harness as h  # noqa: E402 — only once the path above is set

WORKFLOW = "bench_ab"


def postgres_cpu_seconds() -> float | None:
    """CPU of every process the `postgres` user runs (a local server), or None."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return None
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue  # Gone meanwhile.
        if owner == uid:
            total += h.cpu_seconds(int(pid)) or 0.0
    return total


async def closed_loop(nc: Any, watcher: Any, seconds: float, window: int) -> int:
    """`window` lanes, each starting a run and waiting for it to complete, until the end."""
    stop = time.time() + seconds
    body = json.dumps({"workflow": WORKFLOW, "input": {"n": 1}}).encode()
    errors = 0

    async def lane() -> None:
        nonlocal errors
        while time.time() < stop:
            reply = json.loads((await nc.request(h.start_subject(), body, timeout=30)).data)
            if "error" in reply:
                errors += 1
                continue
            await asyncio.wait_for(watcher.wait(reply["result"]["id"]), timeout=60)

    await asyncio.gather(*(lane() for _ in range(window)))
    return errors


def snapshot(stack: Any, watcher: Any) -> tuple[dict[str, Any], float | None, int, float]:
    """CPU by process, the PostgreSQL server's CPU, runs completed, and when."""
    return stack.cpu(), postgres_cpu_seconds(), len(watcher.completed_at), time.time()


async def trial(
    kind: str, workers: int, seconds: float, warmup: float, window: int, commands: int = 1
) -> dict[str, Any]:
    with h.running_stack(kind, workers=workers) as stack:
        for replica in range(2, commands + 1):  # Side by side: one queue group, one store.
            stack.start_service("command", f"command-{replica}")
        nc = await h.connect(stack.nats_url)
        await h.put_workflow(nc, WORKFLOW, h.THREE_BLOCKS)
        watcher = await h.CompletionWatcher().start(nc)
        load = asyncio.create_task(closed_loop(nc, watcher, warmup + seconds + 2, window))
        await asyncio.sleep(warmup)
        cpu0, pg0, done0, t0 = snapshot(stack, watcher)
        await asyncio.sleep(seconds)
        cpu1, pg1, done1, t1 = snapshot(stack, watcher)
        errors = await load
        await nc.close()
    completed = done1 - done0
    per_run = {
        name: round(1000 * ((cpu1[name] or 0) - (cpu0.get(name) or 0)) / completed, 3)
        for name in cpu1
        if name in cpu0 and completed
    }
    if kind == "postgres" and pg0 is not None and pg1 is not None and completed:
        per_run["postgres_server"] = round(1000 * (pg1 - pg0) / completed, 3)
    return {
        "runs_per_s": round(completed / (t1 - t0), 1),
        "cpu_ms_per_run": per_run,
        "completed": completed,
        "start_errors": errors,
    }


def main() -> None:
    kind, workers, seconds, warmup, window = sys.argv[1:6]
    commands = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    result = asyncio.run(
        trial(kind, int(workers), float(seconds), float(warmup), int(window), commands)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
