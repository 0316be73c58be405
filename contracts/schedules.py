"""Schedules: when a workflow runs by itself (cron with a time zone, or an interval).

Cron takes the usual 5 fields (or 6, seconds first, as NATS message schedules do).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Overlap = Literal["skip", "buffer_one", "allow", "cancel_other"]


class ScheduleSpec(BaseModel):
    """Exactly one of `cron` and `interval_seconds`."""

    model_config = ConfigDict(extra="forbid")
    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: float | None = Field(default=None, ge=1, le=366 * 86400)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) not in (5, 6) or not croniter.is_valid(value)):
            raise ValueError(f"{value!r} is not a cron expression of 5 (or 6) fields")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of cron and interval_seconds")
        return self

    def nats_schedule(self) -> str:
        """The `Nats-Schedule` header: 6-field cron (seconds first) or `@every`."""
        if self.cron is not None:
            fields = self.cron.split()
            return " ".join(["0", *fields]) if len(fields) == 5 else self.cron
        return f"@every {int(self.interval_seconds or 0)}s"

    def next_fire_times(self, after: datetime, count: int, anchor: datetime) -> list[datetime]:
        """The next `count` times it fires after `after` (an interval counts from `anchor`)."""
        if self.cron is not None:
            zone = ZoneInfo(self.timezone)
            fields = self.cron.split()
            expression = self.cron if len(fields) == 5 else " ".join([*fields[1:], fields[0]])
            it = croniter(expression, after.astimezone(zone))
            return [it.get_next(datetime) for _ in range(count)]
        step = timedelta(seconds=self.interval_seconds or 1)
        passed = max(0, int((after - anchor) / step) + 1)
        return [anchor + step * (passed + i) for i in range(count)]
