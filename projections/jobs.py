"""The `jobs` read model: each background job's status and counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at

table = Table(
    "jobs",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("chunks_done", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("not_found", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("ended_at", String(40), nullable=True),
)


def key(envelope: e.Envelope) -> tuple[str, str] | None:
    return (envelope.tenant, envelope.aggregate_id) if envelope.aggregate == "job" else None


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.JobCreated):
        return {
            "tenant": envelope.tenant,
            "id": data.job_id,
            "kind": data.kind,
            "status": "running",
            "total": len(data.ids),
            "chunks": (len(data.ids) + data.chunk_size - 1) // data.chunk_size,
            "chunks_done": 0,
            "done": 0,
            "skipped": 0,
            "not_found": 0,
            "created_at": at,
            "updated_at": at,
            "ended_at": None,
        }
    if row is None:
        return None
    if isinstance(data, e.JobChunkDone):
        return {
            **row,
            "chunks_done": row["chunks_done"] + 1,
            "done": row["done"] + data.done,
            "skipped": row["skipped"] + data.skipped,
            "not_found": row["not_found"] + data.not_found,
            "updated_at": at,
        }
    if isinstance(data, e.JobCompleted):
        return {**row, "status": "completed", "updated_at": at, "ended_at": at}
    return row
