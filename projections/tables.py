"""The read store's schema: every read model's tables on one MetaData."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, Integer, MetaData, String, Table

metadata = MetaData()

# How far each projection has applied the event stream, written in the same transaction.
positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

workflows = Table(
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

runs = Table(
    "runs",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("input", JSON, nullable=False),
    Column("output", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    Column("metadata", JSON, nullable=False),
    Column("blocks", JSON, nullable=False),
    # RFC 3339 strings with a fixed width sort in time order on every backend.
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("ended_at", String(40), nullable=True),
    Column("position", Integer, nullable=False),
    Index("runs_by_created", "tenant", "created_at", "id"),
    Index("runs_by_workflow", "tenant", "workflow", "created_at", "id"),
    Index("runs_by_status", "tenant", "status", "created_at", "id"),
)
