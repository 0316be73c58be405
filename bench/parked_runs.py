"""Item 4 — parked runs: N runs waiting in a long `sleep` (a durable timer), the resident
memory of every process before and after, and how long the N take to complete once their
timers fire together.

The workflow is `sleep(S s) -> noop`: both blocks are settled by the command side, so no
worker is involved. Steps:

1. Start the stack (SQLite by default); RSS of every process ("idle").
2. Start N runs over the bus (64 in flight); wait until FL_TIMERS holds N message schedules
   (every run parked); RSS of every process ("parked").
3. Stop the command service (SIGTERM) while the timers are still pending, wait until the
   last timer is due (S after the last start) and then 2 s more: JetStream has fired every
   schedule into the fired-timers subject while nobody consumed it, so all N are due at
   once -- "their timers fire together".
4. Start the command service again; time from its start, and from its ready file, until
   the N-th RunCompleted is seen on the bus; RSS of every process ("completed").

S is chosen so that starting N runs finishes before the first timer is due (10 s +
N/200 s); the JSON records how many runs had completed before step 3 (should be 0).
Default N = 5,000; `--full` (or FL_BENCH_FULL=1) parks 100,000. `wait_for_event` has not
landed yet: when it does, the same with events.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench import harness as h
from contracts import subjects

WORKFLOW = "parked"
INFLIGHT = 64


def definition(seconds: float) -> dict[str, Any]:
    return {
        "blocks": [
            {"id": "nap", "type": "sleep", "config": {"seconds": seconds}},
            {"id": "done", "type": "noop", "needs": ["nap"]},
        ]
    }


async def _park(nc: Any, count: int) -> tuple[float, int]:
    """Start `count` runs, `INFLIGHT` at a time; (time of the last acceptance, errors)."""
    body = json.dumps({"workflow": WORKFLOW, "input": {}}).encode()
    subject = h.start_subject()
    queue = iter(range(count))
    last = 0.0
    errors = 0

    async def caller() -> None:
        nonlocal last, errors
        for _ in queue:
            try:
                reply = json.loads((await nc.request(subject, body, timeout=30)).data)
                if "error" in reply:
                    errors += 1
            except Exception:
                errors += 1
            last = time.time()

    await asyncio.gather(*(caller() for _ in range(INFLIGHT)))
    return last, errors


def _rss(stack: h.Stack) -> dict[str, float | None]:
    return {k: (None if v is None else round(v, 1)) for k, v in stack.rss().items()}


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    full, args = h.full_mode(argv)
    count = 100_000 if full else 5_000
    kind = (args.stores or "sqlite").split(",")[0]
    sleep_seconds = round(10 + count / 200)
    results: list[dict[str, Any]] = []
    with h.running_stack(kind, workers=1) as stack:
        nc = await h.connect(stack.nats_url)
        js = nc.jetstream()
        await h.put_workflow(nc, WORKFLOW, definition(sleep_seconds))
        watcher = await h.CompletionWatcher().start(nc)
        await asyncio.sleep(1)
        rss_idle = _rss(stack)

        h.log(f"[parked_runs] {kind}: parking {count} runs in a {sleep_seconds} s sleep")
        t0 = time.time()
        last_start, start_errors = await _park(nc, count)
        start_seconds = last_start - t0

        async def all_parked() -> bool:
            info = await js.stream_info(subjects.TIMERS_STREAM)
            return int(info.state.messages) >= count - start_errors

        parked = await h.wait_for(all_parked, within=max(30.0, sleep_seconds), interval=0.2)
        parked_seconds = time.time() - t0
        info = await js.stream_info(subjects.TIMERS_STREAM)
        schedules = int(info.state.messages)
        rss_parked = _rss(stack)
        completed_early = len(watcher.completed_at)
        h.log(
            f"   {count - start_errors} started in {start_seconds:.1f} s; {schedules} schedules"
            f" after {parked_seconds:.1f} s; RSS {rss_parked}"
        )

        stack.stop_service("command")
        due = last_start + sleep_seconds + 2
        h.log(f"   command service stopped; timers due in {due - time.time():.0f} s")
        await asyncio.sleep(max(0.0, due - time.time()))

        restart = time.time()
        stack.start_service("command")
        ready = time.time()
        expected = count - start_errors

        async def all_done() -> bool:
            return len(watcher.completed_at) >= expected

        finished = await h.wait_for(all_done, within=600 if full else 120, interval=0.05)
        done = max(watcher.completed_at.values(), default=time.time())
        completed = len(watcher.completed_at)
        await asyncio.sleep(1)
        rss_done = _rss(stack)
        h.log(
            f"   {completed}/{expected} completed {done - restart:.1f} s after the restart"
            f" ({done - ready:.1f} s after ready); RSS {rss_done}"
        )
        await watcher.stop()
        await nc.close()

    config = {
        "store": kind,
        "runs": count,
        "started": expected,
        "start_errors": start_errors,
        "sleep_seconds": sleep_seconds,
        "start_seconds": round(start_seconds, 1),
        "parked_after_seconds": round(parked_seconds, 1),
        "all_parked": parked,
        "schedules_in_FL_TIMERS": schedules,
        "completed_before_timers_fired": completed_early,
        "completed": completed,
        "all_completed": finished,
        "workflow": "sleep -> noop",
        "rss_mib_idle": rss_idle,
        "rss_mib_parked": rss_parked,
        "rss_mib_completed": rss_done,
    }
    drain = done - restart
    results.append(
        h.record(f"parked_runs.{kind}.drain_seconds", drain, "s", None, "lower", **config)
    )
    results.append(
        h.record(
            f"parked_runs.{kind}.drain_rate",
            completed / drain if drain > 0 else None,
            "runs/s",
            None,
            "higher",
            **config,
        )
    )
    results.append(
        h.record(f"parked_runs.{kind}.start_rate", expected / start_seconds, "runs/s", **config)
    )
    for name in sorted(set(rss_idle) | set(rss_parked) | set(rss_done)):
        before, after = rss_idle.get(name), rss_parked.get(name)
        results.append(
            h.record(f"parked_runs.{kind}.rss_parked.{name}", after, "MiB", None, "lower", **config)
        )
        if before is not None and after is not None:
            results.append(
                h.record(
                    f"parked_runs.{kind}.rss_growth_per_1000_parked.{name}",
                    (after - before) / expected * 1000,
                    "MiB",
                    None,
                    "lower",
                    **config,
                )
            )
    h.write_results("parked_runs", results)
    return results


if __name__ == "__main__":
    asyncio.run(main())
