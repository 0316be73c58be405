"""Items 2 and 3 — runs completed per second, start-to-completed latency, and the lag from
an event to the read model, for the 3-block workflow (set -> transform -> noop).

For each store kind and 1 and 2 workers (each its own process, FL_WORKER_CONCURRENCY at
its default):

- saturated: the bench keeps `WINDOW` runs open (started, not yet completed) and starts a
  new run over the bus as each completes; completed runs/s over the measured window, and
  start-to-completed p50/p99 (from sending the start request to seeing the run's
  RunCompleted event on the bus; with WINDOW runs open this includes their queueing).
- fixed rate: runs started at 1,000/s (the goal's rate), or at half the saturated rate when
  the stack cannot take 1,000/s; the same latencies, now without a standing queue.

Lag (item 3), measured during both: a thread polls the read store's projection position
(projections.store.read_position, the number the projector writes in the same transaction
as the rows) every 5 ms. The lag of a RunCompleted event is the first poll time at which
the position had reached that event's position, minus the event's own time (`occurred_at`,
stamped by the command service when it decided the event, just before its commit). The
poll interval bounds the error at +5 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from bench import harness as h

WORKFLOW = "bench3"
WINDOW = 64
GOAL_RATE = 1000.0
GOAL_LAG_P99_MS = 100.0


@dataclass
class Phase:
    started: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    measure_from: float = 0.0
    measure_to: float = 0.0
    measured: int = 0  # Completions counted by `saturate` between the two.

    @property
    def rate(self) -> float:
        span = self.measure_to - self.measure_from
        return self.measured / span if 0 < span < float("inf") else 0.0

    def completed_in_window(self, watcher: h.CompletionWatcher) -> list[str]:
        return [
            run_id
            for run_id, t in self.started.items()
            if run_id in watcher.completed_at
            and self.measure_from < watcher.completed_at[run_id] <= self.measure_to
        ]


async def _start(nc: Any, phase: Phase) -> str | None:
    """Start a run as most clients do, without an id of their own: the command service
    gives it one (ids it gives sort in the order given, which the read store's indexes
    favour; see README item 10). Its start time is taken before the request goes out."""
    sent = time.time()
    try:
        reply = await h.start_run_bus(nc, WORKFLOW)
    except Exception as exc:
        reply = {"error": {"type": type(exc).__name__}}
    if "error" in reply:
        phase.errors += 1
        if len(phase.error_samples) < 3:
            phase.error_samples.append(str(reply["error"])[:200])
        return None
    run_id: str = reply["result"]["id"]
    phase.started[run_id] = sent
    return run_id


async def saturate(
    nc: Any, watcher: h.CompletionWatcher, duration: float, warmup: float, window: int = WINDOW
) -> Phase:
    """Keep `window` runs open: start a run as each one completes.

    Runs tend to move in waves of `window` (they queue behind each other at the command
    service), so the measurement starts and ends on wave boundaries: it opens at the first
    multiple of `window` completions reached after `warmup` s, and closes after K more
    completions, K a multiple of `window` chosen from the rate seen so far to last about
    `duration` s. Rate = K / (time of the last - time of the first)."""
    phase = Phase()
    t0 = time.time()
    phase.measure_from = phase.measure_to = float("inf")
    slots = asyncio.Semaphore(window)
    tasks: set[asyncio.Task[None]] = set()
    done = 0
    target = 0

    async def one() -> None:
        nonlocal done, target
        try:
            run_id = await _start(nc, phase)
            if run_id is not None:
                await asyncio.wait_for(watcher.wait(run_id), timeout=60)
                done += 1
                now = watcher.completed_at[run_id]
                if not target and done % window == 0 and now >= t0 + warmup:
                    phase.measure_from = now
                    per_second = done / (now - t0)
                    waves = min(50, max(1, round(per_second * duration / window)))
                    target = done + waves * window
                    phase.measured = waves * window
                elif target and done == target:
                    phase.measure_to = now
        except TimeoutError:
            pass
        finally:
            slots.release()

    while phase.measure_to == float("inf") and time.time() < t0 + 120:
        await slots.acquire()
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await _finish(tasks)
    return phase


async def fixed_rate(
    nc: Any, watcher: h.CompletionWatcher, rate: float, duration: float, warmup: float
) -> Phase:
    """Start runs at `rate` whatever happens; measure the ones started in the window."""
    phase = Phase()
    t0 = time.time()
    phase.measure_from = t0 + warmup
    phase.measure_to = phase.measure_from + duration
    tasks: set[asyncio.Task[None]] = set()
    total = int((warmup + duration) * rate)

    async def one() -> None:
        run_id = await _start(nc, phase)
        if run_id is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wait(run_id), timeout=60)

    for i in range(total):
        delay = t0 + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await _finish(tasks)
    # Measure by start time here: the runs started at the fixed rate inside the window.
    phase.started = {
        k: v for k, v in phase.started.items() if phase.measure_from <= v <= phase.measure_to
    }
    phase.measure_to = float("inf")
    phase.measure_from = 0.0
    return phase


async def _finish(tasks: set[asyncio.Task[None]]) -> None:
    if tasks:
        await asyncio.wait(list(tasks), timeout=90)


def latencies_ms(phase: Phase, watcher: h.CompletionWatcher, ids: list[str]) -> list[float]:
    return [(watcher.completed_at[i] - phase.started[i]) * 1000 for i in ids]


def lags_ms(watcher: h.CompletionWatcher, poller: h.PositionPoller, ids: list[str]) -> list[float]:
    out = []
    for run_id in ids:
        reached = poller.reached_at(watcher.position[run_id])
        if reached is not None:
            out.append((reached - watcher.occurred_at[run_id]) * 1000)
    return out


async def wait_read_models(poller: h.PositionPoller, watcher: h.CompletionWatcher) -> None:
    """Give the projector a bounded moment to apply the last completions."""
    target = max(watcher.position.values(), default=0)

    async def caught_up() -> bool:
        return poller.current() >= target

    await h.wait_for(caught_up, within=20.0)


async def bench_config(
    kind: str, workers: int, duration: float, warmup: float
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    base = {"store": kind, "workers": workers, "workflow": "set->transform->noop"}
    with h.running_stack(kind, workers=workers) as stack:
        nc = await h.connect(stack.nats_url)
        await h.put_workflow(nc, WORKFLOW, h.THREE_BLOCKS)
        watcher = await h.CompletionWatcher().start(nc)
        poller = h.PositionPoller(stack.read_store, interval=0.005).start()

        h.log(f"[runs_completed] {kind} {workers} worker(s): saturated, {WINDOW} runs open")
        cpu0, completed0 = stack.cpu(), len(watcher.completed_at)
        phase = await saturate(nc, watcher, duration, warmup)
        cpu1, completed1 = stack.cpu(), len(watcher.completed_at)
        await wait_read_models(poller, watcher)
        ids = phase.completed_in_window(watcher)
        rate = phase.rate
        lat = latencies_ms(phase, watcher, ids)
        lag = lags_ms(watcher, poller, ids)
        config = {
            **base,
            "mode": f"saturated, {WINDOW} runs open",
            "seconds": round(phase.measure_to - phase.measure_from, 2),
            "completed": len(ids),
            "start_errors": phase.errors,
            "error_samples": phase.error_samples,
            "cpu_seconds_by_process": {
                k: round((cpu1[k] or 0) - (cpu0.get(k) or 0), 2) for k in cpu1 if k in cpu0
            },
        }
        prefix = f"runs_completed.{kind}.workers_{workers}"
        results.append(h.record(f"{prefix}.rate", rate, "runs/s", GOAL_RATE, **config))
        # What a completed run costs each process (item 5: the design's overheads): CPU
        # over the whole saturated phase, warm-up included, per run completed in it.
        runs_in_phase = completed1 - completed0
        for name, seconds in config["cpu_seconds_by_process"].items():
            results.append(
                h.record(
                    f"cost.cpu_ms_per_run.{kind}.workers_{workers}.{name}",
                    1000 * seconds / runs_in_phase if runs_in_phase else None,
                    "ms",
                    None,
                    "lower",
                    **config,
                    runs_in_phase=runs_in_phase,
                )
            )
        for q in (50, 99):
            results.append(
                h.record(f"{prefix}.p{q}", h.percentile(lat, q), "ms", None, "lower", **config)
            )
        # The lag goal holds at 1,000 runs/s: below that rate it is not judged.
        lag_goal = GOAL_LAG_P99_MS if rate >= GOAL_RATE else None
        for q, goal in ((50, None), (99, lag_goal)):
            results.append(
                h.record(
                    f"lag.{kind}.workers_{workers}.saturated.p{q}",
                    h.percentile(lag, q),
                    "ms",
                    goal,
                    "lower",
                    **config,
                    lag_samples=len(lag),
                    at_rate=round(rate),
                )
            )
        h.log(
            f"   {rate:.0f} runs/s, p50 {h.percentile(lat, 50)} p99 {h.percentile(lat, 99)} ms;"
            f" lag p50 {h.percentile(lag, 50)} p99 {h.percentile(lag, 99)} ms"
        )

        target = GOAL_RATE if rate >= GOAL_RATE else max(1.0, round(rate / 2))
        h.log(f"[runs_completed] {kind} {workers} worker(s): fixed {target:.0f} runs/s")
        phase = await fixed_rate(nc, watcher, target, duration, warmup)
        await wait_read_models(poller, watcher)
        ids = [i for i in phase.started if i in watcher.completed_at]
        lat = latencies_ms(phase, watcher, ids)
        lag = lags_ms(watcher, poller, ids)
        config = {
            **base,
            "mode": "fixed rate",
            "offered_rate": target,
            "seconds": duration,
            "started": len(phase.started),
            "completed": len(ids),
            "start_errors": phase.errors,
        }
        tag = "fixed_rate"  # Its rate (config.offered_rate) follows the saturated one.
        for q in (50, 99):
            results.append(
                h.record(
                    f"{prefix}.{tag}.p{q}", h.percentile(lat, q), "ms", None, "lower", **config
                )
            )
        lag_goal = GOAL_LAG_P99_MS if target >= GOAL_RATE else None
        for q, goal in ((50, None), (99, lag_goal)):
            results.append(
                h.record(
                    f"lag.{kind}.workers_{workers}.{tag}.p{q}",
                    h.percentile(lag, q),
                    "ms",
                    goal,
                    "lower",
                    **config,
                    lag_samples=len(lag),
                )
            )
        h.log(
            f"   {len(ids)}/{len(phase.started)} completed, p50 {h.percentile(lat, 50)}"
            f" p99 {h.percentile(lat, 99)} ms; lag p50 {h.percentile(lag, 50)}"
            f" p99 {h.percentile(lag, 99)} ms"
        )
        poller.stop()
        await watcher.stop()
        await nc.close()
    return results


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    full, args = h.full_mode(argv)
    duration, warmup = (15.0, 3.0) if full else (3.0, 0.5)
    kinds = (args.stores or "sqlite,postgres").split(",")
    results: list[dict[str, Any]] = []
    for kind in kinds:
        for workers in (1, 2):
            results += await bench_config(kind, workers, duration, warmup)
    h.write_results("runs_completed", results)
    return results


if __name__ == "__main__":
    asyncio.run(main())
