"""The Run aggregate end to end, in memory: events, statuses, output, retries, replay."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import Application

from contracts.events import EVENT_TYPES
from contracts.subjects import timer_id
from services.command.domain.run import Run, Unclaimed, run_aggregate_id
from services.command.domain.status import RunStatus
from services.command.domain.workflow import canonical
from tests.unit.helpers import T0, at, definition, drain, names, start_run

PREP = {
    "id": "prep",
    "type": "set",
    "config": {
        "values": {
            "n": "${input.n}",
            "greeting": "hello ${input.name}, n=${input.n}",
            "tags": ["${input.name}", "fixed"],
            "static": 7,
        }
    },
}
NAP = {"id": "nap", "type": "sleep", "needs": ["prep"], "config": {"seconds": 30}}
SHAPE = {
    "id": "shape",
    "type": "transform",
    "needs": ["prep"],
    "queue": "fast",
    "config": {"expression": "blocks.prep.output.n"},
}
END = {"id": "end", "type": "noop", "needs": ["nap", "shape"]}
INPUT = {"n": 3, "name": "ada"}
PREP_OUTPUT = {"n": 3, "greeting": "hello ada, n=3", "tags": ["ada", "fixed"], "static": 7}


def _diamond_run(**extra: Any) -> Run:
    return start_run(definition(PREP, NAP, SHAPE, END, **extra), input=INPUT)


def _assert_contract_shapes(events: list[tuple[str, dict[str, Any]]]) -> None:
    # The relay publishes these fields as they are: each must fit its contract model.
    for name, data in events:
        EVENT_TYPES[name].model_validate(data)


def _state(run: Run, *, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    skip = ("_parsed", "_pending_events", *ignore)
    return {k: v for k, v in vars(run).items() if k not in skip}


def test_the_aggregate_id_is_derived_from_tenant_and_run_id() -> None:
    run = _diamond_run()
    assert run.id == run_aggregate_id("acme", "run-1")
    assert run.id != run_aggregate_id("other", "run-1")
    assert run.id != run_aggregate_id("acme", "run-2")


def test_start_records_run_started_and_schedules_the_root_with_resolved_config() -> None:
    run = _diamond_run()
    events = drain(run)
    _assert_contract_shapes(events)
    assert names(events) == ["RunStarted", "BlockScheduled"]
    started = events[0][1]
    assert started["tenant"] == "acme"
    assert started["run_id"] == "run-1"
    assert started["workflow"] == "wf"
    assert started["version"] == 1
    assert started["input"] == INPUT
    assert started["metadata"] == {"origin": "unit"}
    assert started["status"] == "running"
    assert started["at"] == T0
    # The pinned definition is stored unresolved: expressions are evaluated per attempt.
    assert [b["id"] for b in started["definition"]["blocks"]] == ["prep", "nap", "shape", "end"]
    assert started["definition"]["blocks"][0]["config"] == PREP["config"]
    assert events[1][1] == {
        "block": "prep",
        "attempt": 1,
        "type": "set",
        "execution": "task",
        "queue": "default",
        "config": {"values": PREP_OUTPUT},
        "context": None,
        "at": T0,
    }
    assert run.status is RunStatus.RUNNING
    assert run.block_statuses() == {
        "prep": "running",
        "nap": "pending",
        "shape": "pending",
        "end": "pending",
    }


def test_a_run_records_its_versions_definition_as_saved_or_dumps_it_the_same_way() -> None:
    defn = definition(PREP, NAP, SHAPE, END)
    saved = canonical(defn)
    given = start_run(defn, input=INPUT, saved=saved)
    recorded = drain(given)[0][1]["definition"]
    assert recorded is saved
    assert drain(start_run(defn, input=INPUT))[0][1]["definition"] == saved


def test_a_run_through_a_parallel_sleep_and_transform_to_completion() -> None:
    run = _diamond_run()
    drain(run)
    assert run.claim_block("prep", 1, "worker-a", at(1)) is True
    assert drain(run) == [
        ("BlockStarted", {"block": "prep", "attempt": 1, "worker": "worker-a", "at": at(1)})
    ]

    assert run.complete_block("prep", 1, PREP_OUTPUT, ["set 4 values"], at(2)) is True
    events = drain(run)
    _assert_contract_shapes(events)
    assert names(events) == ["BlockCompleted", "BlockScheduled", "TimerStarted", "BlockScheduled"]
    assert events[0][1] == {
        "block": "prep",
        "attempt": 1,
        "output": PREP_OUTPUT,
        "logs": ["set 4 values"],
        "at": at(2),
    }
    assert events[1][1] == {
        "block": "nap",
        "attempt": 1,
        "type": "sleep",
        "execution": "timer",
        "queue": "default",
        "config": {"seconds": 30.0},
        "context": None,
        "at": at(2),
    }
    assert events[2][1] == {
        "block": "nap",
        "attempt": 1,
        "purpose": "sleep",
        "timer_id": timer_id("run-1", "nap", 1, "sleep"),
        "fire_at": at(32),
        "at": at(2),
    }
    shape = events[3][1]
    assert (shape["block"], shape["type"], shape["execution"], shape["queue"]) == (
        "shape",
        "transform",
        "task",
        "fast",
    )
    # A transform's expression is its own JMESPath, not a `${…}`: it goes out as written,
    # with the context it needs.
    assert shape["config"] == {"expression": "blocks.prep.output.n"}
    assert shape["context"] == {
        "input": INPUT,
        "blocks": {
            "prep": {"output": PREP_OUTPUT, "status": "completed"},
            "nap": {"output": None, "status": "waiting"},
        },
        "run": {"id": "run-1", "workflow": "wf", "attempt": 1},
    }
    assert run.status is RunStatus.RUNNING

    assert run.complete_block("shape", 1, 3, [], at(3)) is True
    assert drain(run) == [
        ("BlockCompleted", {"block": "shape", "attempt": 1, "output": 3, "logs": [], "at": at(3)}),
        ("RunStatusChanged", {"status": "waiting", "reason": None, "at": at(3)}),
    ]
    assert run.status is RunStatus.WAITING

    assert run.fire_timer("nap", 1, "sleep", at(32)) is True
    events = drain(run)
    _assert_contract_shapes(events)
    assert events == [
        ("TimerFired", {"block": "nap", "attempt": 1, "purpose": "sleep", "at": at(32)}),
        (
            "BlockCompleted",
            {"block": "nap", "attempt": 1, "output": None, "logs": [], "at": at(32)},
        ),
        (
            "BlockScheduled",
            {
                "block": "end",
                "attempt": 1,
                "type": "noop",
                "execution": "inline",
                "queue": "default",
                "config": {},
                "context": None,
                "at": at(32),
            },
        ),
        (
            "BlockCompleted",
            {"block": "end", "attempt": 1, "output": None, "logs": [], "at": at(32)},
        ),
        ("RunCompleted", {"output": {"end": None}, "at": at(32)}),
    ]
    assert run.status is RunStatus.COMPLETED
    # Without a definition output, the output is the terminal blocks' outputs by id.
    assert run.output == {"end": None}
    assert run.error is None
    assert set(run.block_statuses().values()) == {"completed"}


def test_the_definition_output_is_resolved_over_the_context() -> None:
    run = _diamond_run(
        output={
            "total": "${blocks.shape.output}",
            "msg": "${blocks.prep.output.greeting}!",
            "states": "${blocks.*.status}",
        }
    )
    run.complete_block("prep", 1, PREP_OUTPUT, [], at(1))
    run.complete_block("shape", 1, 3, [], at(2))
    run.fire_timer("nap", 1, "sleep", at(31))
    assert run.status is RunStatus.COMPLETED
    assert run.output == {
        "total": 3,
        "msg": "hello ada, n=3!",
        "states": ["completed", "completed", "completed", "completed"],
    }


def test_default_output_keeps_only_completed_terminal_blocks() -> None:
    run = start_run(
        definition(
            {"id": "a", "type": "set", "config": {"values": {}}},
            {"id": "b", "type": "set", "config": {"values": {}}},
            {"id": "c", "type": "noop", "needs": ["a"]},
        )
    )
    run.complete_block("a", 1, "A", [], at(1))
    run.complete_block("b", 1, {"b": True}, [], at(2))
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"b": {"b": True}, "c": None}


def test_an_inline_noop_only_run_completes_within_start() -> None:
    run = start_run(
        definition({"id": "x", "type": "noop"}, {"id": "y", "type": "noop", "needs": ["x"]})
    )
    assert names(drain(run)) == [
        "RunStarted",
        "BlockScheduled",
        "BlockCompleted",
        "BlockScheduled",
        "BlockCompleted",
        "RunCompleted",
    ]
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"y": None}


def test_a_fail_block_ends_the_run_failed_with_its_error() -> None:
    run = start_run(
        definition(
            {
                "id": "check",
                "type": "fail",
                "config": {"message": "input rejected", "error_type": "BAD_INPUT"},
                # A fail block is not retryable, whatever its policy.
                "retry": {"max_attempts": 3},
            },
            {"id": "after", "type": "noop", "needs": ["check"]},
        )
    )
    events = drain(run)
    _assert_contract_shapes(events)
    assert events[1:] == [
        (
            "BlockScheduled",
            {
                "block": "check",
                "attempt": 1,
                "type": "fail",
                "execution": "inline",
                "queue": "default",
                "config": {"message": "input rejected", "error_type": "BAD_INPUT"},
                "context": None,
                "at": T0,
            },
        ),
        (
            "BlockFailed",
            {
                "block": "check",
                "attempt": 1,
                "error_type": "BAD_INPUT",
                "message": "input rejected",
                "logs": [],
                "will_retry": False,
                "at": T0,
            },
        ),
        ("BlockSkipped", {"block": "after", "at": T0}),
        (
            "RunFailed",
            {
                "error": {"type": "BAD_INPUT", "message": "input rejected", "block": "check"},
                "at": T0,
            },
        ),
    ]
    assert run.status is RunStatus.FAILED
    assert run.error == {"type": "BAD_INPUT", "message": "input rejected", "block": "check"}
    assert run.output is None
    assert run.block_statuses() == {"check": "failed", "after": "skipped"}


def test_a_fail_block_default_message() -> None:
    run = start_run(definition({"id": "f", "type": "fail"}))
    assert run.error == {"type": "FAILED", "message": "failed by a fail block", "block": "f"}


def test_an_all_done_cleanup_runs_after_a_failure_but_the_run_still_fails() -> None:
    run = start_run(
        definition(
            {"id": "work", "type": "set", "config": {"values": {}}},
            {"id": "cleanup", "type": "noop", "needs": ["work"], "trigger": "all_done"},
        )
    )
    drain(run)
    assert run.fail_block("work", 1, "HTTP_500", "upstream down", False, ["tried"], at(5))
    events = drain(run)
    assert names(events) == ["BlockFailed", "BlockScheduled", "BlockCompleted", "RunFailed"]
    assert events[0][1]["logs"] == ["tried"]
    assert run.status is RunStatus.FAILED
    assert run.error == {"type": "HTTP_500", "message": "upstream down", "block": "work"}
    assert run.block_statuses() == {"work": "failed", "cleanup": "completed"}


# ----- retries ------------------------------------------------------------------------------

RETRYING = {
    "id": "call",
    "type": "set",
    "config": {"values": {"n": "${input.n}"}},
    "retry": {
        "max_attempts": 3,
        "backoff": "exponential",
        "initial_seconds": 2,
        "max_seconds": 3,
        "non_retryable_errors": ["FATAL"],
    },
}


def test_a_retryable_failure_waits_on_a_retry_timer_then_schedules_attempt_two() -> None:
    run = start_run(definition(RETRYING), input={"n": 1})
    drain(run)
    assert run.fail_block("call", 1, "TIMEOUT", "slow", True, ["t1"], at(10)) is True
    events = drain(run)
    _assert_contract_shapes(events)
    assert events == [
        (
            "BlockFailed",
            {
                "block": "call",
                "attempt": 1,
                "error_type": "TIMEOUT",
                "message": "slow",
                "logs": ["t1"],
                "will_retry": True,
                "at": at(10),
            },
        ),
        (
            "TimerStarted",
            {
                "block": "call",
                "attempt": 1,
                "purpose": "retry",
                "timer_id": timer_id("run-1", "call", 1, "retry"),
                "fire_at": at(12),
                "at": at(10),
            },
        ),
        ("RunStatusChanged", {"status": "waiting", "reason": None, "at": at(10)}),
    ]
    assert run.status is RunStatus.WAITING
    assert run.blocks["call"]["status"] == "waiting"

    assert run.fire_timer("call", 1, "retry", at(12)) is True
    events = drain(run)
    _assert_contract_shapes(events)
    assert events == [
        ("TimerFired", {"block": "call", "attempt": 1, "purpose": "retry", "at": at(12)}),
        (
            "BlockScheduled",
            {
                "block": "call",
                "attempt": 2,
                "type": "set",
                "execution": "task",
                "queue": "default",
                "config": {"values": {"n": 1}},
                "context": None,
                "at": at(12),
            },
        ),
        ("RunStatusChanged", {"status": "running", "reason": None, "at": at(12)}),
    ]
    assert run.blocks["call"]["attempt"] == 2
    assert run.status is RunStatus.RUNNING

    # Backoff doubles from 2s, capped at max_seconds 3.
    assert run.fail_block("call", 2, "TIMEOUT", "slow", True, [], at(13)) is True
    timer = dict(drain(run))["TimerStarted"]
    assert (timer["attempt"], timer["fire_at"]) == (2, at(16))
    assert run.fire_timer("call", 2, "retry", at(16)) is True
    assert run.blocks["call"]["attempt"] == 3

    # The last attempt's failure is final.
    drain(run)
    assert run.fail_block("call", 3, "TIMEOUT", "still slow", True, [], at(20)) is True
    events = drain(run)
    assert names(events) == ["BlockFailed", "RunFailed"]
    assert events[0][1]["will_retry"] is False
    assert run.status is RunStatus.FAILED
    assert run.error == {"type": "TIMEOUT", "message": "still slow", "block": "call"}


def test_a_retry_that_succeeds_completes_the_run() -> None:
    run = start_run(definition(RETRYING), input={"n": 1})
    run.fail_block("call", 1, "TIMEOUT", "slow", True, [], at(1))
    run.fire_timer("call", 1, "retry", at(3))
    assert run.complete_block("call", 2, {"n": 1}, [], at(4)) is True
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"call": {"n": 1}}


def test_fixed_backoff_uses_the_initial_delay_every_time() -> None:
    block = {**RETRYING, "retry": {"max_attempts": 5, "backoff": "fixed", "initial_seconds": 7}}
    run = start_run(definition(block), input={"n": 1})
    for attempt, now in ((1, 0), (2, 10), (3, 20)):
        drain(run)
        run.fail_block("call", attempt, "E", "m", True, [], at(now))
        assert dict(drain(run))["TimerStarted"]["fire_at"] == at(now + 7)
        run.fire_timer("call", attempt, "retry", at(now + 7))


@pytest.mark.parametrize(
    ("error_type", "retryable"),
    [("FATAL", True), ("TIMEOUT", False)],
    ids=["non-retryable-error-type", "worker-says-not-retryable"],
)
def test_failures_that_are_not_retried(error_type: str, retryable: bool) -> None:
    run = start_run(definition(RETRYING), input={"n": 1})
    drain(run)
    run.fail_block("call", 1, error_type, "no", retryable, [], at(1))
    events = drain(run)
    assert names(events) == ["BlockFailed", "RunFailed"]
    assert events[0][1]["will_retry"] is False
    assert run.status is RunStatus.FAILED


# ----- expressions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("${input.items[}", "bad expression"),  # does not compile
        ("n=${length(input.n)}", "cannot evaluate"),  # a type error at evaluation
    ],
    ids=["compile", "evaluate"],
)
def test_an_expression_error_fails_the_block_without_retry(value: str, fragment: str) -> None:
    block = {**RETRYING, "config": {"values": {"v": value}}}
    run = start_run(
        definition(block, {"id": "next", "type": "noop", "needs": ["call"]}), input={"n": 5}
    )
    events = drain(run)
    _assert_contract_shapes(events)
    assert names(events) == [
        "RunStarted",
        "BlockScheduled",
        "BlockFailed",
        "BlockSkipped",
        "RunFailed",
    ]
    scheduled, failed = events[1][1], events[2][1]
    assert (scheduled["config"], scheduled["context"]) == ({}, None)
    assert failed["error_type"] == "EXPRESSION_ERROR"
    assert fragment in failed["message"]
    assert failed["will_retry"] is False  # max_attempts is 3, but the config will not change
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["type"] == "EXPRESSION_ERROR"
    assert run.error["block"] == "call"


def test_expressions_see_upstream_outputs_and_keep_their_type() -> None:
    run = start_run(
        definition(
            {"id": "a", "type": "set", "config": {"values": {}}},
            {
                "id": "b",
                "type": "set",
                "needs": ["a"],
                "config": {
                    "values": {
                        "whole": "${blocks.a.output}",
                        "text": "a=${blocks.a.output}",
                        "status": "${blocks.a.status}",
                        "missing": "${input.nope}",
                    }
                },
            },
        )
    )
    run.complete_block("a", 1, {"k": [1, 2]}, [], at(1))
    scheduled = dict(drain(run))["BlockScheduled"]
    assert scheduled["config"] == {
        "values": {
            "whole": {"k": [1, 2]},
            "text": 'a={"k":[1,2]}',
            "status": "completed",
            "missing": None,
        }
    }


# ----- reconstruction from stored events -------------------------------------------------


def _drive(run: Run, step: int) -> None:
    """Steps of the diamond run, applied identically to two copies."""
    if step == 0:
        run.claim_block("prep", 1, "w", at(1))
        run.complete_block("prep", 1, PREP_OUTPUT, ["ok"], at(2))
    elif step == 1:
        run.complete_block("shape", 1, 3, [], at(3))
    elif step == 2:
        run.fire_timer("nap", 1, "sleep", at(32))


@pytest.mark.parametrize("saved_after", [0, 1, 2, 3])
def test_a_run_reconstructed_from_its_events_has_the_same_state(saved_after: int) -> None:
    app: Application[Any] = Application()
    run = _diamond_run()
    for step in range(saved_after):
        _drive(run, step)
    app.save(run)
    copy = app.repository.get(run.id)
    assert isinstance(copy, Run)
    assert copy.version == run.version
    assert _state(copy) == _state(run)
    assert copy.parsed_definition == run.parsed_definition

    # The copy, re-parsing its stored definition, decides exactly as the original does.
    for step in range(saved_after, 3):
        _drive(run, step)
        _drive(copy, step)
        assert drain(copy) == drain(run)
        # eventsourcing stamps new events with the wall clock: only that may differ.
        assert _state(copy, ignore=("_modified_on",)) == _state(run, ignore=("_modified_on",))
    assert copy.status is RunStatus.COMPLETED


def test_a_retried_and_cancelled_run_reconstructs() -> None:
    app: Application[Any] = Application()
    run = start_run(definition(RETRYING, NAP | {"needs": []}), input={"n": 1})
    run.fail_block("call", 1, "E", "m", True, [], at(1))
    run.fire_timer("call", 1, "retry", at(3))
    run.pause("look", at(4))
    run.cancel("enough", at(5))
    app.save(run)
    copy = app.repository.get(run.id)
    assert _state(copy) == _state(run)
    assert copy.status is RunStatus.CANCELLED
    assert copy.block_statuses() == {"call": "cancelled", "nap": "cancelled"}
    assert copy.blocks["call"]["attempt"] == 2
    assert copy.blocks["call"]["error"] == {"type": "E", "message": "m"}


def test_an_unclaimed_result_records_the_start_first_and_only_once() -> None:
    """A pure block's worker reports without claiming: the log reads as if it had."""
    run = _diamond_run()
    drain(run)
    ran = Unclaimed("worker-b", at(1))
    assert run.complete_block("prep", 1, PREP_OUTPUT, [], at(2), ran) is True
    events = drain(run)
    assert events[:2] == [
        ("BlockStarted", {"block": "prep", "attempt": 1, "worker": "worker-b", "at": at(1)}),
        (
            "BlockCompleted",
            {"block": "prep", "attempt": 1, "output": PREP_OUTPUT, "logs": [], "at": at(2)},
        ),
    ]
    # The task redelivered and run again: its result changes nothing.
    assert run.complete_block("prep", 1, {"n": 0}, [], at(3), Unclaimed("w-c", at(3))) is False
    assert drain(run) == []
    assert run.blocks["prep"]["output"] == PREP_OUTPUT

    # A claimed attempt is not started twice by a result that says who ran it.
    assert run.claim_block("shape", 1, "worker-a", at(4)) is True
    drain(run)
    assert run.complete_block("shape", 1, 3, [], at(5), Unclaimed("worker-a", at(4))) is True
    assert names(drain(run))[0] == "BlockCompleted"


def test_an_unclaimed_failure_records_the_start_of_each_attempt() -> None:
    run = start_run(definition(RETRYING), input={"n": 1})
    drain(run)
    assert run.fail_block("call", 1, "E", "no", True, [], at(2), Unclaimed("w", at(1))) is True
    assert names(drain(run))[:2] == ["BlockStarted", "BlockFailed"]
    assert run.fire_timer("call", 1, "retry", at(4)) is True
    drain(run)
    # Attempt 2 was not started yet, though attempt 1 was.
    assert run.complete_block("call", 2, {"n": 1}, [], at(6), Unclaimed("w", at(5))) is True
    events = drain(run)
    assert events[0] == (
        "BlockStarted",
        {"block": "call", "attempt": 2, "worker": "w", "at": at(5)},
    )


def test_an_unclaimed_start_is_kept_between_scheduling_and_the_result() -> None:
    """A worker's clock may be off: its start never precedes the scheduling or follows
    the result."""
    early = start_run(definition(PREP), input=INPUT, now=at(10))
    drain(early)
    assert early.complete_block("prep", 1, {}, [], at(12), Unclaimed("w", at(3))) is True
    assert drain(early)[0] == (
        "BlockStarted",
        {"block": "prep", "attempt": 1, "worker": "w", "at": at(10)},
    )
    late = start_run(definition(PREP), input=INPUT, now=at(10))
    drain(late)
    assert late.complete_block("prep", 1, {}, [], at(12), Unclaimed("w", at(20))) is True
    assert drain(late)[0][1]["at"] == at(12)
