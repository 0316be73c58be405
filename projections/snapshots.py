"""The `snapshots` read model: named, tagged copies of a workflow's definition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at

table = Table(
    "snapshots",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("favourite", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

_EVENTS = ("SnapshotCreated", "SnapshotUpdated", "SnapshotDeleted")


def key(envelope: e.Envelope) -> tuple[str, str, str] | None:
    if envelope.type in _EVENTS:
        return (envelope.tenant, envelope.aggregate_id, str(envelope.data["snapshot_id"]))
    return None


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    """None for a deleted snapshot."""
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.SnapshotCreated):
        return {
            "tenant": envelope.tenant,
            "workflow": envelope.aggregate_id,
            "id": data.snapshot_id,
            "name": data.name,
            "tags": data.tags,
            "favourite": False,
            "version": data.version,
            "definition": data.definition,
            "created_at": at,
            "updated_at": at,
        }
    if isinstance(data, e.SnapshotUpdated) and row is not None:
        return {
            **row,
            "name": data.name,
            "tags": data.tags,
            "favourite": data.favourite,
            "updated_at": at,
        }
    if isinstance(data, e.SnapshotDeleted):
        return None
    return row
