"""The Schedule aggregate: a workflow that runs by itself on a cron or an interval.

Its timer is a JetStream message schedule (cron with a time zone, or `@every`), armed by
the relay when the aggregate records `ScheduleArmed`. Each arming has a generation: a fire
from an older one is stale. What a fire does while the last run is still active is the
overlap policy: skip, allow, cancel_other, or buffer_one (kept, and started at the first
fire after that run has ended).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.errors import ErrorType, FlowledgerError
from contracts.schedules import ScheduleSpec
from contracts.subjects import timer_id

_SCHEDULE_NAMESPACE = uuid.UUID("3c8d1e2f-7a6b-4c5d-9e0f-1a2b3c4d5e6f")

SKIP = "skip"
ALLOW = "allow"
CANCEL_OTHER = "cancel_other"
BUFFER_ONE = "buffer_one"


def schedule_aggregate_id(tenant: str, schedule_id: str) -> uuid.UUID:
    return uuid.uuid5(_SCHEDULE_NAMESPACE, f"{tenant}/{schedule_id}")


def run_id_for(schedule_id: str, fired_at: datetime) -> str:
    """The run a fire starts: derived from the fire's time, so a repeat starts nothing."""
    return f"{schedule_id}-{fired_at.strftime('%Y%m%dT%H%M%S')}"


class Schedule(Aggregate):
    @staticmethod
    def create_id(tenant: str, schedule_id: str) -> uuid.UUID:
        return schedule_aggregate_id(tenant, schedule_id)

    @event("ScheduleCreated")
    def __init__(
        self,
        tenant: str,
        schedule_id: str,
        workflow: str,
        spec: dict[str, Any],
        input: dict[str, Any],
        metadata: dict[str, str],
        overlap: str,
        at: datetime,
    ) -> None:
        self.tenant = tenant
        self.schedule_id = schedule_id
        self.workflow = workflow
        self.spec = spec
        self.input = input
        self.metadata = metadata
        self.overlap = overlap
        self.created_at = at
        self.generation = 0
        self.enabled = False
        self.deleted = False
        self.last_run_id: str | None = None
        self.buffered: datetime | None = None

    # ----- commands --------------------------------------------------------------------

    def check_exists(self) -> None:
        if self.deleted:
            raise FlowledgerError(
                ErrorType.SCHEDULE_NOT_FOUND,
                f"no schedule {self.schedule_id!r}",
                schedule_id=self.schedule_id,
            )

    def update(
        self,
        spec: ScheduleSpec | None,
        input: dict[str, Any] | None,
        metadata: dict[str, str] | None,
        overlap: str | None,
        now: datetime,
    ) -> None:
        self.check_exists()
        new_spec = spec.model_dump(mode="json") if spec else self.spec
        self._update(
            spec=new_spec,
            input=self.input if input is None else input,
            metadata=self.metadata if metadata is None else metadata,
            overlap=overlap or self.overlap,
            at=now,
        )
        if self.enabled and spec is not None:
            self.arm(now)

    def arm(self, now: datetime) -> None:
        """Enable: (re)publish its message schedule under a new generation."""
        self.check_exists()
        spec = ScheduleSpec.model_validate(self.spec)
        generation = self.generation + 1
        self._arm(
            generation=generation,
            timer_id=timer_id(self.schedule_id, "", 0, "schedule"),
            nats_schedule=spec.nats_schedule(),
            timezone=spec.timezone,
            at=now,
        )

    def disarm(self, now: datetime, delete: bool = False) -> None:
        self.check_exists()
        if not self.enabled and not delete:
            return
        self._disarm(
            generation=self.generation + 1,
            timer_id=timer_id(self.schedule_id, "", 0, "schedule"),
            deleted=delete,
            at=now,
        )

    def is_current(self, generation: int) -> bool:
        return self.enabled and not self.deleted and generation == self.generation

    def record_fire(self, fired_at: datetime, action: str, run_id: str | None) -> None:
        self._fire(fired_at=fired_at, action=action, run_id=run_id, at=fired_at)

    # ----- events ----------------------------------------------------------------------

    @event("ScheduleUpdated")
    def _update(
        self,
        spec: dict[str, Any],
        input: dict[str, Any],
        metadata: dict[str, str],
        overlap: str,
        at: datetime,
    ) -> None:
        self.spec, self.input, self.metadata, self.overlap = spec, input, metadata, overlap

    @event("ScheduleArmed")
    def _arm(
        self, generation: int, timer_id: str, nats_schedule: str, timezone: str, at: datetime
    ) -> None:
        self.generation = generation
        self.enabled = True

    @event("ScheduleDisarmed")
    def _disarm(self, generation: int, timer_id: str, deleted: bool, at: datetime) -> None:
        self.generation = generation
        self.enabled = False
        self.deleted = deleted

    @event("ScheduleFired")
    def _fire(self, fired_at: datetime, action: str, run_id: str | None, at: datetime) -> None:
        if action in ("started", "cancelled_other", "started_buffered"):
            self.last_run_id = run_id
            if action == "started_buffered":
                self.buffered = None
        elif action == "buffered":
            self.buffered = fired_at
