"""A run's past end to end: its history, execution log, checkpoints, and live event stream."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from contracts import subjects
from tests.e2e.stack import Stack
from tests.support.http_server import Answer, TestServer, serve

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)

TERMINAL = {"completed", "failed", "cancelled", "terminated"}


class InTurn(dict[str, Answer]):
    """Answers per path from a list in turn, the last one repeating: a flaky endpoint."""

    def __init__(self, turns: dict[str, list[Answer]]) -> None:
        super().__init__()
        self.turns = turns
        self.lock = threading.Lock()

    def get(self, path: str, default: Any = None) -> Any:
        with self.lock:
            answers = self.turns.get(path)
            if not answers:
                return default
            return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def flaky() -> Iterator[TestServer]:
    with serve(InTurn({"/flaky": [Answer(500, "try again"), Answer(200, {"ok": True})]})) as s:
        yield s


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def started(stack: Stack, workflow: str, body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Start a run; return its id and the header that makes reads include the start."""
    response = stack.http.post(f"/v1/workflows/{workflow}/runs", json=body)
    assert response.status_code == 201, response.text
    wait = {subjects.HTTP_MIN_POSITION_HEADER: response.headers[subjects.HTTP_POSITION_HEADER]}
    return response.json()["id"], wait


def get(stack: Stack, path: str, **kwargs: Any) -> Any:
    response = stack.http.get(path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def full_history(stack: Stack, run_id: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = get(stack, f"/v1/runs/{run_id}/history", params=params)
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            assert page["total"] == len(items)
            return items
        params["cursor"] = page["next_cursor"]


def sse_events(
    stack: Stack, run_id: str, headers: dict[str, str] | None = None, deadline: float = 30.0
) -> list[dict[str, str]]:
    """Read the run's stream until `event: end` (or fail after `deadline` seconds)."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    until = time.monotonic() + deadline
    url = f"{stack.url}/v1/runs/{run_id}/stream"
    with httpx.stream("GET", url, headers=headers, timeout=deadline) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < until, f"no end of the stream in {deadline}s: {events}"
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                continue
            if fields:
                events.append(fields)
                if fields.get("event") == "end":
                    return events
                fields = {}
    raise AssertionError(f"the stream closed without an end: {events}")


def test_the_history_of_a_completed_run_lists_its_events_in_order(stack: Stack) -> None:
    workflow = unique("history")
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                {"id": "first", "type": "set", "config": {"values": {"n": 1}}},
                {"id": "second", "type": "noop", "needs": ["first"]},
            ]
        },
    )
    run_id, _ = started(stack, workflow, {"input": {"x": 1}})
    stack.wait_for_status(run_id, TERMINAL)

    items = full_history(stack, run_id, limit=1000)
    positions = [item["position"] for item in items]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    types = [item["type"] for item in items]
    assert types[0] == "RunStarted" and types[-1] == "RunCompleted"
    assert types.count("BlockScheduled") == types.count("BlockCompleted") == 2
    assert items[0]["data"]["run_id"] == run_id and items[0]["data"]["input"] == {"x": 1}
    times = [item["occurred_at"] for item in items]
    assert times == sorted(times)
    # Small pages with a cursor walk the same events.
    assert full_history(stack, run_id, limit=2) == items


def test_the_log_shows_every_attempt_with_timings_worker_and_lines(
    stack: Stack, flaky: TestServer
) -> None:
    workflow = unique("logs")
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                {
                    "id": "say",
                    "type": "log",
                    "config": {"message": "hello ${input.name}", "level": "info"},
                },
                {
                    "id": "call",
                    "type": "http",
                    "needs": ["say"],
                    "config": {"url": f"{flaky.url}/flaky"},
                    "retry": {"max_attempts": 2, "initial_seconds": 0.2},
                },
            ]
        },
    )
    run_id, _ = started(stack, workflow, {"input": {"name": "ada"}})
    assert stack.wait_for_status(run_id, TERMINAL, timeout=60)["status"] == "completed"

    log = get(stack, f"/v1/runs/{run_id}/logs")
    attempts = [(item["block"], item["attempt"], item["status"]) for item in log["items"]]
    assert attempts == [("say", 1, "completed"), ("call", 1, "failed"), ("call", 2, "completed")]
    assert log["total"] == 3
    say, failed, retried = log["items"]
    assert say["logs"] == ["hello ada"] and say["type"] == "log"
    assert failed["error"]["type"] == "HTTP_500"
    assert retried["error"] is None
    for item in log["items"]:
        assert item["worker"].startswith("worker-"), item
        begin, start, end = (seconds(item[k]) for k in ("scheduled_at", "started_at", "ended_at"))
        assert begin <= start <= end, item
        assert abs(item["duration_ms"] - (end - start) * 1000) <= 1, item
    # The retry came after the failed attempt and its 0.2 s backoff.
    assert seconds(retried["scheduled_at"]) - seconds(failed["ended_at"]) >= 0.15
    assert len(flaky.requests_to("/flaky")) == 2

    checkpoints = get(stack, f"/v1/runs/{run_id}/checkpoints")["items"]
    assert [(c["block"], c["attempt"]) for c in checkpoints] == [("say", 1), ("call", 2)]
    assert checkpoints[0]["output"] == {"level": "info", "message": "hello ada"}
    assert checkpoints[1]["output"]["status"] == 200
    assert checkpoints[1]["output"]["body"] == {"ok": True}
    assert [c["completed_at"] for c in checkpoints] == [say["ended_at"], retried["ended_at"]]
    # A checkpoint's id is the position of its block's completion in the run's history.
    completions = {
        str(item["position"]): item["data"]
        for item in full_history(stack, run_id, limit=1000)
        if item["type"] == "BlockCompleted"
    }
    for checkpoint in checkpoints:
        assert completions[checkpoint["id"]]["block"] == checkpoint["block"]


def test_the_log_of_a_cancelled_run_ends_its_open_attempt(stack: Stack) -> None:
    workflow = unique("cancelled")
    stack.put_workflow(
        workflow, {"blocks": [{"id": "nap", "type": "sleep", "config": {"seconds": 60}}]}
    )
    run_id, wait = started(stack, workflow, {})
    waiting = get(stack, f"/v1/runs/{run_id}/logs", headers=wait)
    assert [(i["block"], i["status"]) for i in waiting["items"]] == [("nap", "waiting")]
    assert stack.http.post(f"/v1/runs/{run_id}/cancel").status_code == 200
    run = stack.wait_for_status(run_id, {"cancelled"})
    (nap,) = get(stack, f"/v1/runs/{run_id}/logs")["items"]
    assert (nap["status"], nap["ended_at"]) == ("cancelled", run["ended_at"])
    assert get(stack, f"/v1/runs/{run_id}/checkpoints") == {
        "items": [],
        "total": 0,
        "next_cursor": None,
    }


def test_the_stream_of_a_running_run_delivers_its_events_then_ends(stack: Stack) -> None:
    workflow = unique("stream")
    stack.put_workflow(
        workflow,
        {
            "blocks": [
                {"id": "nap", "type": "sleep", "config": {"seconds": 1}},
                {"id": "done", "type": "noop", "needs": ["nap"]},
            ]
        },
    )
    run_id, wait = started(stack, workflow, {})
    events = sse_events(stack, run_id, headers=wait)

    *changes, end = events
    assert end["event"] == "end"
    assert json.loads(end["data"])["status"] == "completed"
    received = [json.loads(change["data"]) for change in changes]
    assert [c.get("event") for c in changes] == [None] * len(changes)
    assert [c["id"] for c in changes] == [str(r["position"]) for r in received]
    # Exactly the run's history, in order, with nothing missed or repeated.
    assert received == full_history(stack, run_id, limit=1000)
    types = [r["type"] for r in received]
    assert types[0] == "RunStarted" and types[-1] == "RunCompleted"
    assert {"TimerStarted", "TimerFired"} <= set(types)

    # Last-Event-ID resumes after that event; a finished run's stream ends at once.
    middle = len(received) // 2
    resumed = sse_events(stack, run_id, headers={"Last-Event-ID": changes[middle]["id"]})
    assert [json.loads(c["data"]) for c in resumed[:-1]] == received[middle + 1 :]
    assert resumed[-1]["event"] == "end"


def test_an_unknown_run_or_another_tenants_run_is_not_found(stack: Stack) -> None:
    workflow = unique("hidden")
    stack.put_workflow(workflow, {"blocks": [{"id": "only", "type": "noop"}]})
    run_id, wait = started(stack, workflow, {})
    assert get(stack, f"/v1/runs/{run_id}/history", headers=wait)["total"] >= 1
    other = {subjects.HTTP_TENANT_HEADER: "someone-else"}
    for run, headers in (("no-such-run", {}), (run_id, other)):
        for what in ("history", "logs", "checkpoints", "stream"):
            response = stack.http.get(f"/v1/runs/{run}/{what}", headers=headers)
            assert response.status_code == 404, (run, what)
            assert response.json()["error"]["type"] == "RUN_NOT_FOUND"
    bad = stack.http.get(f"/v1/runs/{run_id}/history", params={"cursor": "nope"})
    assert bad.status_code == 400
