"""Ids the command service gives what a command creates without naming it."""

from __future__ import annotations

import re
import time
import uuid
from types import SimpleNamespace

import pytest

from contracts import ids, subjects
from contracts.commands import RUN_ID_PATTERN, StartRun, StartRuns, new_id
from contracts.errors import ErrorBody
from services.command.entrypoints.nats_handlers import parse_command


def test_new_ids_are_valid_run_ids_that_sort_in_the_order_they_were_given() -> None:
    ids = [new_id() for _ in range(5_000)]
    assert all(re.fullmatch(RUN_ID_PATTERN, i) and re.fullmatch("[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Several per millisecond here: the order holds within one too.
    assert ids == sorted(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert {uuid.UUID(i).variant for i in ids} == {uuid.RFC_4122}


def keep_generator_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the generator's last time and counter back after a test with a fake clock."""
    monkeypatch.setattr(ids, "_last_ms", ids._last_ms)
    monkeypatch.setattr(ids, "_last_counter", ids._last_counter)


def test_ids_given_by_the_thousand_per_millisecond_keep_the_clocks_time() -> None:
    before = time.time_ns() // 1_000_000
    given = [ids.uuid7_int() for _ in range(100_000)]
    after = time.time_ns() // 1_000_000
    assert given == sorted(set(given))
    # Counted within a millisecond, not pushed one millisecond ahead per id (uuid6's
    # way would put the last 100,000 ms, minus the loop's own time, ahead).
    assert before <= ids.time_ms(given[0]) <= ids.time_ms(given[-1]) <= after


def test_ids_stay_in_order_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    keep_generator_state(monkeypatch)
    clock = [time.time_ns() + 10**9]
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: clock[0]))
    first = ids.uuid7_int()
    clock[0] -= 5 * 10**9  # Five seconds back (an NTP step, say).
    second = ids.uuid7_int()
    assert second > first
    assert ids.time_ms(second) == ids.time_ms(first)


def test_a_counter_that_runs_out_moves_the_time_on_by_one_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep_generator_state(monkeypatch)
    now = time.time_ns() + 10**9
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: now))
    first = ids.uuid7_int()
    monkeypatch.setattr(ids, "_last_counter", ids._MAX_COUNTER)
    second = ids.uuid7_int()
    assert second > first
    assert ids.time_ms(second) == ids.time_ms(first) + 1


def test_starts_without_an_id_are_given_ids_in_the_order_they_arrived() -> None:
    one = parse_command(
        subjects.command_subject("t1", "run", "start"), b'{"workflow": "w"}', 1 << 20
    )
    batch = parse_command(
        subjects.command_subject("t1", "run", "start_batch"),
        b'{"workflow": "w", "runs": [{}, {"id": "mine"}, {}]}',
        1 << 20,
    )
    assert not isinstance(one, ErrorBody) and isinstance(one.command, StartRun)
    assert not isinstance(batch, ErrorBody) and isinstance(batch.command, StartRuns)
    first = one.command.id
    second, chosen, third = (body.id for body in batch.command.runs)
    assert chosen == "mine"  # A client's own id is kept.
    assert first is not None and second is not None and third is not None
    assert first < second < third
