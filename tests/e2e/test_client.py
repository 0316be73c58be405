"""The Python client and the `flowledger workflows|runs` commands against the real stack."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import subjects
from contracts.api import RunEventView, RunView
from services.client import FlowledgerAPIError, FlowledgerClient, StreamEnd
from tests.e2e.stack import Stack
from tests.support.builders import diamond

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
WAITER = {
    "blocks": [
        {"id": "gate", "type": "wait_for_event", "config": {"event_type": "go"}},
        {
            "id": "after",
            "type": "set",
            "needs": ["gate"],
            "config": {"values": {"got": "${blocks.gate.output}"}},
        },
    ]
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Recorder(httpx.HTTPTransport):
    """The real transport, remembering the headers of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


def test_the_client_starts_a_run_reads_its_own_write_and_waits_for_the_end(stack: Stack) -> None:
    name = unique("client")
    recorder = Recorder()
    with FlowledgerClient(stack.url, transport=recorder) as fl:
        saved = fl.put_workflow(name, diamond(sleep_seconds=0))
        assert (saved.created, saved.version) == (True, 1)
        assert fl.put_workflow(name, diamond(sleep_seconds=0)).changed is False
        assert fl.get_workflow(name).version == 1

        started = fl.start_run(name, {"n": 7}, metadata={"team": "red"}, idempotency_key=name)
        assert fl.position is not None and fl.position > 0
        # Read-your-writes: the run is found at once, because the read waits for its position.
        found = fl.get_run(started.id)
        assert recorder.sent[-1].headers[subjects.HTTP_MIN_POSITION_HEADER] == str(fl.position)
        assert isinstance(found, RunView) and found.metadata == {"team": "red"}
        again = fl.start_run(name, {"n": 7}, metadata={"team": "red"}, idempotency_key=name)
        assert again.id == started.id

        ended = fl.wait(started.id, timeout=30)
        assert ended.status == "completed"
        assert ended.output == {"join": {"n": 7}}
        assert {b.id for b in ended.blocks} == {"prepare", "nap", "double", "join"}
        assert len(fl.logs(started.id).items) == 4
        assert len(fl.checkpoints(started.id).items) == 4
        history = fl.history(started.id, limit=1000)
        assert history.items[0].type == "RunStarted" and history.items[-1].type == "RunCompleted"
        assert name in [w.name for w in fl.iter_workflows(name)]
        assert fl.versions(name).total == 1
        assert fl.validate({"blocks": [{"id": "a", "type": "noop"}]}).valid is True


def test_iter_runs_follows_the_cursor_across_pages(stack: Stack) -> None:
    name = unique("pages")
    with FlowledgerClient(stack.url) as fl:
        fl.put_workflow(name, {"blocks": [{"id": "only", "type": "noop"}]})
        started = fl.start_runs(name, [{"id": f"{name}-{i}", "input": {"i": i}} for i in range(7)])
        assert [r.id for r in started] == [f"{name}-{i}" for i in range(7)]
        first = fl.list_runs(name, limit=3)
        assert first.total == 7 and len(first.items) == 3 and first.next_cursor
        seen = [r.id for r in fl.iter_runs(name, page_size=3, sort="created_at")]
        assert seen == [r.id for r in started]
        for run in started:
            fl.wait(run.id, timeout=30)
        assert len(list(fl.iter_runs(name, "completed", page_size=2))) == 7
        assert list(fl.iter_runs(name, ["failed", "cancelled"])) == []


def test_watch_yields_each_event_as_it_happens_until_the_end(stack: Stack) -> None:
    name = unique("watch")
    with FlowledgerClient(stack.url) as fl:
        fl.put_workflow(name, WAITER)
        run = fl.start_run(name)
        seen: list[RunEventView | StreamEnd] = []
        for item in fl.watch(run.id):
            seen.append(item)
            # The run waits until it gets the event: the stream shows it live.
            if isinstance(item, RunEventView) and item.type == "EventAwaited":
                fl.send_event(run.id, "go", {"ok": True})
        assert seen[-1] == StreamEnd(status="completed", position=seen[-2].position)  # type: ignore[union-attr]
        events = [item for item in seen if isinstance(item, RunEventView)]
        assert events[0].type == "RunStarted" and events[-1].type == "RunCompleted"
        assert "EventReceived" in [e.type for e in events]
        positions = [e.position for e in events]
        assert positions == sorted(set(positions))
        # Resuming after a position replays only what came later.
        resumed = list(fl.watch(run.id, after=positions[-2]))
        assert [getattr(i, "type", None) for i in resumed] == ["RunCompleted", None]


def test_errors_raise_the_api_error_with_the_type_of_the_error_body(stack: Stack) -> None:
    name = unique("errors")
    with FlowledgerClient(stack.url) as fl:
        with pytest.raises(FlowledgerAPIError) as missing:
            fl.get_run("no-such-run")
        assert (missing.value.status, missing.value.type) == (404, "RUN_NOT_FOUND")
        with pytest.raises(FlowledgerAPIError) as no_workflow:
            fl.start_run("no-such-workflow")
        assert no_workflow.value.type == "WORKFLOW_NOT_FOUND"
        with pytest.raises(FlowledgerAPIError) as invalid:
            fl.put_workflow(name, {"blocks": [{"id": "a", "type": "teleport"}]})
        assert (invalid.value.status, invalid.value.type) == (422, "VALIDATION_ERROR")

        fl.put_workflow(name, {"blocks": [{"id": "only", "type": "noop"}]})
        run = fl.start_run(name)
        fl.wait(run.id, timeout=30)
        with pytest.raises(FlowledgerAPIError) as refused:
            fl.cancel(run.id)
        assert (refused.value.status, refused.value.type) == (409, "INVALID_RUN_STATE")
        assert refused.value.details["status"] == "completed"

        fl.put_workflow(f"{name}-w", WAITER)
        waiting = fl.start_run(f"{name}-w")
        with pytest.raises(TimeoutError):
            fl.wait(waiting.id, timeout=0.5)
        assert fl.wait(waiting.id, {"waiting"}, timeout=30).status == "waiting"
        assert fl.cancel(waiting.id)["status"] == "cancelled"

    with FlowledgerClient(stack.url, tenant=unique("other")) as other:
        with pytest.raises(FlowledgerAPIError) as hidden:
            other.get_workflow(name)
        assert hidden.value.type == "WORKFLOW_NOT_FOUND"


def flowledger(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in stack.env.items() if k not in ("FL_URL", "FL_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_line_client(stack: Stack, tmp_path: Path) -> None:
    name = unique("cli")
    definition = tmp_path / "flow.yaml"
    definition.write_text(
        "blocks:\n  - {id: greet, type: set, config: {values: {msg: 'hello ${input.name}'}}}\n"
    )
    put = flowledger(stack, "--url", stack.url, "workflows", "put", name, str(definition))
    assert put.returncode == 0, put.stderr
    assert f"workflow {name}: created version 1" in put.stdout
    again = flowledger(
        stack, "workflows", "put", name, str(definition), "--url", stack.url, "--json"
    )
    assert json.loads(again.stdout)["changed"] is False

    start = flowledger(
        stack, "runs", "start", name, "--input", '{"name": "ada"}', "--id", f"{name}-1", "--wait",
        "--json", "--url", stack.url,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    run: dict[str, Any] = json.loads(start.stdout)
    assert (run["id"], run["status"]) == (f"{name}-1", "completed")
    assert run["output"] == {"greet": {"msg": "hello ada"}}

    got = flowledger(stack, "--url", stack.url, "--json", "runs", "get", f"{name}-1")
    assert json.loads(got.stdout)["status"] == "completed"
    human = flowledger(stack, "--url", stack.url, "runs", "get", f"{name}-1")
    assert human.returncode == 0 and "completed" in human.stdout and "greet" in human.stdout
    listed = flowledger(stack, "--url", stack.url, "runs", "list", "--workflow", name, "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [f"{name}-1"]
    table = flowledger(stack, "--url", stack.url, "runs", "list", "--workflow", name)
    assert f"{name}-1" in table.stdout
    watched = flowledger(stack, "--url", stack.url, "runs", "watch", f"{name}-1")
    assert watched.returncode == 0 and "RunCompleted" in watched.stdout
    workflows = flowledger(stack, "--url", stack.url, "workflows", "list", "--json")
    assert name in [w["name"] for w in json.loads(workflows.stdout)]

    missing = flowledger(stack, "--url", stack.url, "runs", "get", "no-such-run")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error RUN_NOT_FOUND: ")
    refused = flowledger(stack, "--url", stack.url, "runs", "cancel", f"{name}-1")
    assert refused.returncode == 1 and "INVALID_RUN_STATE" in refused.stderr

    failing = tmp_path / "failing.json"
    failing.write_text(
        json.dumps({"blocks": [{"id": "boom", "type": "fail", "config": {"message": "no"}}]})
    )
    assert (
        flowledger(
            stack, "--url", stack.url, "workflows", "put", f"{name}-f", str(failing)
        ).returncode
        == 0
    )
    failed = flowledger(stack, "--url", stack.url, "runs", "start", f"{name}-f", "--wait")
    assert failed.returncode == 1 and "failed" in failed.stdout
