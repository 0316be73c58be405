"""The Run aggregate settling parallel and sleep_until, and the data blocks' default rows."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.events import EVENT_TYPES
from contracts.subjects import timer_id
from services.command.domain.status import RunStatus
from tests.unit.helpers import at, definition, drain, names, start_run


def _checked(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    for name, data in events:
        EVENT_TYPES[name].model_validate(data)
    return events


# ----- parallel and sleep_until --------------------------------------------------------------


def test_parallel_completes_at_once_and_its_successors_start_together() -> None:
    run = start_run(
        definition(
            {"id": "fan", "type": "parallel"},
            {"id": "a", "type": "set", "needs": ["fan"], "config": {"values": {}}},
            {"id": "b", "type": "set", "needs": ["fan"], "config": {"values": {}}},
        )
    )
    events = _checked(drain(run))
    assert names(events) == [
        "RunStarted",
        "BlockScheduled",
        "BlockCompleted",
        "BlockScheduled",
        "BlockScheduled",
    ]
    assert events[2][1]["output"] is None
    assert run.block_statuses() == {"fan": "completed", "a": "running", "b": "running"}


def test_sleep_until_a_future_time_waits_on_a_timer_until_then() -> None:
    wake = {"id": "wake", "type": "sleep_until", "config": {"until": "${input.at}"}}
    run = start_run(definition(wake), input={"at": "2024-03-01T14:00:00+01:00"}, now=at(0))
    events = _checked(drain(run))
    assert names(events) == ["RunStarted", "BlockScheduled", "TimerStarted", "RunStatusChanged"]
    assert events[1][1]["execution"] == "timer"
    assert events[1][1]["config"] == {"until": "2024-03-01T14:00:00+01:00"}
    assert events[2][1] == {
        "block": "wake",
        "attempt": 1,
        "purpose": "sleep",
        "timer_id": timer_id("run-1", "wake", 1, "sleep"),
        "fire_at": at(3600),  # 14:00+01:00 is 13:00Z, T0 + 1 h
        "at": at(0),
    }
    assert run.status is RunStatus.WAITING
    assert run.fire_timer("wake", 1, "sleep", at(3600)) is True
    assert run.status is RunStatus.COMPLETED


@pytest.mark.parametrize("until", ["2024-03-01T11:00:00Z", "2024-03-01T12:00:00Z"])
def test_sleep_until_a_time_already_past_completes_at_once(until: str) -> None:
    run = start_run(definition({"id": "wake", "type": "sleep_until", "config": {"until": until}}))
    assert names(drain(run)) == ["RunStarted", "BlockScheduled", "BlockCompleted", "RunCompleted"]
    assert run.status is RunStatus.COMPLETED


@pytest.mark.parametrize("value", ["tomorrow", "2024-03-01T13:00:00", 17, None])
def test_sleep_until_a_value_that_is_no_rfc3339_time_fails(value: Any) -> None:
    wake = {"id": "wake", "type": "sleep_until", "config": {"until": "${input.at}"}}
    run = start_run(definition(wake), input={"at": value})
    failed = dict(drain(run))["BlockFailed"]
    assert (failed["error_type"], failed["will_retry"]) == ("INVALID_CONFIG", False)
    assert run.status is RunStatus.FAILED


# ----- data blocks: the default rows --------------------------------------------------------


def test_a_data_block_without_rows_reads_its_only_need() -> None:
    run = start_run(
        definition(
            {"id": "load-it", "type": "data.source", "config": {"rows": [{"a": 1}]}},
            {"id": "keep", "type": "data.filter", "needs": ["load-it"], "config": {"where": "a"}},
            {
                "id": "pick",
                "type": "data.sort",
                "needs": ["load-it"],
                "config": {"rows": "input.r", "by": ["a"]},
            },
        )
    )
    drain(run)
    run.complete_block("load-it", 1, [{"a": 1}], [], at(1))
    scheduled = {d["block"]: d for n, d in drain(run) if n == "BlockScheduled"}
    assert scheduled["keep"]["config"] == {"rows": 'blocks."load-it".output', "where": "a"}
    assert scheduled["keep"]["context"]["blocks"]["load-it"]["output"] == [{"a": 1}]
    # A `rows` given in the definition is kept.
    assert scheduled["pick"]["config"]["rows"] == "input.r"


def test_a_data_block_with_several_needs_and_no_rows_leaves_it_to_the_worker() -> None:
    run = start_run(
        definition(
            {"id": "a", "type": "noop"},
            {"id": "b", "type": "noop"},
            {"id": "keep", "type": "data.filter", "needs": ["a", "b"], "config": {"where": "x"}},
        )
    )
    scheduled = [d for n, d in drain(run) if n == "BlockScheduled" and d["block"] == "keep"]
    assert scheduled[0]["config"] == {"rows": None, "where": "x"}
