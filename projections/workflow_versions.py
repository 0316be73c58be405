"""The `workflow_versions` read model: every version of every workflow, immutable."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at

# Each version makes a new row: the store need not look for an existing one.
APPEND_ONLY = True

table = Table(
    "workflow_versions",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("cause", String(16), nullable=False),
    Column("based_on", Integer, nullable=True),
    Column("created_at", String(40), nullable=False),
)


def key(envelope: e.Envelope) -> tuple[str, str, int] | None:
    if envelope.type == "WorkflowCreated" or envelope.type == "WorkflowVersionSaved":
        return (envelope.tenant, envelope.aggregate_id, int(envelope.data["version"]))
    return None


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    data = envelope.parsed
    if isinstance(data, e.WorkflowCreated):
        cause, based_on = "create", None
    elif isinstance(data, e.WorkflowVersionSaved):
        cause, based_on = data.cause, data.based_on
    else:
        return row
    return {
        "tenant": envelope.tenant,
        "workflow": envelope.aggregate_id,
        "version": data.version,
        "definition": data.definition,
        "cause": cause,
        "based_on": based_on,
        "created_at": event_at(envelope),
    }
