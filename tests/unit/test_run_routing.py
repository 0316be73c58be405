"""The Run aggregate routing: condition and switch choices, skipped branches, replay."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import Application

from contracts.events import EVENT_TYPES
from services.command.domain.routing import vetoes
from services.command.domain.run import Run
from services.command.domain.status import RunStatus
from tests.unit.helpers import T0, at, definition, drain, names, start_run

PREP = {"id": "prep", "type": "set", "config": {"values": {"n": "${input.n}"}}}
CHECK = {
    "id": "check",
    "type": "condition",
    "needs": ["prep"],
    "config": {"if": "blocks.prep.output.n > `2`", "then": ["big"], "else": ["small"]},
}
BIG = {"id": "big", "type": "set", "needs": ["check"], "config": {"values": {"size": "big"}}}
SMALL = {"id": "small", "type": "set", "needs": ["check"], "config": {"values": {}}}
AFTER_SMALL = {"id": "after_small", "type": "noop", "needs": ["small"]}
JOIN = {"id": "join", "type": "noop", "needs": ["big", "small"], "trigger": "none_failed"}


def _checked(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    for name, data in events:
        EVENT_TYPES[name].model_validate(data)
    return events


def _state(run: Run, *, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    skip = ("_parsed", "_pending_events", *ignore)
    return {k: v for k, v in vars(run).items() if k not in skip}


def _condition_run(n: int) -> Run:
    run = start_run(definition(PREP, CHECK, BIG, SMALL, AFTER_SMALL, JOIN), input={"n": n})
    drain(run)
    return run


# ----- condition -----------------------------------------------------------------------------


def test_a_condition_records_its_choice_and_skips_the_other_branch() -> None:
    run = _condition_run(3)
    run.complete_block("prep", 1, {"n": 3}, [], at(1))
    events = _checked(drain(run))
    assert names(events) == [
        "BlockCompleted",  # prep
        "BlockScheduled",  # check, inline
        "BlockCompleted",  # check, with its choice
        "BlockSkipped",  # small: not chosen
        "BlockSkipped",  # after_small: its need was skipped
        "BlockScheduled",  # big
    ]
    assert events[1][1]["execution"] == "inline"
    assert events[2][1] == {
        "block": "check",
        "attempt": 1,
        "output": {"branch": "then", "chosen": ["big"]},
        "logs": [],
        "at": at(1),
    }
    assert [data["block"] for name, data in events if name == "BlockSkipped"] == [
        "small",
        "after_small",
    ]
    assert events[5][1]["block"] == "big"

    # The none_failed join runs once the chosen branch completes.
    run.complete_block("big", 1, {"size": "big"}, [], at(2))
    assert names(drain(run)) == [
        "BlockCompleted",
        "BlockScheduled",
        "BlockCompleted",
        "RunCompleted",
    ]
    assert run.status is RunStatus.COMPLETED
    assert run.block_statuses() == {
        "prep": "completed",
        "check": "completed",
        "big": "completed",
        "small": "skipped",
        "after_small": "skipped",
        "join": "completed",
    }
    assert run.output == {"join": None}


def test_a_false_condition_takes_the_else_branch() -> None:
    run = _condition_run(1)
    run.complete_block("prep", 1, {"n": 1}, [], at(1))
    assert run.blocks["check"]["output"] == {"branch": "else", "chosen": ["small"]}
    assert run.block_statuses()["big"] == "skipped"
    assert run.block_statuses()["small"] == "running"
    run.complete_block("small", 1, {}, [], at(2))
    assert run.status is RunStatus.COMPLETED
    assert run.block_statuses()["after_small"] == "completed"


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        (0, "then"),  # JMESPath: numbers are true, 0 too
        (1, "then"),
        ("x", "then"),
        ([0], "then"),
        ({"a": None}, "then"),
        (True, "then"),
        ("", "else"),
        ([], "else"),
        ({}, "else"),
        (False, "else"),
        (None, "else"),
    ],
)
def test_condition_truth_follows_jmespath(value: Any, branch: str) -> None:
    check = {**CHECK, "needs": [], "config": {**CHECK["config"], "if": "input.v"}}
    run = start_run(definition(check, BIG, SMALL), input={"v": value})
    assert run.blocks["check"]["output"]["branch"] == branch


def test_a_successor_that_no_branch_names_is_skipped() -> None:
    check = {**CHECK, "needs": [], "config": {"if": "`true`", "then": ["big"]}}
    unnamed = {"id": "unnamed", "type": "noop", "needs": ["check"], "trigger": "all_done"}
    run = start_run(definition(check, BIG, unnamed))
    assert run.block_statuses() == {"check": "completed", "big": "running", "unnamed": "skipped"}


def test_an_expression_error_in_a_router_fails_it_without_retry() -> None:
    check = {
        **CHECK,
        "needs": [],
        "config": {"if": "length(input.n)", "then": ["big"], "else": ["small"]},
        "retry": {"max_attempts": 3},
    }
    run = start_run(definition(check, BIG, SMALL), input={"n": 5})
    events = _checked(drain(run))
    assert names(events) == [
        "RunStarted",
        "BlockScheduled",
        "BlockFailed",
        "BlockSkipped",
        "BlockSkipped",
        "RunFailed",
    ]
    failed = events[2][1]
    assert (failed["error_type"], failed["will_retry"]) == ("EXPRESSION_ERROR", False)
    assert "length" in failed["message"]
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error["block"] == "check"


# ----- switch --------------------------------------------------------------------------------

ROUTE = {
    "id": "route",
    "type": "switch",
    "config": {
        "value": "input.kind",
        "cases": {"a": ["on_a"], "1": ["on_one"], "true": ["on_true"]},
        "default": ["fallback"],
    },
}
TARGETS = ("on_a", "on_one", "on_true", "fallback")


def _switch_run(kind: Any) -> Run:
    blocks = [{"id": t, "type": "noop", "needs": ["route"]} for t in TARGETS]
    return start_run(definition(ROUTE, *blocks), input={"kind": kind})


@pytest.mark.parametrize(
    ("kind", "case", "chosen"),
    [
        ("a", "a", "on_a"),
        (1, "1", "on_one"),  # compared as text
        ("1", "1", "on_one"),
        (True, "true", "on_true"),
        ("b", None, "fallback"),
        (None, None, "fallback"),
        (1.5, None, "fallback"),
    ],
)
def test_a_switch_chooses_the_case_equal_as_text_else_default(
    kind: Any, case: str | None, chosen: str
) -> None:
    run = _switch_run(kind)
    assert run.blocks["route"]["output"] == {
        "branch": "default" if case is None else "case",
        "case": case,
        "value": kind,
        "chosen": [chosen],
    }
    statuses = run.block_statuses()
    assert {t: statuses[t] for t in TARGETS} == {
        t: "completed" if t == chosen else "skipped" for t in TARGETS
    }
    assert run.status is RunStatus.COMPLETED


def test_a_switch_value_error_fails_the_block() -> None:
    route = {**ROUTE, "config": {**ROUTE["config"], "value": "abs(input.kind)"}}
    blocks = [{"id": t, "type": "noop", "needs": ["route"]} for t in TARGETS]
    run = start_run(definition(route, *blocks), input={"kind": "a"})
    assert run.blocks["route"]["error"]["type"] == "EXPRESSION_ERROR"
    assert set(run.block_statuses().values()) == {"failed", "skipped"}
    assert run.status is RunStatus.FAILED


# ----- reconstruction from stored events -----------------------------------------------------


def _drive(run: Run, step: int) -> None:
    if step == 0:
        run.complete_block("prep", 1, {"n": 1}, [], at(1))
    elif step == 1:
        run.complete_block("small", 1, {}, [], at(2))


@pytest.mark.parametrize("saved_after", [0, 1, 2])
def test_a_routed_run_rebuilt_from_its_events_has_the_same_state(saved_after: int) -> None:
    app: Application[Any] = Application()
    run = start_run(definition(PREP, CHECK, BIG, SMALL, AFTER_SMALL, JOIN), input={"n": 1}, now=T0)
    for step in range(saved_after):
        _drive(run, step)
    app.save(run)
    copy = app.repository.get(run.id)
    assert isinstance(copy, Run)
    assert _state(copy) == _state(run)
    # The vetoes come from the recorded choice, so the copy's are the original's.
    assert vetoes(copy.parsed_definition, copy.blocks) == vetoes(run.parsed_definition, run.blocks)
    for step in range(saved_after, 2):
        _drive(run, step)
        _drive(copy, step)
        assert drain(copy) == drain(run)
        assert _state(copy, ignore=("_modified_on",)) == _state(run, ignore=("_modified_on",))
    assert copy.status is RunStatus.COMPLETED
    assert copy.block_statuses()["big"] == "skipped"
