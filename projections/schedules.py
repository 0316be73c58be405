"""The `schedules` read model: each schedule, whether it is on, and what its fires did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at, rfc3339

table = Table(
    "schedules",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("input", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("overlap", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    # When it was last armed: an interval counts from there.
    Column("armed_at", String(40), nullable=True),
    Column("fires", Integer, nullable=False),
    Column("last_fired_at", String(40), nullable=True),
    Column("last_action", String(32), nullable=True),
    Column("last_run_id", String(128), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


def key(envelope: e.Envelope) -> tuple[str, str] | None:
    return (envelope.tenant, envelope.aggregate_id) if envelope.aggregate == "schedule" else None


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.ScheduleCreated):
        return {
            "tenant": envelope.tenant,
            "id": data.schedule_id,
            "workflow": data.workflow,
            "spec": data.spec,
            "input": data.input,
            "metadata": data.metadata,
            "overlap": data.overlap,
            "enabled": False,
            "deleted": False,
            "armed_at": None,
            "fires": 0,
            "last_fired_at": None,
            "last_action": None,
            "last_run_id": None,
            "created_at": at,
            "updated_at": at,
        }
    if row is None:
        return None
    row = {**row, "updated_at": at}
    if isinstance(data, e.ScheduleUpdated):
        row.update(spec=data.spec, input=data.input, metadata=data.metadata, overlap=data.overlap)
    elif isinstance(data, e.ScheduleArmed):
        row.update(enabled=True, armed_at=at)
    elif isinstance(data, e.ScheduleDisarmed):
        row.update(enabled=False, deleted=data.deleted)
    elif isinstance(data, e.ScheduleFired):
        row.update(
            fires=row["fires"] + 1,
            last_fired_at=rfc3339(data.fired_at),
            last_action=data.action,
            last_run_id=data.run_id or row["last_run_id"],
        )
    return row
