"""The `workflows` read model, and its run counts per status.

`apply` is pure: the current row (or None) and one event in, the new row out;
`run_count_changes` says how one run's status change moves the counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at

table = Table(
    "workflows",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("description", String, nullable=True),
    Column("definition", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

workflow_run_counts = Table(
    "workflow_run_counts",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
)


def key(envelope: e.Envelope) -> tuple[str, str] | None:
    return (envelope.tenant, envelope.aggregate_id) if envelope.aggregate == "workflow" else None


RUN_STATUSES = (
    "queued",
    "running",
    "waiting",
    "paused",
    "blocked",
    "completed",
    "failed",
    "cancelled",
    "terminated",
)


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    if envelope.aggregate != "workflow":
        return row
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.WorkflowCreated):
        return {
            "tenant": envelope.tenant,
            "name": data.name,
            "version": data.version,
            "description": data.definition.get("description"),
            "definition": data.definition,
            "deleted": False,
            "created_at": at,
            "updated_at": at,
        }
    if row is None:
        return None
    if isinstance(data, e.WorkflowVersionSaved):
        return {
            **row,
            "version": data.version,
            "definition": data.definition,
            "description": data.definition.get("description"),
            "deleted": False,
            "updated_at": at,
        }
    if isinstance(data, e.WorkflowDeleted):
        return {**row, "deleted": True, "updated_at": at}
    return row  # Snapshot events belong to the snapshots read model.


def run_count_changes(old_status: str | None, new_status: str | None) -> dict[str, int]:
    """{status: delta} for one run moving from old to new status (None: absent)."""
    if old_status == new_status:
        return {}
    changes: dict[str, int] = {}
    if old_status:
        changes[old_status] = -1
    if new_status:
        changes[new_status] = changes.get(new_status, 0) + 1
    return changes
