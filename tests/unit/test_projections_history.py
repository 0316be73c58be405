"""The run_events and block_attempts read models: pure apply functions fed contract envelopes."""

from __future__ import annotations

from typing import Any

from contracts.events import Envelope
from projections import block_attempts, run_events
from tests.unit.helpers import at, envelope

DEFINITION = {
    "blocks": [
        {"id": "call", "type": "http", "config": {"url": "http://example.invalid"}},
        {"id": "nap", "type": "sleep", "needs": ["call"], "config": {"seconds": 5}},
    ]
}
TASK = {"execution": "task", "queue": "default", "config": {}}


def ts(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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

    def started(self) -> Envelope:
        return self(
            "RunStarted",
            0,
            tenant="acme",
            run_id=self.run_id,
            workflow="wf",
            version=1,
            definition=DEFINITION,
            input={},
            metadata={},
            status="running",
        )


def fold(model: Any, envelopes: list[Envelope]) -> dict[Any, Any]:
    """Apply envelopes as the read store does: one row per key."""
    rows: dict[Any, Any] = {}
    for env in envelopes:
        key = model.key(env)
        if key is not None:
            rows[key] = model.apply(rows.get(key), env)
    return rows


# ----- run_events ------------------------------------------------------------------------


def test_every_run_event_becomes_one_row_keyed_by_its_position() -> None:
    ev = RunStream()
    envelopes = [
        ev.started(),
        ev("BlockScheduled", 1, block="call", attempt=1, type="http", **TASK),
        ev("RunCompleted", 2, output={"ok": True}),
    ]
    rows = fold(run_events, envelopes)
    assert list(rows) == [("acme", "run-1", 1), ("acme", "run-1", 2), ("acme", "run-1", 3)]
    assert rows[("acme", "run-1", 3)] == {
        "tenant": "acme",
        "run_id": "run-1",
        "position": 3,
        "type": "RunCompleted",
        "data": envelopes[2].data,
        "occurred_at": ts(2),
    }
    assert rows[("acme", "run-1", 1)]["data"]["definition"] == DEFINITION


def test_a_history_row_never_changes_once_written() -> None:
    ev = RunStream()
    first = ev.started()
    row = run_events.apply(None, first)
    assert run_events.apply(row, first) is row


def test_events_of_other_aggregates_are_not_run_history() -> None:
    created = envelope(
        "WorkflowCreated",
        {"at": at(0), "tenant": "acme", "name": "wf", "version": 1, "definition": DEFINITION},
        position=1,
        aggregate_id="wf",
    )
    assert run_events.key(created) is None
    assert run_events.apply(None, created) is None
    assert block_attempts.key(created) is None
    assert block_attempts.apply(None, created) is None


# ----- block_attempts ----------------------------------------------------------------------


def test_a_task_attempt_records_its_timings_worker_logs_and_output() -> None:
    ev = RunStream()
    envelopes = [
        ev.started(),
        ev("BlockScheduled", 1, block="call", attempt=1, type="http", **TASK),
        ev("BlockStarted", 1.5, block="call", attempt=1, worker="w-1"),
        ev("BlockCompleted", 3.25, block="call", attempt=1, output={"n": 1}, logs=["a", "b"]),
    ]
    rows = fold(block_attempts, envelopes)
    assert rows == {
        ("acme", "run-1", "call", 1): {
            "tenant": "acme",
            "run_id": "run-1",
            "block": "call",
            "attempt": 1,
            "type": "http",
            "status": "completed",
            "scheduled_at": ts(1),
            "started_at": ts(1.5),
            "ended_at": ts(3.25),
            "duration_ms": 1750,
            "worker": "w-1",
            "logs": ["a", "b"],
            "output": {"n": 1},
            "error": None,
            "scheduled_position": 2,
            "completed_position": 4,
        }
    }


def test_a_running_attempt_has_no_end_yet() -> None:
    ev = RunStream()
    rows = fold(
        block_attempts,
        [
            ev.started(),
            ev("BlockScheduled", 1, block="call", attempt=1, type="http", **TASK),
            ev("BlockStarted", 2, block="call", attempt=1, worker="w-1"),
        ],
    )
    row = rows[("acme", "run-1", "call", 1)]
    assert (row["status"], row["worker"], row["started_at"]) == ("running", "w-1", ts(2))
    assert row["ended_at"] is row["duration_ms"] is row["completed_position"] is None


def test_a_retried_block_has_one_row_per_attempt() -> None:
    ev = RunStream()
    envelopes = [
        ev.started(),
        ev("BlockScheduled", 1, block="call", attempt=1, type="http", **TASK),
        ev("BlockStarted", 1, block="call", attempt=1, worker="w-1"),
        ev(
            "BlockFailed",
            1.2,
            block="call",
            attempt=1,
            error_type="HTTP_ERROR",
            message="500",
            logs=["GET -> 500"],
            will_retry=True,
        ),
        # The backoff timer belongs to the failed attempt: it stays failed.
        ev(
            "TimerStarted",
            1.2,
            block="call",
            attempt=1,
            purpose="retry",
            timer_id="t-1",
            fire_at=at(2),
        ),
        ev("TimerFired", 2, block="call", attempt=1, purpose="retry"),
        ev("BlockScheduled", 2, block="call", attempt=2, type="http", **TASK),
        ev("BlockStarted", 2.5, block="call", attempt=2, worker="w-2"),
        ev("BlockCompleted", 3, block="call", attempt=2, output=1, logs=["GET -> 200"]),
    ]
    rows = fold(block_attempts, envelopes)
    first, second = rows[("acme", "run-1", "call", 1)], rows[("acme", "run-1", "call", 2)]
    assert first["status"] == "failed"
    assert first["error"] == {"type": "HTTP_ERROR", "message": "500"}
    assert first["logs"] == ["GET -> 500"]
    assert (first["ended_at"], first["duration_ms"], first["worker"]) == (ts(1.2), 200, "w-1")
    assert first["completed_position"] is None
    assert second["status"] == "completed"
    assert (second["worker"], second["duration_ms"], second["logs"]) == ("w-2", 500, ["GET -> 200"])
    assert (second["scheduled_position"], second["completed_position"]) == (7, 9)


def test_a_timer_block_waits_then_completes_timed_from_its_scheduling() -> None:
    ev = RunStream()
    nap = {"block": "nap", "attempt": 1}
    envelopes = [
        ev.started(),
        ev("BlockScheduled", 1, type="sleep", execution="timer", queue="default", config={}, **nap),
        ev("TimerStarted", 1, purpose="sleep", timer_id="t-1", fire_at=at(6), **nap),
    ]
    waiting = fold(block_attempts, envelopes)[("acme", "run-1", "nap", 1)]
    assert waiting["status"] == "waiting"
    envelopes += [
        ev("TimerFired", 6, purpose="sleep", **nap),
        ev("BlockCompleted", 6, output=None, logs=[], **nap),
    ]
    done = fold(block_attempts, envelopes)[("acme", "run-1", "nap", 1)]
    assert (done["status"], done["started_at"], done["worker"]) == ("completed", None, None)
    assert (done["ended_at"], done["duration_ms"], done["completed_position"]) == (ts(6), 5000, 5)


def test_reports_after_an_attempt_ended_change_nothing() -> None:
    ev = RunStream()
    call = {"block": "call", "attempt": 1}
    envelopes = [
        ev.started(),
        ev("BlockScheduled", 1, type="http", **TASK, **call),
        ev("BlockCompleted", 2, output=1, logs=[], **call),
    ]
    done = fold(block_attempts, envelopes)[("acme", "run-1", "call", 1)]
    late = [
        ev("BlockScheduled", 3, type="http", **TASK, **call),
        ev("BlockStarted", 3, worker="w-9", **call),
        ev("BlockFailed", 4, error_type="X", message="m", logs=[], will_retry=False, **call),
    ]
    row = done
    for env in late:
        row = block_attempts.apply(row, env)
    assert row == done


def test_run_level_events_and_skips_are_not_attempts() -> None:
    ev = RunStream()
    for env in (
        ev.started(),
        ev("BlockSkipped", 1, block="nap"),
        ev("RunStatusChanged", 1, status="waiting", reason=None),
        ev("RunCancelled", 2, reason="stop"),
    ):
        assert block_attempts.key(env) is None
        assert block_attempts.apply(None, env) is None


def test_an_attempt_reported_before_it_was_seen_scheduled_is_ignored() -> None:
    ev = RunStream()
    ev.started()
    started = ev("BlockStarted", 1, block="call", attempt=1, worker="w-1")
    assert block_attempts.apply(None, started) is None
