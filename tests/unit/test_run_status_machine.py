"""The run status machine: which user commands each status allows, on its own and on Runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import Run
from services.command.domain.status import RunCommand, RunStatus, check_allowed
from tests.unit.helpers import T0, at, definition, drain, start_run

C = RunCommand
S = RunStatus

# Written out by hand (API.md and the status design), not read back from ALLOWED.
EXPECTED: dict[RunStatus, set[RunCommand]] = {
    S.QUEUED: {C.CANCEL, C.TERMINATE, C.PAUSE},
    S.RUNNING: {C.CANCEL, C.TERMINATE, C.PAUSE, C.SEND_EVENT},
    S.WAITING: {C.CANCEL, C.TERMINATE, C.PAUSE, C.SEND_EVENT},
    S.BLOCKED: {C.CANCEL, C.TERMINATE, C.PAUSE},
    S.PAUSED: {C.RESUME, C.CANCEL, C.TERMINATE, C.ROLLBACK, C.SEND_EVENT},
    S.COMPLETED: {C.RESTART, C.REPLAY},
    S.FAILED: {C.RESTART, C.REPLAY, C.RETRY, C.ROLLBACK},
    S.CANCELLED: {C.RESTART, C.REPLAY},
    S.TERMINATED: {C.RESTART, C.REPLAY},
}


def test_the_expected_table_covers_every_status_and_command() -> None:
    assert set(EXPECTED) == set(RunStatus)
    assert len(RunStatus) == 9
    assert len(RunCommand) == 9


@pytest.mark.parametrize("command", list(RunCommand), ids=lambda c: c.value)
@pytest.mark.parametrize("status", list(RunStatus), ids=lambda s: s.value)
def test_check_allowed(status: RunStatus, command: RunCommand) -> None:
    if command in EXPECTED[status]:
        assert check_allowed(status, command) is None
        return
    with pytest.raises(FlowledgerError) as info:
        check_allowed(status, command)
    err = info.value
    assert err.type is ErrorType.INVALID_RUN_STATE
    assert err.details == {
        "status": status.value,
        "command": command.value,
        "allowed": sorted(c.value for c in EXPECTED[status]),
    }
    assert status.value in err.message
    assert command.value in err.message
    body = err.body()
    assert body.http_status == 409
    assert body.error.type == "INVALID_RUN_STATE"
    assert body.error.details["allowed"] == sorted(c.value for c in EXPECTED[status])


# ----- real Runs driven into each reachable status ---------------------------------------

TASK = {"id": "work", "type": "set", "config": {"values": {"k": 1}}}
SLEEP = {"id": "nap", "type": "sleep", "config": {"seconds": 60}}


def _running() -> Run:
    return start_run(definition(TASK))


def _waiting() -> Run:
    return start_run(definition(SLEEP))


def _paused() -> Run:
    run = _running()
    run.pause("hold", at(1))
    return run


def _completed() -> Run:
    return start_run(definition({"id": "only", "type": "noop"}))


def _failed() -> Run:
    return start_run(definition({"id": "boom", "type": "fail"}))


def _cancelled() -> Run:
    run = _running()
    run.cancel("stop", at(1))
    return run


def _terminated() -> Run:
    run = _running()
    run.terminate("kill", at(1))
    return run


REACHABLE: dict[RunStatus, Callable[[], Run]] = {
    S.RUNNING: _running,
    S.WAITING: _waiting,
    S.PAUSED: _paused,
    S.COMPLETED: _completed,
    S.FAILED: _failed,
    S.CANCELLED: _cancelled,
    S.TERMINATED: _terminated,
}


@pytest.mark.parametrize("status", list(REACHABLE), ids=lambda s: s.value)
def test_builders_reach_their_status(status: RunStatus) -> None:
    assert REACHABLE[status]().status is status


# The status each command leaves a run in, when allowed.
AFTER: dict[tuple[RunStatus, RunCommand], RunStatus] = {
    (S.RUNNING, C.CANCEL): S.CANCELLED,
    (S.RUNNING, C.TERMINATE): S.TERMINATED,
    (S.RUNNING, C.PAUSE): S.PAUSED,
    (S.WAITING, C.CANCEL): S.CANCELLED,
    (S.WAITING, C.TERMINATE): S.TERMINATED,
    (S.WAITING, C.PAUSE): S.PAUSED,
    (S.PAUSED, C.CANCEL): S.CANCELLED,
    (S.PAUSED, C.TERMINATE): S.TERMINATED,
    # The paused run's task block is still out with a worker: back to running.
    (S.PAUSED, C.RESUME): S.RUNNING,
}

USER_METHODS = [C.CANCEL, C.TERMINATE, C.PAUSE, C.RESUME]


@pytest.mark.parametrize("command", USER_METHODS, ids=lambda c: c.value)
@pytest.mark.parametrize("status", list(REACHABLE), ids=lambda s: s.value)
def test_run_user_commands(status: RunStatus, command: RunCommand) -> None:
    run = REACHABLE[status]()
    drain(run)
    method = getattr(run, command.value)
    if (status, command) in AFTER:
        method("why", at(5))
        assert run.status is AFTER[(status, command)]
        assert drain(run), "an allowed command records events"
        return
    assert command not in EXPECTED[status]
    with pytest.raises(FlowledgerError) as info:
        method("why", at(5))
    assert info.value.type is ErrorType.INVALID_RUN_STATE
    assert info.value.body().http_status == 409
    assert info.value.details["status"] == status.value
    assert run.status is status
    assert drain(run) == []


def test_cancel_records_reason_and_cancels_open_blocks() -> None:
    run = start_run(definition(TASK, {"id": "after", "type": "noop", "needs": ["work"]}, SLEEP))
    drain(run)
    run.cancel("user asked", at(3))
    assert drain(run) == [("RunCancelled", {"reason": "user asked", "at": at(3)})]
    assert run.block_statuses() == {"work": "cancelled", "after": "cancelled", "nap": "cancelled"}


def test_terminate_keeps_settled_blocks() -> None:
    run = start_run(definition({"id": "first", "type": "noop"}, TASK))
    run.terminate(None, at(3))
    assert run.status is S.TERMINATED
    assert run.block_statuses() == {"first": "completed", "work": "cancelled"}


def test_pause_then_resume_a_waiting_run_returns_to_waiting() -> None:
    run = _waiting()
    run.pause("hold", at(1))
    drain(run)
    run.resume("go", at(2))
    assert run.status is S.WAITING
    assert drain(run) == [
        ("RunStatusChanged", {"status": "running", "reason": "go", "at": at(2)}),
        ("RunStatusChanged", {"status": "waiting", "reason": None, "at": at(2)}),
    ]


def test_results_while_paused_are_kept_and_scheduling_waits_for_resume() -> None:
    run = start_run(
        definition(TASK, {"id": "next", "type": "set", "needs": ["work"], "config": {"values": {}}})
    )
    run.pause(None, at(1))
    drain(run)
    assert run.complete_block("work", 1, {"k": 1}, [], at(2)) is True
    assert [n for n, _ in drain(run)] == ["BlockCompleted"]
    assert run.status is S.PAUSED
    assert run.block_statuses()["next"] == "pending"
    run.resume(None, at(3))
    assert [n for n, _ in drain(run)] == ["RunStatusChanged", "BlockScheduled"]
    assert run.status is S.RUNNING
    assert run.blocks["next"]["status"] == "running"


# ----- stale worker and timer reports -----------------------------------------------------


def _assert_ignored(run: Run, accepted: bool) -> None:
    assert accepted is False
    assert drain(run) == []


def test_stale_reports_for_a_wrong_attempt() -> None:
    run = _running()
    drain(run)
    before = run.block_statuses()
    _assert_ignored(run, run.claim_block("work", 2, "w1", at(1)))
    _assert_ignored(run, run.complete_block("work", 2, "x", [], at(1)))
    _assert_ignored(run, run.fail_block("work", 0, "E", "m", True, [], at(1)))
    _assert_ignored(run, run.complete_block("nope", 1, "x", [], at(1)))
    assert run.block_statuses() == before
    assert run.blocks["work"]["attempt"] == 1


def test_stale_reports_for_an_older_attempt_after_a_retry() -> None:
    block = {**TASK, "retry": {"max_attempts": 3, "backoff": "fixed", "initial_seconds": 5}}
    run = start_run(definition(block))
    assert run.fail_block("work", 1, "E", "m", True, [], at(1)) is True
    assert run.fire_timer("work", 1, "retry", at(6)) is True
    drain(run)
    assert run.blocks["work"]["attempt"] == 2
    _assert_ignored(run, run.claim_block("work", 1, "w1", at(7)))
    _assert_ignored(run, run.complete_block("work", 1, "late", [], at(7)))
    _assert_ignored(run, run.fail_block("work", 1, "E", "m", True, [], at(7)))
    _assert_ignored(run, run.fire_timer("work", 1, "retry", at(7)))
    assert run.blocks["work"]["status"] == "running"


def test_stale_reports_for_a_finished_block() -> None:
    run = start_run(definition(TASK, {"id": "other", "type": "set", "config": {"values": {}}}))
    assert run.complete_block("work", 1, {"v": 1}, ["done"], at(1)) is True
    drain(run)
    _assert_ignored(run, run.complete_block("work", 1, {"v": 2}, [], at(2)))
    _assert_ignored(run, run.fail_block("work", 1, "E", "m", True, [], at(2)))
    _assert_ignored(run, run.claim_block("work", 1, "w2", at(2)))
    assert run.blocks["work"]["output"] == {"v": 1}
    assert run.status is S.RUNNING


def test_stale_timer_reports() -> None:
    run = _waiting()
    drain(run)
    _assert_ignored(run, run.fire_timer("nap", 1, "retry", at(60)))  # wrong purpose
    _assert_ignored(run, run.fire_timer("nap", 2, "sleep", at(60)))  # wrong attempt
    _assert_ignored(run, run.complete_block("nap", 1, None, [], at(60)))  # not a task
    assert run.fire_timer("nap", 1, "sleep", at(60)) is True
    assert run.status is S.COMPLETED
    drain(run)
    _assert_ignored(run, run.fire_timer("nap", 1, "sleep", at(61)))  # repeated


@pytest.mark.parametrize("status", [S.CANCELLED, S.TERMINATED], ids=lambda s: s.value)
def test_reports_for_an_ended_run_change_nothing(status: RunStatus) -> None:
    run = start_run(definition(TASK, SLEEP))
    if status is S.CANCELLED:
        run.cancel(None, at(1))
    else:
        run.terminate(None, at(1))
    drain(run)
    _assert_ignored(run, run.claim_block("work", 1, "w1", at(2)))
    _assert_ignored(run, run.complete_block("work", 1, "x", [], at(2)))
    _assert_ignored(run, run.fail_block("work", 1, "E", "m", True, [], at(2)))
    _assert_ignored(run, run.fire_timer("nap", 1, "sleep", at(61)))
    assert run.status is status
    assert run.block_statuses() == {"work": "cancelled", "nap": "cancelled"}


def test_reports_for_a_completed_run_change_nothing() -> None:
    run = _completed()
    drain(run)
    _assert_ignored(run, run.complete_block("only", 1, "x", [], at(2)))
    _assert_ignored(run, run.claim_block("only", 1, "w", at(2)))
    assert run.status is S.COMPLETED
    assert run.created_at == T0
