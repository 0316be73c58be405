"""Retry, restart and events sent to runs (wait_for_event, approval) in the Run aggregate."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import Application

from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import Run
from services.command.domain.status import RunStatus
from tests.unit.helpers import at, definition, drain, names, start_run

FLAKY = {"id": "call", "type": "set", "config": {"values": {"ok": True}}}
AFTER = {"id": "after", "type": "set", "needs": ["call"], "config": {"values": {}}}
FIRST = {"id": "first", "type": "set", "config": {"values": {"step": 1}}}


def reloaded(run: Run) -> Run:
    """The same run rebuilt from its events only (as after a restart of the service)."""
    app: Application[Any] = Application()
    app.events.put(run.collect_events())
    found = app.repository.get(run.id)
    assert isinstance(found, Run)
    return found


def failed_run(drained: bool = True) -> Run:
    run = start_run(definition(FIRST, {**FLAKY, "needs": ["first"]}, AFTER))
    assert run.complete_block("first", 1, {"step": 1}, [], at(1))
    assert run.fail_block("call", 1, "HTTP_503", "down", True, [], at(2))
    assert run.status is RunStatus.FAILED and run.blocks["after"]["status"] == "skipped"
    if drained:
        drain(run)
    return run


def test_retry_resumes_from_the_last_checkpoint_with_a_new_attempt() -> None:
    run = failed_run()
    run.retry("fixed upstream", at(10))
    events = drain(run)
    assert names(events)[:2] == ["RunRetried", "BlockScheduled"]
    scheduled = [data for name, data in events if name == "BlockScheduled"]
    assert [(d["block"], d["attempt"]) for d in scheduled] == [("call", 2)]  # not `first`
    assert run.status is RunStatus.RUNNING and run.blocks["first"]["status"] == "completed"
    assert not run.complete_block("call", 1, {}, [], at(11)), "the old attempt is stale"
    assert run.complete_block("call", 2, {"ok": True}, [], at(12))
    assert run.complete_block("after", 1, {}, [], at(13))
    assert run.status is RunStatus.COMPLETED


def test_restart_runs_everything_again_and_counts_run_attempts() -> None:
    run = failed_run(drained=False)
    run.restart(None, at(10))
    assert run.run_attempt == 2 and run.context()["run"]["attempt"] == 2
    assert run.blocks["first"]["status"] == "running" and run.blocks["first"]["attempt"] == 2
    assert run.output is None and run.error is None
    with pytest.raises(FlowledgerError) as raised:
        run.retry(None, at(11))
    assert raised.value.type is ErrorType.INVALID_RUN_STATE
    copy = reloaded(run)
    assert copy.blocks == run.blocks and copy.run_attempt == 2


def test_an_event_reaches_the_waiting_block_and_a_kept_one_is_not_lost() -> None:
    waits = {
        "id": "wait",
        "type": "wait_for_event",
        "needs": ["first"],
        "config": {"event_type": "paid", "timeout_seconds": 60},
    }
    run = start_run(definition(FIRST, waits))
    # Sent before anyone waits: kept in the inbox.
    assert run.send_event("paid", {"amount": 5}, at(1)) is None
    assert run.inbox == [{"event_type": "paid", "payload": {"amount": 5}}]
    run.complete_block("first", 1, {}, [], at(2))
    assert run.blocks["wait"]["status"] == "completed"
    assert run.blocks["wait"]["output"] == {"amount": 5}
    assert run.inbox == [] and run.status is RunStatus.COMPLETED
    assert reloaded(run).inbox == []


def test_a_wait_times_out_on_its_timer() -> None:
    waits = {
        "id": "wait",
        "type": "wait_for_event",
        "config": {"event_type": "paid", "timeout_seconds": 30},
    }
    run = start_run(definition(waits))
    timers = [d for n, d in drain(run) if n == "TimerStarted"]
    assert timers and timers[0]["purpose"] == "event_timeout" and timers[0]["fire_at"] == at(30)
    assert run.status is RunStatus.WAITING
    assert run.fire_timer("wait", 1, "event_timeout", at(30))
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error["type"] == "WAIT_TIMEOUT"
    with pytest.raises(FlowledgerError):  # An ended run takes no events.
        run.send_event("paid", {}, at(31))


def test_approvals_check_the_approver_and_fail_on_rejection() -> None:
    approve = {"id": "ok", "type": "approval", "config": {"approvers": ["ana"]}}
    run = start_run(definition(approve))
    with pytest.raises(FlowledgerError) as raised:
        run.send_event("approval", {"approved": True, "by": "bob"}, at(1))
    assert raised.value.type is ErrorType.VALIDATION_ERROR
    assert run.blocks["ok"]["status"] == "waiting"
    run.send_event("approval", {"approved": False, "by": "ana", "comment": "no"}, at(2))
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error["type"] == "APPROVAL_REJECTED"

    second = start_run(definition(approve), run_id="run-2")
    assert second.send_event("approval", {"approved": True, "by": "ana"}, at(1)) == "ok"
    assert second.status is RunStatus.COMPLETED
    assert second.blocks["ok"]["output"] == {"approved": True, "by": "ana"}


def test_starting_only_some_blocks_runs_them_and_what_they_need() -> None:
    chain = definition(
        FIRST,
        {"id": "second", "type": "set", "needs": ["first"], "config": {"values": {}}},
        {"id": "side", "type": "set", "config": {"values": {}}},
        {"id": "last", "type": "noop", "needs": ["second"]},
    )
    run = Run.start(
        tenant="acme",
        run_id="r",
        workflow="wf",
        version=1,
        definition=chain,
        input={},
        metadata={},
        now=at(0),
        only=["second"],
    )
    assert run.selected == ["first", "second"]
    assert run.block_statuses() == {
        "first": "running",
        "second": "pending",
        "side": "skipped",
        "last": "skipped",
    }
    run.complete_block("first", 1, {}, [], at(1))
    run.complete_block("second", 1, {}, [], at(2))
    assert run.status is RunStatus.COMPLETED
    run.restart(None, at(3))
    assert run.blocks["side"]["status"] == "skipped", "a restart keeps the selection"
    assert reloaded(run).selected == ["first", "second"]


def test_a_block_attempt_that_outlives_its_timeout_fails_and_is_retried() -> None:
    slow = {
        "id": "call",
        "type": "set",
        "timeout": 5,
        "retry": {"max_attempts": 2, "initial_seconds": 1},
        "config": {"values": {}},
    }
    run = start_run(definition(slow))
    deadlines = [d for n, d in drain(run) if n == "DeadlineSet"]
    assert [(d["block"], d["attempt"], d["purpose"], d["fire_at"]) for d in deadlines] == [
        ("call", 1, "block_timeout", at(5))
    ]
    assert run.fire_timer("call", 1, "block_timeout", at(5))
    assert run.blocks["call"]["error"]["type"] == "BLOCK_TIMEOUT"
    assert not run.complete_block("call", 1, {}, [], at(6)), "the late result is stale"
    assert run.fire_timer("call", 1, "retry", at(6))
    assert run.blocks["call"]["attempt"] == 2
    assert run.complete_block("call", 2, {"ok": 1}, [], at(7))
    assert not run.fire_timer("call", 2, "block_timeout", at(12)), "it ended in time"
    assert run.status is RunStatus.COMPLETED


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        ("fail", RunStatus.FAILED),
        ("cancel", RunStatus.CANCELLED),
        ("terminate", RunStatus.TERMINATED),
    ],
)
def test_the_run_timeout_ends_the_run_by_its_policy(policy: str, status: RunStatus) -> None:
    waits = {"id": "wait", "type": "wait_for_event", "config": {"event_type": "never"}}
    run = Run.start(
        tenant="acme",
        run_id="r",
        workflow="wf",
        version=1,
        definition=definition(waits),
        input={},
        metadata={},
        now=at(0),
        timeout=(60.0, policy),
    )
    assert not run.fire_timer("", 2, "run_timeout", at(60)), "another run attempt's timer"
    assert run.fire_timer("", 1, "run_timeout", at(60))
    assert run.status is status
    assert run.blocks["wait"]["status"] == "cancelled"
    if policy == "fail":
        assert run.error is not None and run.error["type"] == "RUN_TIMEOUT"
    assert not run.fire_timer("", 1, "run_timeout", at(61)), "fires once"
    copy = reloaded(run)
    assert copy.status is status and copy.timeout == (60.0, policy)


def test_rollback_to_a_checkpoint_pauses_and_reruns_what_came_after() -> None:
    chain = definition(
        FIRST,
        {"id": "second", "type": "set", "needs": ["first"], "config": {"values": {}}},
        {"id": "third", "type": "set", "needs": ["second"], "config": {"values": {}}},
    )
    run = start_run(chain)
    run.complete_block("first", 1, {"a": 1}, [], at(1))
    run.complete_block("second", 1, {"b": 2}, [], at(2))
    run.fail_block("third", 1, "X", "no", False, [], at(3))
    with pytest.raises(FlowledgerError) as raised:
        run.rollback("third", 1, at(4))
    assert raised.value.type is ErrorType.CHECKPOINT_NOT_FOUND
    run.rollback("first", 1, at(4))
    assert run.status is RunStatus.PAUSED
    assert run.block_statuses() == {"first": "completed", "second": "pending", "third": "pending"}
    run.resume(None, at(5))
    assert run.blocks["second"]["attempt"] == 2, "attempts keep counting"
    assert reloaded(run).completed_order == ["first"]


def test_replay_keeps_the_checkpoints_and_runs_the_rest() -> None:
    chain = definition(
        FIRST, {"id": "second", "type": "set", "needs": ["first"], "config": {"values": {}}}
    )
    source = start_run(chain)
    source.complete_block("first", 1, {"a": 1}, [], at(1))
    source.complete_block("second", 1, {"b": 2}, [], at(2))
    kept = source.checkpoint_outputs("first", 1)
    assert kept == [("first", {"a": 1})]
    replay = Run.start(
        tenant="acme",
        run_id="replayed",
        workflow="wf",
        version=1,
        definition=chain,
        input={},
        metadata={},
        now=at(3),
        kept=kept,
        replay_of={"run_id": "run-1", "block": "first", "attempt": 1},
    )
    assert replay.blocks["first"]["output"] == {"a": 1}
    assert replay.block_statuses() == {"first": "completed", "second": "running"}
    assert reloaded(replay).replay_of == {"run_id": "run-1", "block": "first", "attempt": 1}
