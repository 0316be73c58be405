"""The `runs` read model: one row per run, with its blocks' status, attempts and timings.

`apply` is pure: the current row (or None) and one event in, the new row out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from contracts import events as e
from projections.tables import metadata
from projections.timefmt import event_at, rfc3339

table = Table(
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


def key(envelope: e.Envelope) -> tuple[str, str] | None:
    return (envelope.tenant, envelope.aggregate_id) if envelope.aggregate == "run" else None


def creates(envelope: e.Envelope) -> bool:
    """A run's row is made by its start (run ids are never reused)."""
    return envelope.type == "RunStarted"


TERMINAL = {"completed", "failed", "cancelled", "terminated"}
OPEN_BLOCK = {"pending", "running", "waiting"}


def _block(row: dict[str, Any], block_id: str) -> dict[str, Any]:
    """A block of the new row, to change: copied first, as the row before is not to
    change (only the blocks an event changes are copied)."""
    blocks: dict[str, dict[str, Any]] = row["blocks"]
    block = blocks[block_id] = dict(blocks[block_id])
    return block


def _open_blocks(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [_block(row, bid) for bid, b in list(row["blocks"].items()) if b["status"] in OPEN_BLOCK]


def apply(row: dict[str, Any] | None, envelope: e.Envelope) -> dict[str, Any] | None:
    if envelope.aggregate != "run":
        return row
    data = envelope.parsed
    at = event_at(envelope)
    if isinstance(data, e.RunStarted):
        return {
            "tenant": envelope.tenant,
            "id": data.run_id,
            "workflow": data.workflow,
            "version": data.version,
            "status": data.status,
            "input": data.input,
            "output": None,
            "error": None,
            "metadata": data.metadata,
            "blocks": {
                b["id"]: {"id": b["id"], "type": b["type"], "status": "pending", "attempts": 0}
                for b in data.definition["blocks"]
            },
            "created_at": at,
            "updated_at": at,
            "ended_at": None,
            "position": envelope.position,
        }
    if row is None:  # An event of a run this read model never saw start: nothing to do.
        return None
    row = {**row, "blocks": dict(row["blocks"])}
    row["updated_at"] = at
    row["position"] = envelope.position
    if isinstance(data, e.BlockScheduled):
        block = _block(row, data.block)
        block.update(status="running", attempts=data.attempt, scheduled_at=at)
        # A new attempt: forget the previous attempt's timings, worker and error.
        for stale in ("started_at", "ended_at", "worker", "error", "wake_at"):
            block.pop(stale, None)
    elif isinstance(data, e.BlockStarted):
        _block(row, data.block).update(started_at=at, worker=data.worker)
    elif isinstance(data, e.BlockCompleted):
        _block(row, data.block).update(status="completed", ended_at=at, output=data.output)
    elif isinstance(data, e.BlockFailed):
        _block(row, data.block).update(
            status="waiting" if data.will_retry else "failed",
            ended_at=at,
            error={"type": data.error_type, "message": data.message},
        )
    elif isinstance(data, e.BlockSkipped):
        _block(row, data.block).update(status="skipped", ended_at=at)
    elif isinstance(data, e.TimerStarted):
        _block(row, data.block).update(status="waiting", wake_at=rfc3339(data.fire_at))
    elif isinstance(data, e.EventAwaited):
        _block(row, data.block).update(status="waiting", awaiting=data.event_type)
    elif isinstance(data, e.EventReceived) and data.block is not None:
        _block(row, data.block)["awaiting"] = None
    elif isinstance(data, (e.RunRetried, e.RunRestarted)):
        again = ("failed", "skipped", "cancelled") if isinstance(data, e.RunRetried) else None
        row.update(status="running", ended_at=None, error=None)
        if isinstance(data, e.RunRestarted):
            row["output"] = None
        for bid, old in list(row["blocks"].items()):
            if again is None or old["status"] in again:
                block = _block(row, bid)
                kept = {k: block[k] for k in ("id", "type", "attempts")}
                block.clear()
                block.update(kept, status="pending")
    elif isinstance(data, e.RunRolledBack):
        row.update(status="paused", ended_at=None, error=None, output=None)
        for bid in data.reset:
            block = _block(row, bid)
            kept = {k: block[k] for k in ("id", "type", "attempts")}
            block.clear()
            block.update(kept, status="pending")
    elif isinstance(data, e.RunStatusChanged):
        row["status"] = data.status
    elif isinstance(data, e.RunCompleted):
        row.update(status="completed", output=data.output, ended_at=at)
    elif isinstance(data, e.RunFailed):
        row.update(status="failed", error=data.error, ended_at=at)
        for block in _open_blocks(row):  # Open only when the run timed out.
            block.update(status="cancelled", ended_at=at)
    elif isinstance(data, (e.RunCancelled, e.RunTerminated)):
        status = "cancelled" if isinstance(data, e.RunCancelled) else "terminated"
        row.update(status=status, ended_at=at)
        for block in _open_blocks(row):
            block.update(status="cancelled", ended_at=at)
    return row
