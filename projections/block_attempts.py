"""The `block_attempts` read model: one row per attempt of a run's block (its execution log).

Also the run's checkpoints: an attempt that completed keeps its output and the position of
its `BlockCompleted`, which is the checkpoint's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at

table = Table(
    "block_attempts",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("block", String(128), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled_at", String(40), nullable=False),
    Column("started_at", String(40), nullable=True),
    Column("ended_at", String(40), nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("worker", String(128), nullable=True),
    Column("logs", JSON, nullable=False),
    Column("output", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    # Positions of the attempt's BlockScheduled (the log's order) and BlockCompleted (the
    # checkpoint's id; None unless it completed).
    Column("scheduled_position", Integer, nullable=False),
    Column("completed_position", Integer, nullable=True),
    Index("block_attempts_by_schedule", "tenant", "run_id", "scheduled_position"),
)

# The events about one attempt; each carries its `block` and `attempt`.
_ATTEMPT_EVENTS = frozenset(
    {"BlockScheduled", "BlockStarted", "BlockCompleted", "BlockFailed", "TimerStarted"}
)
# Statuses an attempt keeps once reached: later reports (a stale timer, say) change nothing.
ENDED = frozenset({"completed", "failed"})


def key(envelope: e.Envelope) -> tuple[str, str, str, int] | None:
    if envelope.aggregate != "run" or envelope.type not in _ATTEMPT_EVENTS:
        return None
    data = envelope.data
    return (envelope.tenant, envelope.aggregate_id, str(data["block"]), int(data["attempt"]))


def creates(envelope: e.Envelope) -> bool:
    """An attempt's row is made when it is scheduled, which happens once per attempt."""
    return envelope.type == "BlockScheduled"


def duration_ms(start: str, end: str) -> int:
    """Milliseconds between two stored RFC 3339 times."""
    elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(elapsed.total_seconds() * 1000)


def _end(row: dict[str, Any], status: str, at: str) -> dict[str, Any]:
    # Inline and timer blocks never start on a worker: their time counts from scheduling.
    began = row["started_at"] or row["scheduled_at"]
    return {**row, "status": status, "ended_at": at, "duration_ms": duration_ms(began, at)}


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    if envelope.aggregate != "run" or envelope.type not in _ATTEMPT_EVENTS:
        return row
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.BlockScheduled):
        if row is not None:  # An attempt is scheduled once; keep what is known of it.
            return row
        return {
            "tenant": envelope.tenant,
            "run_id": envelope.aggregate_id,
            "block": data.block,
            "attempt": data.attempt,
            "type": data.type,
            "status": "running",
            "scheduled_at": at,
            "started_at": None,
            "ended_at": None,
            "duration_ms": None,
            "worker": None,
            "logs": [],
            "output": None,
            "error": None,
            "scheduled_position": envelope.position,
            "completed_position": None,
        }
    if row is None or row["status"] in ENDED:
        return row
    if isinstance(data, e.BlockStarted):
        return {**row, "started_at": at, "worker": data.worker}
    if isinstance(data, e.BlockCompleted):
        return {
            **_end(row, "completed", at),
            "logs": list(data.logs),
            "output": data.output,
            "completed_position": envelope.position,
        }
    if isinstance(data, e.BlockFailed):
        return {
            **_end(row, "failed", at),
            "logs": list(data.logs),
            "error": {"type": data.error_type, "message": data.message},
        }
    if isinstance(data, e.TimerStarted):
        # A sleep or an event's timeout; a retry's backoff timer follows a failure (ended).
        return {**row, "status": "waiting"}
    return row
