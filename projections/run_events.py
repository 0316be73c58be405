"""The `run_events` read model: every event of every run, in stream order (a run's history).

Rows are immutable: `apply` writes one row per event and never changes it afterwards.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import rfc3339

# Each event makes a new row: the store need not look for an existing one.
APPEND_ONLY = True

table = Table(
    "run_events",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    # The stream position: the order of the history, and its paging cursor.
    Column("position", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("occurred_at", String(40), nullable=False),
)


def key(envelope: e.Envelope) -> tuple[str, str, int] | None:
    if envelope.aggregate != "run":
        return None
    return (envelope.tenant, envelope.aggregate_id, envelope.position)


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    if envelope.aggregate != "run" or row is not None:
        return row
    return {
        "tenant": envelope.tenant,
        "run_id": envelope.aggregate_id,
        "position": envelope.position,
        "type": envelope.type,
        "data": envelope.data,
        "occurred_at": rfc3339(envelope.occurred_at),
    }
