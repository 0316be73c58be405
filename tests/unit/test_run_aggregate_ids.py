"""Where a run is stored: its aggregate id, derived from its tenant and run id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.commands import new_id
from services.command.domain.run import (
    earlier_run_aggregate_id,
    may_be_stored_earlier,
    run_aggregate_id,
)
from tests.support.builders import uuid7_hex


def test_a_run_id_that_is_not_a_uuid7_keeps_the_aggregate_id_it_always_had() -> None:
    # Runs already stored are found by this: it must never change.
    assert str(run_aggregate_id("acme", "run-1")) == "e61d7d84-1395-5166-8f7e-1f3a3ccfd199"
    assert earlier_run_aggregate_id("acme", "run-1") is None
    assert not may_be_stored_earlier("run-1")
    uuid4_hex = uuid.uuid4().hex  # What the command service gave before.
    assert earlier_run_aggregate_id("acme", uuid4_hex) is None


def test_runs_given_ids_in_order_are_stored_in_the_order_of_their_time() -> None:
    run_ids = [new_id() for _ in range(2_000)]
    aggregate_ids = [run_aggregate_id("acme", i).hex for i in run_ids]
    # Led by the run id's millisecond (ids of the same one share its last index pages,
    # in the order of their hash).
    led_by = [a[:12] for a in aggregate_ids]
    assert led_by == [i[:12] for i in run_ids]
    assert led_by == sorted(led_by)
    assert len(set(aggregate_ids)) == len(run_ids)


def test_the_tenant_still_tells_runs_of_the_same_id_apart() -> None:
    run_id = new_id()
    assert run_aggregate_id("acme", run_id) != run_aggregate_id("other", run_id)


def test_a_uuid7_run_is_stored_under_its_time_then_the_hash_it_had_before() -> None:
    run_id = "019ae3f0a1b27c3d8e4f5a6b7c8d9e0f"  # A UUIDv7 of 2025-12-01.
    # Where an earlier version stored it, and where this one does: the same hash, now
    # led by the id's own time.
    assert str(earlier_run_aggregate_id("acme", run_id)) == "a93914f8-277f-5cec-bb8c-2b73eb31c0ab"
    assert str(run_aggregate_id("acme", run_id)) == "019ae3f0-a1b2-5cec-bb8c-2b73eb31c0ab"


def test_only_a_start_with_an_id_from_before_this_version_looks_where_it_was_stored() -> None:
    assert may_be_stored_earlier(uuid7_hex(datetime(2026, 11, 30, tzinfo=UTC)))
    assert not may_be_stored_earlier(uuid7_hex(datetime(2026, 12, 24, tzinfo=UTC)))
