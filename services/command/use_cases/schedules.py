"""Use cases of the Schedule aggregate: create, change, switch on/off, fire, trigger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts import commands as c
from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.run import Run
from services.command.domain.schedule import (
    ALLOW,
    BUFFER_ONE,
    CANCEL_OTHER,
    Schedule,
    run_id_for,
    schedule_aggregate_id,
)
from services.command.domain.status import TERMINAL
from services.command.unit_of_work import UnitOfWork
from services.command.use_cases import lookup
from services.command.use_cases.runs import start_run


def _schedule(uow: UnitOfWork, tenant: str, schedule_id: str) -> Schedule:
    found = uow.get(Schedule, schedule_aggregate_id(tenant, schedule_id))
    if found is None or found.deleted:
        raise FlowledgerError(
            ErrorType.SCHEDULE_NOT_FOUND, f"no schedule {schedule_id!r}", schedule_id=schedule_id
        )
    return found


def _view(schedule: Schedule) -> dict[str, Any]:
    return {"id": schedule.schedule_id, "enabled": schedule.enabled, "workflow": schedule.workflow}


def create_schedule(
    uow: UnitOfWork, tenant: str, cmd: c.CreateSchedule, now: datetime
) -> dict[str, Any]:
    assert cmd.id is not None  # Given by the edge.
    lookup.workflow(uow, tenant, cmd.workflow)
    if uow.get(Schedule, schedule_aggregate_id(tenant, cmd.id)) is not None:
        raise FlowledgerError(
            ErrorType.SCHEDULE_ALREADY_EXISTS, f"a schedule {cmd.id!r} exists", schedule_id=cmd.id
        )
    schedule = Schedule(
        tenant=tenant,
        schedule_id=cmd.id,
        workflow=cmd.workflow,
        spec=cmd.spec.model_dump(mode="json"),
        input=cmd.input,
        metadata=cmd.metadata,
        overlap=cmd.overlap,
        at=now,
    )
    if cmd.enabled:
        schedule.arm(now)
    uow.add(schedule)
    return _view(schedule)


def update_schedule(
    uow: UnitOfWork, tenant: str, cmd: c.UpdateSchedule, now: datetime
) -> dict[str, Any]:
    schedule = _schedule(uow, tenant, cmd.id)
    schedule.update(cmd.spec, cmd.input, cmd.metadata, cmd.overlap, now)
    return _view(schedule)


def switch(on: bool, delete: bool = False) -> Any:
    def handle(uow: UnitOfWork, tenant: str, cmd: Any, now: datetime) -> dict[str, Any]:
        schedule = _schedule(uow, tenant, cmd.id)
        if on and not schedule.enabled:
            schedule.arm(now)
        elif not on:
            schedule.disarm(now, delete=delete)
        return {**_view(schedule), "deleted": schedule.deleted}

    return handle


def fire_schedule(
    uow: UnitOfWork, tenant: str, cmd: c.FireSchedule, now: datetime
) -> dict[str, Any]:
    schedule = uow.get(Schedule, schedule_aggregate_id(tenant, cmd.id))
    if schedule is None or not schedule.is_current(cmd.generation):
        return {"accepted": False}  # Disabled, deleted or re-armed since: a stale fire.
    return _fire(uow, tenant, schedule, cmd.fired_at, run_id_for(cmd.id, cmd.fired_at), now)


def trigger_schedule(
    uow: UnitOfWork, tenant: str, cmd: c.TriggerSchedule, now: datetime
) -> dict[str, Any]:
    schedule = _schedule(uow, tenant, cmd.id)
    assert cmd.run_id is not None  # Given by the edge.
    return _fire(uow, tenant, schedule, now, cmd.run_id, now)


def _fire(
    uow: UnitOfWork,
    tenant: str,
    schedule: Schedule,
    fired_at: datetime,
    run_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Start a run, unless the overlap policy says otherwise; record what was done."""
    last = _active_run(uow, tenant, schedule.last_run_id)
    if schedule.buffered is not None and last is None:
        buffered_id = run_id_for(schedule.schedule_id, schedule.buffered)
        if _start(uow, tenant, schedule, buffered_id, now):
            schedule.record_fire(schedule.buffered, "started_buffered", buffered_id)
            last = _active_run(uow, tenant, buffered_id)
    if last is not None and schedule.overlap != ALLOW:
        if schedule.overlap == CANCEL_OTHER:
            last.cancel(f"schedule {schedule.schedule_id} started a newer run", now)
        else:
            action = (
                "buffered"
                if (schedule.overlap == BUFFER_ONE and schedule.buffered is None)
                else "skipped"
            )
            schedule.record_fire(fired_at, action, None)
            return {"accepted": True, "action": action, "run_id": None}
    if not _start(uow, tenant, schedule, run_id, now):
        return {"accepted": False}
    action = (
        "cancelled_other" if last is not None and schedule.overlap == CANCEL_OTHER else ("started")
    )
    schedule.record_fire(fired_at, action, run_id)
    return {"accepted": True, "action": action, "run_id": run_id}


def _active_run(uow: UnitOfWork, tenant: str, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    run = lookup.find_run(uow, tenant, run_id)
    return run if run is not None and run.status not in TERMINAL else None


def _start(uow: UnitOfWork, tenant: str, schedule: Schedule, run_id: str, now: datetime) -> bool:
    """False if that run exists already (a repeated fire)."""
    start = c.StartRun(
        workflow=schedule.workflow,
        id=run_id,
        input=schedule.input,
        metadata={**schedule.metadata, "schedule": schedule.schedule_id},
    )
    try:
        start_run(uow, tenant, start, now)
    except FlowledgerError as exc:
        if exc.type is ErrorType.RUN_ALREADY_EXISTS:
            return False
        raise
    return True
