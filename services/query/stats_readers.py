"""Operational statistics from the read models: the queue, and each workflow's runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from statistics import quantiles
from typing import Any

from sqlalchemy import Engine, func, select

from contracts.errors import ErrorType, FlowledgerError
from projections import runs, workflows
from projections.timefmt import rfc3339
from projections.workflows import RUN_STATUSES

# Durations are taken over this many most recent ended runs.
DURATION_SAMPLE = 10_000


def _seconds(start: str, end: str) -> float:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


class StatsReaders:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def _counts(self, conn: Any, *where: Any) -> dict[str, int]:
        table = runs.table
        rows = conn.execute(
            select(table.c.status, func.count()).where(*where).group_by(table.c.status)
        )
        counts = dict.fromkeys(RUN_STATUSES, 0)
        counts.update({status: int(n) for status, n in rows})
        return counts

    def queue_stats(self, tenant: str) -> dict[str, Any]:
        """Runs by status, and how long the oldest queued run has waited."""
        table = runs.table
        with self.engine.connect() as conn:
            counts = self._counts(conn, table.c.tenant == tenant)
            oldest = conn.execute(
                select(func.min(table.c.created_at)).where(
                    table.c.tenant == tenant, table.c.status == "queued"
                )
            ).scalar()
        now = self.clock()
        age = _seconds(oldest, rfc3339(now)) if oldest else None
        return {"counts": counts, "oldest_queued_age_seconds": age, "at": rfc3339(now)}

    def workflow_stats(self, tenant: str, name: str) -> dict[str, Any]:
        """Run counts, success rate of ended runs, duration percentiles of completed ones."""
        table = runs.table
        with self.engine.connect() as conn:
            found = conn.execute(
                select(workflows.table.c.name).where(
                    workflows.table.c.tenant == tenant,
                    workflows.table.c.name == name,
                    workflows.table.c.deleted.is_(False),
                )
            ).first()
            if found is None:
                raise FlowledgerError(
                    ErrorType.WORKFLOW_NOT_FOUND, f"no workflow named {name!r}", workflow=name
                )
            counts = self._counts(conn, table.c.tenant == tenant, table.c.workflow == name)
            ended = conn.execute(
                select(table.c.created_at, table.c.ended_at)
                .where(
                    table.c.tenant == tenant,
                    table.c.workflow == name,
                    table.c.status == "completed",
                    table.c.ended_at.is_not(None),
                )
                .order_by(table.c.ended_at.desc())
                .limit(DURATION_SAMPLE)
            ).all()
        finished = sum(counts[s] for s in ("completed", "failed", "cancelled", "terminated"))
        durations = sorted(_seconds(start, end) for start, end in ended)
        percentiles: dict[str, float] | None = None
        if durations:
            cuts = (
                quantiles(durations, n=100, method="inclusive")
                if len(durations) > 1
                else ([durations[0]] * 99)
            )
            percentiles = {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": durations[-1]}
        return {
            "workflow": name,
            "counts": counts,
            "success_rate": counts["completed"] / finished if finished else None,
            "duration_seconds": percentiles,
            "sample": len(durations),
        }
