"""The `workflows` read model, and its run counts per status.

`apply` is pure: the current row (or None) and one event in, the new row out;
`run_count_changes` says how one run's status change moves the counts.
"""

from __future__ import annotations

from typing import Any

from contracts import events as e
from projections.timefmt import rfc3339

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
    data = envelope.parsed()
    at = rfc3339(data.at)
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
    return row


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
