"""Item 5 — cost per block: event-store transactions, events, commands and NATS/JetStream
messages per run and per block, counted (not estimated).

Event store on PostgreSQL (a fresh schema), where transactions can be counted exactly: a
row's `xmin` is the id of the transaction that inserted it, so the number of distinct
`xmin` over the events a run wrote is the number of write transactions (commits) it cost.
Events are counted from the store's notification ids. JetStream messages are the deltas of
each stream's last sequence (FL_EVENTS; FL_TASKS and FL_TIMERS are work queues, so their
message counts fall as they are consumed, but their sequences only grow). Commands are
counted by a plain subscription of the bench's own on the command subjects (the command
service's queue group is unaffected), and all NATS traffic by the server's own counters
(/varz in_msgs and out_msgs: requests, replies, publishes, acks, pulls, lease renewals).

Workflows: `noop` (1 inline block), `set` (1 worker block), and the 3-block set ->
transform -> noop. Two regimes: serial (one run at a time, so no command shares a
transaction with another: the design's cost before group commit), and concurrent (64 runs
open, so group commit may share transactions across runs).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg

from bench import harness as h
from contracts import subjects

WORKFLOWS: dict[str, tuple[dict[str, Any], int]] = {
    "noop": ({"blocks": [{"id": "done", "type": "noop"}]}, 1),
    "set": ({"blocks": [{"id": "only", "type": "set", "config": {"values": {"a": 1}}}]}, 1),
    "set-transform-noop": (h.THREE_BLOCKS, 3),
}
STREAMS = (subjects.EVENTS_STREAM, subjects.TASKS_STREAM, subjects.TIMERS_STREAM)


class EventTable:
    def __init__(self, event_store_url: str) -> None:
        schema = parse_qs(urlparse(event_store_url).query)["schema"][0]
        self.conn = psycopg.connect(h.POSTGRES_URL, autocommit=True)
        found = self.conn.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = %s AND column_name = 'notification_id'",
            (schema,),
        ).fetchone()
        assert found, f"no events table in schema {schema}"
        self.table = f'"{schema}"."{found[0]}"'

    def head(self) -> int:
        row = self.conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {self.table}")
        return int(row.fetchone()[0])  # type: ignore[index]

    def since(self, position: int) -> tuple[int, int]:
        """(events, distinct write transactions) after `position`."""
        row = self.conn.execute(
            f"SELECT count(*), count(DISTINCT xmin::text) FROM {self.table}"
            " WHERE notification_id > %s",
            (position,),
        ).fetchone()
        assert row
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self.conn.close()


class Counters:
    def __init__(self, stack: h.Stack, nc: Any, table: EventTable) -> None:
        self.stack = stack
        self.js = nc.jetstream()
        self.nc = nc
        self.table = table
        self.commands = 0
        self.sub: Any = None

    async def start(self) -> Counters:
        async def count(_: Any) -> None:
            self.commands += 1

        self.sub = await self.nc.subscribe(subjects.command_wildcard(), cb=count)
        return self

    async def snapshot(self) -> dict[str, int]:
        varz = self.stack.varz()
        snap = {
            "position": self.table.head(),
            "commands": self.commands,
            "nats_in_msgs": int(varz["in_msgs"]),
            "nats_out_msgs": int(varz["out_msgs"]),
        }
        for stream in STREAMS:
            snap[stream] = await h.stream_last_seq(self.js, stream)
        return snap

    async def quiet(self) -> None:
        """Wait until the relay has published everything: FL_EVENTS stops growing."""
        last = -1
        while True:
            seq = await h.stream_last_seq(self.js, subjects.EVENTS_STREAM)
            if seq == last:
                return
            last = seq
            await asyncio.sleep(0.3)


async def measure(
    counters: Counters,
    watcher: h.CompletionWatcher,
    nc: Any,
    workflow: str,
    runs: int,
    window: int,
) -> dict[str, float]:
    await counters.quiet()
    before = await counters.snapshot()
    slots = asyncio.Semaphore(window)

    async def one() -> None:
        async with slots:
            run_id = h.new_run_id("c")
            reply = await h.start_run_bus(nc, workflow, run_id)
            if "error" in reply:
                raise RuntimeError(str(reply))
            await asyncio.wait_for(watcher.wait(run_id), timeout=60)

    await asyncio.gather(*(one() for _ in range(runs)))
    await counters.quiet()
    await asyncio.sleep(0.5)  # Acks and lease renewals of the last moment.
    after = await counters.snapshot()
    events, transactions = counters.table.since(before["position"])
    deltas = {k: after[k] - before[k] for k in after}
    return {
        "events": events,
        "transactions": transactions,
        "commands": deltas["commands"],
        "js_" + subjects.EVENTS_STREAM: deltas[subjects.EVENTS_STREAM],
        "js_" + subjects.TASKS_STREAM: deltas[subjects.TASKS_STREAM],
        "js_" + subjects.TIMERS_STREAM: deltas[subjects.TIMERS_STREAM],
        "nats_in_msgs": deltas["nats_in_msgs"],
        "nats_out_msgs": deltas["nats_out_msgs"],
    }


async def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    full, _ = h.full_mode(argv)
    serial_runs, concurrent_runs = (200, 5000) if full else (40, 640)
    results: list[dict[str, Any]] = []
    with h.running_stack("postgres", workers=1) as stack:
        nc = await h.connect(stack.nats_url)
        for name, (definition, _) in WORKFLOWS.items():
            await h.put_workflow(nc, name, definition)
        watcher = await h.CompletionWatcher().start(nc)
        table = EventTable(stack.event_store)
        counters = await Counters(stack, nc, table).start()
        plans = [(name, "serial", serial_runs, 1) for name in WORKFLOWS]
        plans.append(("set-transform-noop", "concurrent", concurrent_runs, 64))
        for name, regime, runs, window in plans:
            blocks = WORKFLOWS[name][1]
            h.log(f"[cost_per_block] {name}: {runs} runs, {regime}")
            t0 = time.monotonic()
            counts = await measure(counters, watcher, nc, name, runs, window)
            h.log(f"   {counts} in {time.monotonic() - t0:.1f} s")
            config = {
                "store": "postgres",
                "workflow": name,
                "blocks_per_run": blocks,
                "regime": regime,
                "runs_open": window,
                "runs": runs,
                "totals": counts,
                "workers": 1,
            }
            for key, total in counts.items():
                unit = key.removeprefix("js_") if key.startswith("js_") else key
                for per, divisor in (("run", runs), ("block", runs * blocks)):
                    results.append(
                        h.record(
                            f"cost.{name}.{regime}.{key}_per_{per}",
                            total / divisor,
                            f"{unit}/{per}",
                            None,
                            "lower",
                            **config,
                        )
                    )
        table.close()
        await watcher.stop()
        await nc.close()
    h.write_results("cost_per_block", results)
    return results


if __name__ == "__main__":
    asyncio.run(main())
