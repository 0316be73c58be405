"""Read-model queries about one run's past: its events, its block attempts, its checkpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select

from contracts.api import (
    BlockAttemptView,
    CheckpointPage,
    CheckpointView,
    RunEventView,
    RunHistoryPage,
    RunLogPage,
)
from contracts.errors import ErrorType, FlowledgerError
from projections import block_attempts, run_events, runs
from projections.block_attempts import duration_ms
from services.query.paging import encode_cursor

# A run stopped from outside leaves its open attempts as they were: they ended with it.
_STOPPED = frozenset({"cancelled", "terminated"})
_OPEN = frozenset({"running", "waiting"})


class HistoryReaders:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _find_run(self, conn: Connection, tenant: str, run_id: str) -> dict[str, Any] | None:
        table = runs.table
        row = (
            conn.execute(
                select(table.c.status, table.c.ended_at).where(
                    table.c.tenant == tenant, table.c.id == run_id
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    def _run(self, conn: Connection, tenant: str, run_id: str) -> dict[str, Any]:
        found = self._find_run(conn, tenant, run_id)
        if found is None:
            raise FlowledgerError(ErrorType.RUN_NOT_FOUND, f"no run {run_id!r}", run_id=run_id)
        return found

    def get_run_status(self, tenant: str, run_id: str) -> str:
        with self.engine.connect() as conn:
            return str(self._run(conn, tenant, run_id)["status"])

    def list_history(self, tenant: str, run_id: str, limit: int, after: int) -> RunHistoryPage:
        """The run's events after position `after`, oldest first."""
        table = run_events.table
        mine = (table.c.tenant == tenant, table.c.run_id == run_id)
        with self.engine.connect() as conn:
            self._run(conn, tenant, run_id)
            total = conn.execute(select(func.count()).select_from(table).where(*mine)).scalar()
            rows = list(
                conn.execute(
                    select(table)
                    .where(*mine, table.c.position > after)
                    .order_by(table.c.position)
                    .limit(limit + 1)
                ).mappings()
            )
        more = len(rows) > limit
        items = [_event(r) for r in rows[:limit]]
        return RunHistoryPage(
            items=items,
            total=int(total or 0),
            next_cursor=encode_cursor([items[-1].position]) if more else None,
        )

    def events_after(
        self, tenant: str, run_id: str, after: int, limit: int
    ) -> tuple[str | None, list[RunEventView]]:
        """The run's status (None: gone), then its events after `after`, oldest first.

        The status is read first: a terminal status seen here means every event up to the
        run's end was committed with it, so the events read next include them all.
        """
        table = run_events.table
        with self.engine.connect() as conn:
            run = self._find_run(conn, tenant, run_id)
            rows = conn.execute(
                select(table)
                .where(table.c.tenant == tenant, table.c.run_id == run_id, table.c.position > after)
                .order_by(table.c.position)
                .limit(limit)
            ).mappings()
            return (run["status"] if run else None), [_event(r) for r in rows]

    def list_logs(self, tenant: str, run_id: str) -> RunLogPage:
        """One entry per block attempt, in the order they were scheduled."""
        table = block_attempts.table
        with self.engine.connect() as conn:
            run = self._run(conn, tenant, run_id)
            rows = conn.execute(
                select(table)
                .where(table.c.tenant == tenant, table.c.run_id == run_id)
                .order_by(table.c.scheduled_position)
            ).mappings()
            items = [_attempt(dict(r), run) for r in rows]
        return RunLogPage(items=items, total=len(items))

    def list_checkpoints(self, tenant: str, run_id: str) -> CheckpointPage:
        """One per completed block, in the order they completed."""
        table = block_attempts.table
        with self.engine.connect() as conn:
            self._run(conn, tenant, run_id)
            rows = conn.execute(
                select(table)
                .where(
                    table.c.tenant == tenant,
                    table.c.run_id == run_id,
                    table.c.status == "completed",
                )
                .order_by(table.c.completed_position)
            ).mappings()
            items = [
                CheckpointView(
                    id=str(r["completed_position"]),
                    block=r["block"],
                    attempt=r["attempt"],
                    completed_at=r["ended_at"],
                    output=r["output"],
                )
                for r in rows
            ]
        return CheckpointPage(items=items, total=len(items))


def _event(row: Any) -> RunEventView:
    return RunEventView(
        position=row["position"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        data=row["data"],
    )


def _attempt(row: dict[str, Any], run: dict[str, Any]) -> BlockAttemptView:
    if row["status"] in _OPEN and run["status"] in _STOPPED and run["ended_at"]:
        began = row["started_at"] or row["scheduled_at"]
        row.update(
            status="cancelled",
            ended_at=run["ended_at"],
            duration_ms=duration_ms(began, run["ended_at"]),
        )
    return BlockAttemptView(**{k: row[k] for k in BlockAttemptView.model_fields})
