"""The runs and workflows read models: pure apply functions fed contract envelopes."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from contracts.events import Envelope
from projections import runs, workflows
from services.command.domain.workflow import Workflow
from tests.unit.helpers import T0, at, definition, envelope, event_data, start_run

DEFINITION = {
    "blocks": [
        {"id": "fetch", "type": "set", "config": {"values": {"a": 1}}},
        {"id": "nap", "type": "sleep", "needs": ["fetch"], "config": {"seconds": 5}},
        {"id": "report", "type": "noop", "needs": ["nap"]},
    ]
}


def ts(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fold(apply: Any, envelopes: list[Envelope], row: dict[str, Any] | None = None) -> Any:
    for env in envelopes:
        row = apply(row, env)
    return row


class RunStream:
    """Numbers a run's envelopes as the relay would."""

    def __init__(self, run_id: str = "run-1") -> None:
        self.run_id = run_id
        self.position = 0

    def __call__(self, type_: str, seconds: float, **data: Any) -> Envelope:
        self.position += 1
        return envelope(
            type_, {**data, "at": at(seconds)}, position=self.position, aggregate_id=self.run_id
        )


def _started(ev: RunStream) -> Envelope:
    return ev(
        "RunStarted",
        0,
        tenant="acme",
        run_id="run-1",
        workflow="wf",
        version=2,
        definition=DEFINITION,
        input={"x": 1},
        metadata={"team": "data"},
        status="running",
    )


def test_run_started_creates_the_row_with_pending_blocks() -> None:
    row = runs.apply(None, _started(RunStream()))
    assert row == {
        "tenant": "acme",
        "id": "run-1",
        "workflow": "wf",
        "version": 2,
        "status": "running",
        "input": {"x": 1},
        "output": None,
        "error": None,
        "metadata": {"team": "data"},
        "blocks": {
            "fetch": {"id": "fetch", "type": "set", "status": "pending", "attempts": 0},
            "nap": {"id": "nap", "type": "sleep", "status": "pending", "attempts": 0},
            "report": {"id": "report", "type": "noop", "status": "pending", "attempts": 0},
        },
        "created_at": ts(0),
        "updated_at": ts(0),
        "ended_at": None,
        "position": 1,
    }


def test_a_run_row_through_to_completion() -> None:
    ev = RunStream()
    sched = {"execution": "task", "queue": "default", "config": {}}
    envelopes = [
        _started(ev),
        ev("BlockScheduled", 1, block="fetch", attempt=1, type="set", **sched),
        ev("BlockStarted", 2, block="fetch", attempt=1, worker="w-1"),
        ev("BlockCompleted", 3, block="fetch", attempt=1, output={"a": 1}, logs=["hi"]),
        ev(
            "BlockScheduled",
            3,
            block="nap",
            attempt=1,
            type="sleep",
            execution="timer",
            queue="default",
            config={"seconds": 5},
        ),
        ev(
            "TimerStarted", 3, block="nap", attempt=1, purpose="sleep", timer_id="t1", fire_at=at(8)
        ),
        ev("RunStatusChanged", 3, status="waiting", reason=None),
    ]
    row = fold(runs.apply, envelopes)
    assert row["status"] == "waiting"
    assert row["position"] == 7
    assert row["updated_at"] == ts(3)
    assert row["created_at"] == ts(0)
    assert row["blocks"]["fetch"] == {
        "id": "fetch",
        "type": "set",
        "status": "completed",
        "attempts": 1,
        "scheduled_at": ts(1),
        "started_at": ts(2),
        "worker": "w-1",
        "ended_at": ts(3),
        "output": {"a": 1},
    }
    assert row["blocks"]["nap"] == {
        "id": "nap",
        "type": "sleep",
        "status": "waiting",
        "attempts": 1,
        "scheduled_at": ts(3),
        "wake_at": ts(8),
    }
    assert row["blocks"]["report"]["status"] == "pending"

    rest = [
        ev("TimerFired", 8, block="nap", attempt=1, purpose="sleep"),
        ev("BlockCompleted", 8, block="nap", attempt=1, output=None, logs=[]),
        ev(
            "BlockScheduled",
            8,
            block="report",
            attempt=1,
            type="noop",
            execution="inline",
            queue="default",
            config={},
        ),
        ev("BlockCompleted", 8, block="report", attempt=1, output=None, logs=[]),
        ev("RunCompleted", 9, output={"report": None}),
    ]
    row = fold(runs.apply, rest, row)
    assert row["status"] == "completed"
    assert row["output"] == {"report": None}
    assert row["error"] is None
    assert row["ended_at"] == ts(9)
    assert row["position"] == 12
    assert {b: v["status"] for b, v in row["blocks"].items()} == {
        "fetch": "completed",
        "nap": "completed",
        "report": "completed",
    }
    assert row["blocks"]["nap"]["ended_at"] == ts(8)


def test_apply_does_not_mutate_the_previous_row() -> None:
    ev = RunStream()
    first = runs.apply(None, _started(ev))
    snapshot = {**first, "blocks": {k: dict(v) for k, v in first["blocks"].items()}}
    second = runs.apply(
        first,
        ev(
            "BlockScheduled",
            1,
            block="fetch",
            attempt=1,
            type="set",
            execution="task",
            queue="default",
            config={},
        ),
    )
    assert first == snapshot
    assert second["blocks"]["fetch"]["status"] == "running"


def _every_kind_of_run_event(ev: RunStream) -> list[Envelope]:
    sched = {"type": "set", "execution": "task", "queue": "default", "config": {}}
    fetch = {"block": "fetch", "attempt": 1}
    return [
        _started(ev),
        ev("BlockScheduled", 1, **fetch, **sched),
        ev("BlockStarted", 1, **fetch, worker="w1"),
        ev("BlockFailed", 2, **fetch, error_type="E", message="m", logs=[], will_retry=False),
        ev("RunFailed", 2, error={"type": "E", "message": "m"}),
        ev("RunRetried", 3, reason=None),
        ev("BlockScheduled", 3, block="fetch", attempt=2, **sched),
        ev("BlockCompleted", 4, block="fetch", attempt=2, output=1, logs=[]),
        ev("RunRolledBack", 5, block="fetch", attempt=2, reset=["fetch"]),
        ev("RunStatusChanged", 6, status="running", reason=None),
        ev("BlockScheduled", 6, block="nap", attempt=1, **sched),
        ev("EventAwaited", 6, block="nap", attempt=1, event_type="go"),
        ev(
            "EventReceived",
            7,
            event_type="go",
            payload={},
            block="nap",
            attempt=1,
            from_inbox=False,
        ),
        ev("TimerStarted", 7, block="nap", attempt=1, purpose="sleep", timer_id="t", fire_at=at(9)),
        ev("RunCancelled", 8, reason=None),
        ev("RunRestarted", 9, reason=None, run_attempt=2),
        ev("BlockScheduled", 9, block="fetch", attempt=3, **sched),
        ev("RunTerminated", 10, reason=None),
    ]


def test_no_event_changes_the_row_it_is_applied_to() -> None:
    """Rows are copied only where an event changes them: the row before stays as it was."""
    row = None
    for env in _every_kind_of_run_event(RunStream()):
        before = copy.deepcopy(row)
        after = runs.apply(row, env)
        assert row == before, env.type
        assert after is not None
        row = after
    assert row["status"] == "terminated"


def test_a_retry_then_failure() -> None:
    ev = RunStream()
    sched = {"type": "set", "execution": "task", "queue": "default", "config": {}}
    row = fold(
        runs.apply,
        [
            _started(ev),
            ev("BlockScheduled", 1, block="fetch", attempt=1, **sched),
            ev(
                "BlockFailed",
                2,
                block="fetch",
                attempt=1,
                error_type="TIMEOUT",
                message="slow",
                logs=[],
                will_retry=True,
            ),
            ev(
                "TimerStarted",
                2,
                block="fetch",
                attempt=1,
                purpose="retry",
                timer_id="t",
                fire_at=at(4),
            ),
        ],
    )
    fetch = row["blocks"]["fetch"]
    assert (fetch["status"], fetch["attempts"], fetch["wake_at"]) == ("waiting", 1, ts(4))
    assert fetch["error"] == {"type": "TIMEOUT", "message": "slow"}
    assert fetch["ended_at"] == ts(2)

    row = fold(
        runs.apply,
        [
            ev("TimerFired", 4, block="fetch", attempt=1, purpose="retry"),
            ev("BlockScheduled", 4, block="fetch", attempt=2, **sched),
        ],
        row,
    )
    fetch = row["blocks"]["fetch"]
    assert (fetch["status"], fetch["attempts"], fetch["scheduled_at"]) == ("running", 2, ts(4))
    assert "error" not in fetch
    assert "ended_at" not in fetch

    row = fold(
        runs.apply,
        [
            ev(
                "BlockFailed",
                5,
                block="fetch",
                attempt=2,
                error_type="BOOM",
                message="no",
                logs=[],
                will_retry=False,
            ),
            ev("BlockSkipped", 5, block="nap"),
            ev("BlockSkipped", 5, block="report"),
            ev("RunFailed", 5, error={"type": "BOOM", "message": "no", "block": "fetch"}),
        ],
        row,
    )
    assert row["status"] == "failed"
    assert row["error"] == {"type": "BOOM", "message": "no", "block": "fetch"}
    assert row["ended_at"] == ts(5)
    assert row["output"] is None
    assert {b: v["status"] for b, v in row["blocks"].items()} == {
        "fetch": "failed",
        "nap": "skipped",
        "report": "skipped",
    }
    assert row["blocks"]["nap"]["ended_at"] == ts(5)


def test_a_new_attempt_does_not_show_the_previous_attempts_start() -> None:
    ev = RunStream()
    sched = {"type": "set", "execution": "task", "queue": "default", "config": {}}
    row = fold(
        runs.apply,
        [
            _started(ev),
            ev("BlockScheduled", 1, block="fetch", attempt=1, **sched),
            ev("BlockStarted", 2, block="fetch", attempt=1, worker="w-old"),
            ev(
                "BlockFailed",
                3,
                block="fetch",
                attempt=1,
                error_type="E",
                message="m",
                logs=[],
                will_retry=True,
            ),
            ev("BlockScheduled", 4, block="fetch", attempt=2, **sched),
        ],
    )
    fetch = row["blocks"]["fetch"]
    assert fetch["attempts"] == 2
    assert fetch.get("started_at") is None  # attempt 2 has not started: it is ts(2) of attempt 1
    assert fetch.get("worker") is None


@pytest.mark.parametrize(
    ("type_", "status"), [("RunCancelled", "cancelled"), ("RunTerminated", "terminated")]
)
def test_ending_a_run_cancels_its_open_blocks_only(type_: str, status: str) -> None:
    ev = RunStream()
    row = fold(
        runs.apply,
        [
            _started(ev),
            ev(
                "BlockScheduled",
                1,
                block="fetch",
                attempt=1,
                type="set",
                execution="task",
                queue="default",
                config={},
            ),
            ev("BlockCompleted", 2, block="fetch", attempt=1, output=1, logs=[]),
            ev(
                "BlockScheduled",
                2,
                block="nap",
                attempt=1,
                type="sleep",
                execution="timer",
                queue="default",
                config={"seconds": 5},
            ),
            ev(
                "TimerStarted",
                2,
                block="nap",
                attempt=1,
                purpose="sleep",
                timer_id="t",
                fire_at=at(7),
            ),
            ev("RunStatusChanged", 3, status="paused", reason="look"),
        ],
    )
    assert row["status"] == "paused"
    row = runs.apply(row, ev(type_, 4, reason="stop"))
    assert row["status"] == status
    assert row["ended_at"] == ts(4)
    assert {b: (v["status"], v.get("ended_at")) for b, v in row["blocks"].items()} == {
        "fetch": ("completed", ts(2)),
        "nap": ("cancelled", ts(4)),
        "report": ("cancelled", ts(4)),
    }


def test_run_events_before_the_start_and_other_aggregates_are_ignored() -> None:
    ev = RunStream()
    scheduled = ev(
        "BlockScheduled",
        1,
        block="fetch",
        attempt=1,
        type="set",
        execution="task",
        queue="default",
        config={},
    )
    assert runs.apply(None, scheduled) is None
    row = runs.apply(None, _started(ev))
    deleted = envelope("WorkflowDeleted", {"at": at(1)}, position=9, aggregate_id="wf")
    assert runs.apply(row, deleted) is row
    assert runs.apply(None, deleted) is None


def test_the_runs_row_follows_a_real_run_aggregate() -> None:
    run = start_run(
        definition(
            {
                "id": "a",
                "type": "set",
                "config": {"values": {"v": "${input.v}"}},
                "retry": {"max_attempts": 2, "backoff": "fixed", "initial_seconds": 1},
            },
            {"id": "b", "type": "sleep", "needs": ["a"], "config": {"seconds": 10}},
            {"id": "c", "type": "fail", "needs": ["a"]},
            {"id": "d", "type": "noop", "needs": ["b", "c"], "trigger": "none_failed"},
        ),
        input={"v": 4},
    )
    run.claim_block("a", 1, "w", at(1))
    run.fail_block("a", 1, "E", "m", True, [], at(2))
    run.fire_timer("a", 1, "retry", at(3))
    run.complete_block("a", 2, {"v": 4}, [], at(4))
    run.fire_timer("b", 1, "sleep", at(14))
    row = None
    for position, domain_event in enumerate(run.collect_events(), start=1):
        data = event_data(domain_event)
        row = runs.apply(row, envelope(type(domain_event).__name__, data, position=position))
    assert row is not None
    assert row["status"] == run.status.value == "failed"
    assert (
        row["error"]
        == run.error
        == {
            "type": "FAILED",
            "message": "failed by a fail block",
            "block": "c",
        }
    )
    for bid, state in run.blocks.items():
        assert row["blocks"][bid]["status"] == state["status"], bid
        assert row["blocks"][bid]["attempts"] == state["attempt"], bid
    assert {b: v["status"] for b, v in row["blocks"].items()} == {
        "a": "completed",
        "b": "completed",
        "c": "failed",
        "d": "skipped",
    }
    assert row["blocks"]["a"]["attempts"] == 2
    assert row["created_at"] == ts(0)


# ----- workflows --------------------------------------------------------------------------


def _wf(type_: str, seconds: float, position: int, **data: Any) -> Envelope:
    return envelope(type_, {**data, "at": at(seconds)}, position=position, aggregate_id="wf")


def test_a_workflow_row_through_versions_and_deletion() -> None:
    v1 = {**DEFINITION, "description": "first"}
    v2 = {**DEFINITION, "description": "second"}
    created = _wf("WorkflowCreated", 0, 1, tenant="acme", name="wf", version=1, definition=v1)
    row = workflows.apply(None, created)
    assert row == {
        "tenant": "acme",
        "name": "wf",
        "version": 1,
        "description": "first",
        "definition": v1,
        "deleted": False,
        "created_at": ts(0),
        "updated_at": ts(0),
    }
    row = workflows.apply(
        row, _wf("WorkflowVersionSaved", 5, 2, version=2, definition=v2, cause="put", based_on=None)
    )
    assert (row["version"], row["description"], row["definition"]) == (2, "second", v2)
    assert (row["created_at"], row["updated_at"]) == (ts(0), ts(5))
    row = workflows.apply(row, _wf("WorkflowDeleted", 6, 3))
    assert row["deleted"] is True
    assert row["version"] == 2
    assert row["updated_at"] == ts(6)
    # Saving again brings a deleted workflow back.
    row = workflows.apply(
        row,
        _wf(
            "WorkflowVersionSaved",
            7,
            4,
            version=3,
            definition=DEFINITION,
            cause="put",
            based_on=None,
        ),
    )
    assert (row["deleted"], row["version"], row["description"]) == (False, 3, None)


def test_workflow_events_without_a_row_and_run_events_are_ignored() -> None:
    assert workflows.apply(None, _wf("WorkflowDeleted", 1, 1)) is None
    row = workflows.apply(
        None,
        _wf("WorkflowCreated", 0, 1, tenant="acme", name="wf", version=1, definition=DEFINITION),
    )
    assert workflows.apply(row, _started(RunStream())) is row


def test_the_workflows_row_follows_a_real_workflow_aggregate() -> None:
    first = definition({"id": "x", "type": "noop"}, description="one")
    wf = Workflow.register("acme", "wf", first, T0)
    assert wf.save_definition(first, at(1)) is False  # unchanged: no new version
    assert wf.save_definition(definition({"id": "y", "type": "noop"}), at(2)) is True
    wf.delete(at(3))
    row = None
    for position, domain_event in enumerate(wf.collect_events(), start=1):
        row = workflows.apply(
            row,
            envelope(
                type(domain_event).__name__,
                event_data(domain_event),
                position=position,
                aggregate_id="wf",
            ),
        )
    assert row is not None
    assert (row["name"], row["version"], row["deleted"]) == ("wf", wf.current_version, True)
    assert row["version"] == 2
    assert row["definition"] == wf.current_definition
    assert [b["id"] for b in row["definition"]["blocks"]] == ["y"]
    assert row["description"] is None


@pytest.mark.parametrize(
    ("old", "new", "changes"),
    [
        (None, "running", {"running": 1}),
        ("running", "waiting", {"running": -1, "waiting": 1}),
        ("waiting", "completed", {"waiting": -1, "completed": 1}),
        ("paused", "cancelled", {"paused": -1, "cancelled": 1}),
        ("failed", None, {"failed": -1}),
        ("running", "running", {}),
        (None, None, {}),
    ],
)
def test_run_count_changes(old: str | None, new: str | None, changes: dict[str, int]) -> None:
    assert workflows.run_count_changes(old, new) == changes


def test_run_count_changes_over_a_run_sum_to_its_final_status() -> None:
    totals: dict[str, int] = {}
    path: list[str | None] = [None, "running", "waiting", "paused", "running", "completed"]
    for old, new in itertools.pairwise(path):
        for status, delta in workflows.run_count_changes(old, new).items():
            assert status in workflows.RUN_STATUSES
            totals[status] = totals.get(status, 0) + delta
    assert {s: n for s, n in totals.items() if n} == {"completed": 1}
