"""Steering runs end to end: events, approvals, pause/resume, retry and restart."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.stack import Stack, wait_until

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_an_event_completes_the_waiting_block(stack: Stack) -> None:
    name = unique("events")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {
                    "id": "wait",
                    "type": "wait_for_event",
                    "config": {"event_type": "paid", "timeout_seconds": 600},
                },
                {
                    "id": "thanks",
                    "type": "set",
                    "needs": ["wait"],
                    "config": {"values": {"amount": "${blocks.wait.output.amount}"}},
                },
            ]
        },
    )
    run_id = stack.start_run(name)["id"]
    stack.wait_for_status(run_id, {"waiting"})
    sent = ok(stack.http.post(f"/v1/runs/{run_id}/events/paid", json={"amount": 12}))
    assert sent["delivered_to"] == "wait"
    run = stack.wait_for_status(run_id, {"completed"})
    assert run["output"] == {"thanks": {"amount": 12}}


def test_a_rejected_approval_fails_and_a_retry_asks_again(stack: Stack) -> None:
    name = unique("approval")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {"id": "prepare", "type": "set", "config": {"values": {"n": 1}}},
                {
                    "id": "ok",
                    "type": "approval",
                    "needs": ["prepare"],
                    "config": {"approvers": ["ana"], "message": "ship it?"},
                },
            ]
        },
    )
    run_id = stack.start_run(name)["id"]
    stack.wait_for_status(run_id, {"waiting"})
    wrong = stack.http.post(
        f"/v1/runs/{run_id}/events/approval", json={"approved": True, "by": "bob"}
    )
    assert wrong.status_code == 422
    ok(stack.http.post(f"/v1/runs/{run_id}/events/approval", json={"approved": False, "by": "ana"}))
    failed = stack.wait_for_status(run_id, {"failed"})
    assert failed["error"]["type"] == "APPROVAL_REJECTED"

    ok(stack.http.post(f"/v1/runs/{run_id}/retry"))
    stack.wait_for_status(run_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{run_id}/events/approval", json={"approved": True, "by": "ana"}))
    done = stack.wait_for_status(run_id, {"completed"})
    blocks = {b["id"]: b for b in done["blocks"]}
    assert blocks["prepare"]["attempts"] == 1, "the checkpoint was not run again"
    assert blocks["ok"]["attempts"] == 2


def test_pause_keeps_events_and_resume_and_restart_carry_on(stack: Stack) -> None:
    name = unique("pause")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {"id": "wait", "type": "wait_for_event", "config": {"event_type": "go"}},
                {"id": "after", "type": "set", "needs": ["wait"], "config": {"values": {}}},
            ]
        },
    )
    run_id = stack.start_run(name)["id"]
    stack.wait_for_status(run_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{run_id}/pause"))
    stack.wait_for_status(run_id, {"paused"})
    ok(stack.http.post(f"/v1/runs/{run_id}/events/go", json={}))
    again = stack.http.post(f"/v1/runs/{run_id}/pause")
    assert again.status_code == 409 and again.json()["error"]["type"] == "INVALID_RUN_STATE"
    ok(stack.http.post(f"/v1/runs/{run_id}/resume"))
    stack.wait_for_status(run_id, {"completed"})

    ok(stack.http.post(f"/v1/runs/{run_id}/restart"))
    stack.wait_for_status(run_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{run_id}/events/go", json={}))
    restarted = stack.wait_for_status(run_id, {"completed"})
    assert {b["id"]: b["attempts"] for b in restarted["blocks"]} == {"wait": 2, "after": 2}


def test_batches_and_block_selection_over_rest(stack: Stack) -> None:
    name = unique("batch")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {"id": "a", "type": "set", "config": {"values": {"x": 1}}},
                {"id": "b", "type": "set", "needs": ["a"], "config": {"values": {}}},
                {"id": "c", "type": "wait_for_event", "config": {"event_type": "never"}},
            ]
        },
    )
    unknown = stack.http.post(f"/v1/workflows/{name}/runs", json={"blocks": ["zz"]})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "BLOCKS_NOT_FOUND"
    only = stack.start_run(name, {"blocks": ["b"]})
    run = stack.wait_for_status(only["id"], {"completed"})
    assert {b["id"]: b["status"] for b in run["blocks"]} == {
        "a": "completed",
        "b": "completed",
        "c": "skipped",
    }

    bodies = [{"id": unique("r"), "input": {"i": i}} for i in range(3)]
    refused = stack.http.post(
        f"/v1/workflows/{name}/runs:batch", json={"runs": [*bodies, {"id": only["id"]}]}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["index"] == 3
    assert stack.get_run(bodies[0]["id"]) is None
    started = stack.http.post(f"/v1/workflows/{name}/runs:batch", json={"runs": bodies})
    assert started.status_code == 201, started.text
    assert [i["id"] for i in started.json()["items"]] == [b["id"] for b in bodies]

    for body in bodies:
        stack.wait_for_status(body["id"], {"waiting"})
    commands = [{"command": "run.cancel", "run_id": b["id"]} for b in bodies]
    bad = stack.http.post(
        "/v1/commands:batch",
        json={"commands": [*commands, {"command": "run.resume", "run_id": bodies[0]["id"]}]},
    )
    assert bad.status_code == 409 and bad.json()["error"]["details"]["index"] == 3
    assert stack.get_run(bodies[0]["id"])["status"] == "waiting"  # type: ignore[index]
    ok(stack.http.post("/v1/commands:batch", json={"commands": commands}))
    for body in bodies:
        stack.wait_for_status(body["id"], {"cancelled"})


def test_timeouts_end_a_stuck_run_and_a_stuck_block(stack: Stack) -> None:
    name = unique("timeout")
    stack.put_workflow(
        name,
        {
            "timeout_seconds": 3600,
            "timeout_policy": "fail",
            "blocks": [{"id": "wait", "type": "wait_for_event", "config": {"event_type": "x"}}],
        },
    )
    # The start's own timeout and policy win over the workflow's.
    run_id = stack.start_run(name, {"timeout_seconds": 1, "timeout_policy": "cancel"})["id"]
    run = stack.wait_for_status(run_id, {"cancelled", "failed"}, timeout=20)
    assert run["status"] == "cancelled"
    assert {b["id"]: b["status"] for b in run["blocks"]} == {"wait": "cancelled"}

    failing = stack.start_run(name, {"timeout_seconds": 1})["id"]
    failed = stack.wait_for_status(failing, {"failed"}, timeout=20)
    assert failed["error"]["type"] == "RUN_TIMEOUT"


def test_queue_and_workflow_statistics(stack: Stack) -> None:
    name = unique("stats")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {
                    "id": "b",
                    "type": "switch",
                    "config": {"value": "input.outcome", "cases": {"bad": ["boom"]}, "default": []},
                },
                {"id": "boom", "type": "fail", "needs": ["b"], "config": {"message": "no"}},
            ]
        },
    )
    ids = [
        stack.start_run(name, {"input": {"outcome": o}})["id"] for o in ("ok", "ok", "ok", "bad")
    ]
    for run_id in ids:
        stack.wait_for_status(run_id, {"completed", "failed"})
    stats = stack.http.get(f"/v1/workflows/{name}/stats").json()
    assert stats["counts"]["completed"] == 3 and stats["counts"]["failed"] == 1
    assert stats["success_rate"] == 0.75
    durations = stats["duration_seconds"]
    assert stats["sample"] == 3 and 0 <= durations["p50"] <= durations["p99"] <= durations["max"]
    queue = stack.http.get("/v1/stats/queue").json()
    assert queue["counts"]["completed"] >= 3 and set(queue["counts"]) >= {"queued", "waiting"}
    missing = stack.http.get("/v1/workflows/no-such-workflow/stats")
    assert missing.status_code == 404


def test_terminating_many_runs_is_a_background_job(stack: Stack) -> None:
    name = unique("bulk")
    stack.put_workflow(
        name,
        {"blocks": [{"id": "wait", "type": "wait_for_event", "config": {"event_type": "never"}}]},
    )
    bodies = [{"id": unique("r")} for _ in range(250)]  # More than one chunk of 200.
    started = stack.http.post(f"/v1/workflows/{name}/runs:batch", json={"runs": bodies})
    assert started.status_code == 201, started.text
    seen = {"X-Flowledger-Min-Position": started.headers["X-Flowledger-Position"]}

    def all_waiting() -> bool:
        page = stack.http.get(
            "/v1/runs", params={"workflow": name, "status": "waiting"}, headers=seen
        ).json()
        return page["total"] == 250

    wait_until(all_waiting, what="250 waiting runs")
    job = stack.http.post(
        "/v1/runs:terminate",
        json={"filter": {"workflow": name, "status": ["waiting"]}, "reason": "cleanup"},
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    assert job.json()["total"] == 250

    def finished() -> dict[str, object] | None:
        response = stack.http.get(f"/v1/jobs/{job_id}")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("status") == "completed" else None

    done = wait_until(finished, timeout=60, what="the job to complete")
    assert (done["done"], done["skipped"], done["not_found"], done["chunks"]) == (250, 0, 0, 2)
    terminated = stack.http.get(
        "/v1/runs", params={"workflow": name, "status": "terminated"}
    ).json()
    assert terminated["total"] == 250

    again = stack.http.post(
        "/v1/runs:terminate", json={"ids": [bodies[0]["id"], "no-such-run"]}
    ).json()
    second = wait_until(
        lambda: (
            (r := stack.http.get(f"/v1/jobs/{again['id']}")).status_code == 200
            and r.json()["status"] == "completed"
            and r.json()
        ),
        what="the second job",
    )
    assert (second["done"], second["skipped"], second["not_found"]) == (0, 1, 1)
    assert stack.http.post("/v1/runs:terminate", json={}).status_code == 422


def test_rollback_and_replay_from_a_checkpoint(stack: Stack) -> None:
    name = unique("checkpoints")
    stack.put_workflow(
        name,
        {
            "blocks": [
                {"id": "fetch", "type": "set", "config": {"values": {"n": "${input.n}"}}},
                {"id": "gate", "type": "approval", "needs": ["fetch"], "config": {}},
                {
                    "id": "use",
                    "type": "set",
                    "needs": ["gate"],
                    "config": {"values": {"n": "${blocks.fetch.output.n}"}},
                },
            ]
        },
    )
    run_id = stack.start_run(name, {"input": {"n": 5}})["id"]
    stack.wait_for_status(run_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{run_id}/events/approval", json={"approved": False}))
    stack.wait_for_status(run_id, {"failed"})
    checkpoints = stack.http.get(f"/v1/runs/{run_id}/checkpoints").json()["items"]
    assert [c["block"] for c in checkpoints] == ["fetch"]
    checkpoint = checkpoints[0]["id"]

    missing = stack.http.post(f"/v1/runs/{run_id}/replay", json={"checkpoint_id": "999999"})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "CHECKPOINT_NOT_FOUND"
    replay = ok(stack.http.post(f"/v1/runs/{run_id}/replay", json={"checkpoint_id": checkpoint}))
    new_id = str(replay["id"])
    stack.wait_for_status(new_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{new_id}/events/approval", json={"approved": True}))
    replayed = stack.wait_for_status(new_id, {"completed"})
    blocks = {b["id"]: b for b in replayed["blocks"]}
    assert blocks["use"]["output"] == {"n": 5}
    assert replayed["metadata"]["replay_of"] == run_id

    ok(stack.http.post(f"/v1/runs/{run_id}/rollback", json={"checkpoint_id": checkpoint}))
    stack.wait_for_status(run_id, {"paused"})
    ok(stack.http.post(f"/v1/runs/{run_id}/resume"))
    stack.wait_for_status(run_id, {"waiting"})
    ok(stack.http.post(f"/v1/runs/{run_id}/events/approval", json={"approved": True}))
    stack.wait_for_status(run_id, {"completed"})
