"""Runs with UUIDv7 ids on both event stores: stored under their time-led aggregate id, and
still found where an earlier version stored them (under the plain hash)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.commands import CancelRun, Command, PutWorkflow, StartRun, new_id
from contracts.errors import ErrorBody
from contracts.replies import Accepted
from services.command.application import CommandProcessor, Envelope
from services.command.bootstrap import build_application
from services.command.domain.run import earlier_run_aggregate_id, run_aggregate_id
from services.command.domain.run_state import RunState
from tests.support.builders import definition, uuid7_hex
from tests.support.event_store import now, stored_runs

# Pinned definitions are cached per process by workflow id and version: a tenant of its
# own keeps another test's "wf" version 1 out of this one.
TENANT = "ids"
ONE_BLOCK = {"blocks": [{"id": "a", "type": "set", "config": {"values": {"x": 1}}}]}


def process(processor: CommandProcessor, *commands: Command) -> list[Accepted | ErrorBody]:
    return processor.process([Envelope(TENANT, command) for command in commands])


def test_a_run_is_stored_under_its_time_led_id(store_url: str) -> None:
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    try:
        run_id = new_id()
        replies = process(
            processor,
            PutWorkflow(name="wf", definition=definition(ONE_BLOCK)),
            StartRun(workflow="wf", id=run_id),
        )
        assert all(isinstance(reply, Accepted) for reply in replies)
    finally:
        app.close()
    [run] = stored_runs(store_url, run_aggregate_id(TENANT, run_id))
    assert run.run_id == run_id


def test_a_run_an_earlier_version_stored_is_still_found_and_its_id_still_taken(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = uuid7_hex(datetime(2026, 11, 30, tzinfo=UTC))  # Given before this version.
    app = build_application(store_url)
    processor = CommandProcessor(app, now)
    try:
        # Started the way an earlier version stored it: under the plain hash.
        with monkeypatch.context() as patched:
            patched.setattr(RunState, "create_id", staticmethod(earlier_run_aggregate_id))
            replies = process(
                processor,
                PutWorkflow(name="wf", definition=definition(ONE_BLOCK)),
                StartRun(workflow="wf", id=run_id),
            )
        assert all(isinstance(reply, Accepted) for reply in replies)
        # A fresh processor: nothing of it cached.
        app.close()
        app = build_application(store_url)
        processor = CommandProcessor(app, now)

        [again] = process(processor, StartRun(workflow="wf", id=run_id))
        assert isinstance(again, ErrorBody) and again.error.type == "RUN_ALREADY_EXISTS"
        [cancelled] = process(processor, CancelRun(run_id=run_id, reason="found"))
        assert isinstance(cancelled, Accepted), cancelled
    finally:
        app.close()
    earlier = earlier_run_aggregate_id(TENANT, run_id)
    assert earlier is not None
    [run] = stored_runs(store_url, earlier)
    assert run.status.value == "cancelled"
