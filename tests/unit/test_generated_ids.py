"""Ids the command service gives what a command creates without naming it."""

from __future__ import annotations

import re

from contracts import subjects
from contracts.commands import RUN_ID_PATTERN, StartRun, StartRuns, new_id
from contracts.errors import ErrorBody
from services.command.entrypoints.nats_handlers import parse_command


def test_new_ids_are_valid_run_ids_that_sort_in_the_order_they_were_given() -> None:
    ids = [new_id() for _ in range(5_000)]
    assert all(re.fullmatch(RUN_ID_PATTERN, i) and re.fullmatch("[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Several per millisecond here: the order holds within one too.
    assert ids == sorted(ids)


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
