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

The same with events, on a fresh stack: N runs of `wait_for_event("go") -> noop` (settled
by the command side too), parked once each has recorded EventAwaited; RSS idle / parked;
then one `send_event` per run, 64 in flight, as fast as they go: the time from the first
send to the N-th RunCompleted, and RSS once completed.

Default N = 5,000; `--full` (or FL_BENCH_FULL=1) parks 100,000.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench import harness as h
from contracts import subjects
from contracts.commands import SendEvent

WORKFLOW = "parked"
EVENTS_WORKFLOW = "parked-events"
EVENT_TYPE = "go"
INFLIGHT = 64


def definition(seconds: float) -> dict[str, Any]:
    return {
        "blocks": [
            {"id": "nap", "type": "sleep", "config": {"seconds": seconds}},
            {"id": "done", "type": "noop", "needs": ["nap"]},
        ]
    }


def events_definition() -> dict[str, Any]:
    return {
        "blocks": [
            {"id": "wait", "type": "wait_for_event", "config": {"event_type": EVENT_TYPE}},
            {"id": "done", "type": "noop", "needs": ["wait"]},
        ]
    }


async def _requests(nc: Any, subject: str, bodies: list[bytes]) -> tuple[float, int]:
    """Send each body as a request, `INFLIGHT` at a time; (time of the last answer, errors)."""
    queue = iter(bodies)
    last = 0.0
    errors = 0

    async def caller() -> None:
        nonlocal last, errors
        for body in queue:
            try:
                reply = json.loads((await nc.request(subject, body, timeout=30)).data)
                if "error" in reply:
                    errors += 1
            except Exception:
                errors += 1
            last = time.time()

    await asyncio.gather(*(caller() for _ in range(INFLIGHT)))
    return last, errors


async def _park(nc: Any, count: int) -> tuple[float, int]:
    """Start `count` runs, `INFLIGHT` at a time; (time of the last acceptance, errors)."""
    body = json.dumps({"workflow": WORKFLOW, "input": {}}).encode()
    return await _requests(nc, h.start_subject(), [body] * count)


async def _drain(
    stack: h.Stack, watcher: h.CompletionWatcher, expected: int, full: bool
) -> tuple[bool, float, int, dict[str, float | None]]:
    """Until `expected` runs completed: (all did, when the last did, how many, RSS after)."""

    async def all_done() -> bool:
        return len(watcher.completed_at) >= expected

    finished = await h.wait_for(all_done, within=600 if full else 120, interval=0.05)
    done = max(watcher.completed_at.values(), default=time.time())
    await asyncio.sleep(1)  # What was freed shows in RSS.
    return finished, done, len(watcher.completed_at), _rss(stack)


def _rss(stack: h.Stack) -> dict[str, float | None]:
    return {k: (None if v is None else round(v, 1)) for k, v in stack.rss().items()}


async def sleeping(kind: str, count: int, full: bool) -> list[dict[str, Any]]:
    """N runs parked in a durable timer; all due at once when the command service returns."""
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

        finished, done, completed, rss_done = await _drain(stack, watcher, expected, full)
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
        "variant": "sleep",
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
    results += _rss_records(f"parked_runs.{kind}", rss_idle, rss_parked, expected, config)
    return results


def _rss_records(
    base: str,
    idle: dict[str, float | None],
    parked: dict[str, float | None],
    runs: int,
    config: dict[str, Any],
) -> list[dict[str, Any]]:
    results = []
    for name in sorted(set(idle) | set(parked)):
        before, after = idle.get(name), parked.get(name)
        results.append(h.record(f"{base}.rss_parked.{name}", after, "MiB", None, "lower", **config))
        if before is not None and after is not None:
            results.append(
                h.record(
                    f"{base}.rss_growth_per_1000_parked.{name}",
                    (after - before) / runs * 1000,
                    "MiB",
                    None,
                    "lower",
                    **config,
                )
            )
    return results


async def waiting_for_events(kind: str, count: int, full: bool) -> list[dict[str, Any]]:
    """N runs parked in wait_for_event; then an event for each, as fast as they go."""
    with h.running_stack(kind, workers=1) as stack:
        nc = await h.connect(stack.nats_url)
        await h.put_workflow(nc, EVENTS_WORKFLOW, events_definition())
        awaiting = await h.CompletionWatcher("EventAwaited").start(nc)
        watcher = await h.CompletionWatcher().start(nc)
        await asyncio.sleep(1)
        rss_idle = _rss(stack)

        h.log(f"[parked_runs] {kind}: parking {count} runs in wait_for_event")
        ids = [f"pe{i}" for i in range(count)]
        starts = [
            json.dumps({"workflow": EVENTS_WORKFLOW, "input": {}, "id": run_id}).encode()
            for run_id in ids
        ]
        t0 = time.time()
        last_start, start_errors = await _requests(nc, h.start_subject(), starts)
        start_seconds = last_start - t0
        expected = count - start_errors

        async def all_parked() -> bool:
            return len(awaiting.completed_at) >= expected

        parked = await h.wait_for(all_parked, within=120, interval=0.1)
        rss_parked = _rss(stack)
        completed_early = len(watcher.completed_at)
        h.log(f"   {len(awaiting.completed_at)} waiting after {time.time() - t0:.1f} s")

        sends = [
            json.dumps({"run_id": run_id, "event_type": EVENT_TYPE, "payload": {"i": i}}).encode()
            for i, run_id in enumerate(ids)
        ]
        send_subject = subjects.command_subject(h.TENANT, SendEvent.AGGREGATE, SendEvent.NAME)
        sent_at = time.time()
        last_send, send_errors = await _requests(nc, send_subject, sends)

        finished, done, completed, rss_done = await _drain(stack, watcher, expected, full)
        h.log(
            f"   {completed}/{expected} completed {done - sent_at:.1f} s after the first event"
            f" (events sent in {last_send - sent_at:.1f} s); RSS {rss_done}"
        )
        await awaiting.stop()
        await watcher.stop()
        await nc.close()

    config = {
        "store": kind,
        "variant": "events",
        "runs": count,
        "started": expected,
        "start_errors": start_errors,
        "send_errors": send_errors,
        "start_seconds": round(start_seconds, 1),
        "send_seconds": round(last_send - sent_at, 1),
        "all_parked": parked,
        "completed_before_events": completed_early,
        "completed": completed,
        "all_completed": finished,
        "workflow": "wait_for_event -> noop",
        "rss_mib_idle": rss_idle,
        "rss_mib_parked": rss_parked,
        "rss_mib_completed": rss_done,
    }
    base = f"parked_runs.{kind}.events"
    drain = done - sent_at
    results = [
        h.record(f"{base}.drain_seconds", drain, "s", None, "lower", **config),
        h.record(
            f"{base}.drain_rate",
            completed / drain if drain > 0 else None,
            "runs/s",
            None,
            "higher",
            **config,
        ),
        h.record(f"{base}.start_rate", expected / start_seconds, "runs/s", **config),
    ]
    results += _rss_records(base, rss_idle, rss_parked, expected, config)
    return results


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    full, args = h.full_mode(argv)
    count = 100_000 if full else 5_000
    kind = (args.stores or "sqlite").split(",")[0]
    results = await sleeping(kind, count, full)
    results += await waiting_for_events(kind, count, full)
    h.write_results("parked_runs", results)
    return results


if __name__ == "__main__":
    asyncio.run(main())
