"""Shared builders for the unit tests: fixed times, definitions, runs, events, envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.definitions import WorkflowDefinition
from contracts.events import EVENT_TYPES, Envelope
from services.command.domain.run import Run

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# What eventsourcing adds to every stored event; the rest is the contract's data.
_ES_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def at(seconds: float) -> datetime:
    """A fixed moment `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def definition(*blocks: dict[str, Any], **extra: Any) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate({"blocks": list(blocks), **extra})


def start_run(
    defn: WorkflowDefinition,
    *,
    run_id: str = "run-1",
    input: dict[str, Any] | None = None,
    now: datetime = T0,
    saved: dict[str, Any] | None = None,
) -> Run:
    return Run.start(
        tenant="acme",
        run_id=run_id,
        workflow="wf",
        version=1,
        definition=defn,
        input=input or {},
        metadata={"origin": "unit"},
        now=now,
        saved=saved,
    )


def event_data(domain_event: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(domain_event).items() if k not in _ES_FIELDS}


def drain(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """Collect the run's pending events as (type name, contract data), oldest first."""
    return [(type(ev).__name__, event_data(ev)) for ev in run.collect_events()]


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def envelope(
    type_: str,
    data: dict[str, Any],
    *,
    position: int,
    aggregate_id: str = "run-1",
    tenant: str = "acme",
    version: int | None = None,
) -> Envelope:
    """An Envelope whose data is checked against the contract model first."""
    model = EVENT_TYPES[type_]
    model.model_validate(data)
    return Envelope(
        id=str(uuid.uuid4()),
        type=type_,
        occurred_at=data["at"],
        tenant=tenant,
        aggregate=model.AGGREGATE,
        aggregate_id=aggregate_id,
        aggregate_version=version if version is not None else position,
        position=position,
        data=data,
    )
