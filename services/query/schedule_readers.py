"""Read-model queries about schedules, with their next fire times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from contracts.api import SchedulePage, ScheduleView
from contracts.errors import ErrorType, FlowledgerError
from contracts.schedules import ScheduleSpec
from projections import schedules
from projections.timefmt import rfc3339

NEXT_FIRE_TIMES = 5


class ScheduleReaders:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def _view(self, row: Any) -> ScheduleView:
        data = dict(row)
        upcoming: list[str] = []
        if data["enabled"]:
            spec = ScheduleSpec.model_validate(data["spec"])
            anchor = datetime.fromisoformat(data["armed_at"].replace("Z", "+00:00"))
            upcoming = [
                rfc3339(t) for t in spec.next_fire_times(self.clock(), NEXT_FIRE_TIMES, anchor)
            ]
        fields = set(ScheduleView.model_fields) - {"next_fire_times"}
        return ScheduleView(**{k: data[k] for k in fields}, next_fire_times=upcoming)

    def list_schedules(self, tenant: str, workflow: str | None) -> SchedulePage:
        table = schedules.table
        where = [table.c.tenant == tenant, table.c.deleted.is_(False)]
        if workflow:
            where.append(table.c.workflow == workflow)
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(table).where(*where).order_by(table.c.id)).mappings())
        items = [self._view(r) for r in rows]
        return SchedulePage(items=items, total=len(items))

    def get_schedule(self, tenant: str, schedule_id: str) -> ScheduleView:
        table = schedules.table
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(table).where(
                        table.c.tenant == tenant,
                        table.c.id == schedule_id,
                        table.c.deleted.is_(False),
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise FlowledgerError(
                ErrorType.SCHEDULE_NOT_FOUND,
                f"no schedule {schedule_id!r}",
                schedule_id=schedule_id,
            )
        return self._view(row)


def utc_now() -> datetime:
    return datetime.now(UTC)
