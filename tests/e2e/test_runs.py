"""End to end through the real processes: REST and bus starts, cancel, fail, a killed worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import nats
import pytest

from contracts import subjects
from contracts.commands import ReportBlocks
from contracts.events import Envelope
from tests.e2e.stack import Stack, wait_until
from tests.support.builders import diamond


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _bus_starts(nats_url: str, workflow: str, count: int) -> list[str]:
    """Half asked with request/reply, half published fire-and-forget with their own ids."""
    nc = await nats.connect(nats_url)
    try:
        subject = subjects.command_subject("default", "run", "start")

        async def asked(i: int) -> str:
            body = json.dumps({"workflow": workflow, "input": {"n": i}}).encode()
            reply = json.loads((await nc.request(subject, body, timeout=20)).data)
            assert reply.get("ok"), reply
            return str(reply["result"]["id"])

        ids = list(await asyncio.gather(*(asked(i) for i in range(count // 2))))
        for i in range(count // 2, count):
            run_id = f"published-{uuid.uuid4().hex}"
            body = {"workflow": workflow, "id": run_id, "input": {"n": i}}
            await nc.publish(subject, json.dumps(body).encode())
            ids.append(run_id)
        await nc.flush()
        return ids
    finally:
        await nc.close()


async def _events_of(
    nats_url: str, run_ids: set[str], until: str | None = None, within: float = 30.0
) -> list[Envelope]:
    """The runs' events in the stream; with `until`, once every run's event of that type
    is stored. A plain subscriber sees a message when it is published, the stream may
    store it a moment later: a test that saw a run end must wait for the stream too."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + within
    try:
        found: list[Envelope] = []
        next_seq = 1
        while True:
            info = await js.stream_info(subjects.EVENTS_STREAM)
            for seq in range(max(next_seq, info.state.first_seq), info.state.last_seq + 1):
                envelope = Envelope.model_validate_json(
                    (await js.get_msg(subjects.EVENTS_STREAM, seq)).data
                )
                if envelope.aggregate_id in run_ids:
                    found.append(envelope)
            next_seq = info.state.last_seq + 1
            reached = {e.aggregate_id for e in found if e.type == until}
            if until is None or reached >= run_ids:
                return found
            assert asyncio.get_running_loop().time() < deadline, f"{until} not stored for all"
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def _runs_and_their_reports(
    nats_url: str, workflow: str, count: int
) -> tuple[set[str], list[int]]:
    """Starts `count` runs at once and waits for them all to complete: their ids, and the
    number of results each `run.report_blocks` the worker sent meanwhile carried."""
    nc = await nats.connect(nats_url)
    try:
        sizes: list[int] = []
        completed: set[str] = set()
        all_done = asyncio.Event()

        async def on_report(msg: Any) -> None:
            sizes.append(len(json.loads(msg.data)["reports"]))

        async def on_completed(msg: Any) -> None:
            completed.add(json.loads(msg.data)["aggregate_id"])
            if completed >= ids:
                all_done.set()

        # Plain subscriptions: they see every request and event besides the services.
        await nc.subscribe(
            subjects.command_subject("default", "run", ReportBlocks.NAME), cb=on_report
        )
        await nc.subscribe(
            subjects.event_subject("default", "run", "RunCompleted"), cb=on_completed
        )
        ids = {unique("r") for _ in range(count)}
        start = subjects.command_subject("default", "run", "start")

        async def started(run_id: str) -> None:
            body = json.dumps({"workflow": workflow, "id": run_id}).encode()
            assert json.loads((await nc.request(start, body, timeout=20)).data).get("ok")

        await asyncio.gather(*(started(run_id) for run_id in ids))
        await asyncio.wait_for(all_done.wait(), timeout=60)
        return ids, sizes
    finally:
        await nc.close()


def test_results_due_together_are_reported_together_and_each_counts_once(stack: Stack) -> None:
    workflow = unique("two-sets")
    blocks = [
        {"id": "a", "type": "set", "config": {"values": {"x": 1}}},
        {"id": "b", "type": "set", "needs": ["a"], "config": {"values": {"y": 2}}},
    ]
    stack.put_workflow(workflow, {"blocks": blocks})
    run_ids, sizes = asyncio.run(_runs_and_their_reports(stack.nats_url, workflow, 200))
    assert sizes and max(sizes) > 1  # 200 runs at once: results came due together.

    events = asyncio.run(_events_of(stack.nats_url, run_ids, until="RunCompleted"))
    completed = [(e.aggregate_id, e.data["block"]) for e in events if e.type == "BlockCompleted"]
    assert sorted(completed) == sorted((run_id, b) for run_id in run_ids for b in ("a", "b"))
    for run_id in sorted(run_ids)[:3]:
        run = stack.wait_for_status(run_id, {"completed"})
        assert run["output"] == {"b": {"y": 2}}


def test_fifty_rest_and_fifty_bus_runs_all_complete(stack: Stack) -> None:
    workflow = unique("diamond")
    stack.put_workflow(workflow, diamond(sleep_seconds=1))
    rest_ids = [stack.start_run(workflow, {"input": {"n": i}})["id"] for i in range(50)]
    bus_ids = asyncio.run(_bus_starts(stack.nats_url, workflow, 50))
    assert len(set(rest_ids + bus_ids)) == 100

    def all_completed() -> dict[str, Any] | None:
        page = stack.http.get(
            "/v1/runs", params={"workflow": workflow, "status": "completed", "limit": 1000}
        ).json()
        return page if page["total"] == 100 else None

    page = wait_until(all_completed, timeout=90, what="100 completed runs")
    assert {item["id"] for item in page["items"]} == set(rest_ids + bus_ids)
    run = stack.get_run(rest_ids[7])
    assert run is not None
    assert run["output"] == {"join": {"n": 7}}
    assert {b["id"]: b["status"] for b in run["blocks"]} == dict.fromkeys(
        ("prepare", "nap", "double", "join"), "completed"
    )
    counts = stack.http.get(f"/v1/workflows/{workflow}").json()["run_counts"]
    assert counts["completed"] == 100 and counts["running"] == 0


def test_cancelling_a_sleeping_run_stops_it_before_later_blocks(stack: Stack) -> None:
    workflow = unique("sleepy")
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                {"id": "first", "type": "set", "config": {"values": {"x": 1}}},
                {"id": "nap", "type": "sleep", "needs": ["first"], "config": {"seconds": 2}},
                {"id": "after", "type": "set", "needs": ["nap"], "config": {"values": {}}},
            ]
        },
    )
    run_id = stack.start_run(workflow)["id"]
    stack.wait_for_status(run_id, {"waiting"})
    response = stack.http.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 200, response.text
    run = stack.wait_for_status(run_id, {"cancelled"})
    assert run["ended_at"]
    # The sleep's timer still fires (2 s); the run must ignore it and never start `after`.
    events = wait_until(
        lambda: [
            e for e in asyncio.run(_events_of(stack.nats_url, {run_id})) if e.type == "RunCancelled"
        ],
        what="the cancel event",
    )
    assert events
    again = stack.http.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "INVALID_RUN_STATE"
    assert again.json()["error"]["details"]["status"] == "cancelled"

    def timer_passed() -> bool:
        run = stack.get_run(run_id)
        return bool(run) and run["blocks"][1]["wake_at"] < _now_text()

    wait_until(timer_passed, timeout=10, what="the sleep's wake time to pass")
    final = stack.get_run(run_id)
    assert final is not None
    blocks = {b["id"]: b for b in final["blocks"]}
    assert blocks["after"]["status"] == "cancelled"
    assert blocks["after"]["scheduled_at"] is None
    scheduled = [
        e
        for e in asyncio.run(_events_of(stack.nats_url, {run_id}))
        if e.type == "BlockScheduled" and e.data["block"] == "after"
    ]
    assert scheduled == []


def _now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_run_reaching_fail_ends_failed_with_the_error(stack: Stack) -> None:
    workflow = unique("failing")
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                {"id": "prepare", "type": "set", "config": {"values": {}}},
                {
                    "id": "boom",
                    "type": "fail",
                    "needs": ["prepare"],
                    "config": {"message": "out of stock", "error_type": "NO_STOCK"},
                },
                {"id": "never", "type": "noop", "needs": ["boom"]},
            ]
        },
    )
    run_id = stack.start_run(workflow)["id"]
    run = stack.wait_for_status(run_id, {"failed", "completed"})
    assert run["status"] == "failed"
    assert run["error"] == {"type": "NO_STOCK", "message": "out of stock", "block": "boom"}
    blocks = {b["id"]: b["status"] for b in run["blocks"]}
    assert blocks == {"prepare": "completed", "boom": "failed", "never": "skipped"}


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_killed_worker_loses_nothing_and_repeats_no_completed_block(stack: Stack) -> None:
    workflow = unique("chain")
    blocks = [{"id": "b0", "type": "set", "config": {"values": {"i": 0}}}]
    for i in range(1, 6):
        blocks.append(
            {
                "id": f"b{i}",
                "type": "transform",
                "needs": [f"b{i - 1}"],
                "config": {"expression": f"blocks.b{i - 1}.output"},
            }
        )
    stack.put_workflow(workflow, {"blocks": blocks})
    victim = [p for n, p in stack.processes.items() if n.startswith("worker")][-1]
    run_ids = [stack.start_run(workflow)["id"] for _ in range(40)]
    victim.kill()  # kill -9, runs in flight
    stack.start_worker()
    for run_id in run_ids:
        stack.wait_for_status(run_id, {"completed"}, timeout=60)

    events = asyncio.run(_events_of(stack.nats_url, set(run_ids)))
    completed: dict[tuple[str, str], int] = {}
    for envelope in events:
        key = (envelope.aggregate_id, str(envelope.data.get("block")))
        if envelope.type == "BlockCompleted":
            completed[key] = completed.get(key, 0) + 1
        if envelope.type == "BlockStarted":
            assert key not in completed, f"{key} started again after it completed"
    assert len(completed) == 40 * 6
    assert set(completed.values()) == {1}
