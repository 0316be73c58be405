"""`/v1/schedules`: cron (with a time zone) or interval schedules that start runs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State

from contracts.api import SchedulePage, ScheduleView
from contracts.commands import (
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from contracts.errors import ErrorType, FlowledgerError
from services.query.http.common import QueryContext, build, parse_body, read, send, written

_SPEC_FIELDS = ("cron", "timezone", "interval_seconds")
_SWITCHES = {"enable": EnableSchedule, "disable": DisableSchedule, "trigger": TriggerSchedule}


def _nest_spec(body: Any) -> dict[str, Any]:
    """The REST body is flat (`cron`, `timezone`, `interval_seconds` beside the rest)."""
    if not isinstance(body, dict):
        raise FlowledgerError(ErrorType.VALIDATION_ERROR, "the body must be a JSON object")
    spec = {k: body[k] for k in _SPEC_FIELDS if k in body}
    rest = {k: v for k, v in body.items() if k not in _SPEC_FIELDS}
    return {**rest, "spec": spec} if spec else rest


class ScheduleController(Controller):
    path = "/v1/schedules"
    tags = ["schedules"]

    @post("/", status_code=201)
    async def create_schedule(
        self, request: Request[Any, Any, Any], state: State
    ) -> Response[dict[str, Any]]:
        """`{"workflow", "cron" + "timezone" | "interval_seconds", "input", "overlap"
        (skip, buffer_one, allow, cancel_other), "enabled", "id"?}`."""
        ctx: QueryContext = state.ctx
        body = _nest_spec(await parse_body(request, state.max_body_bytes))
        accepted = await send(request, ctx, build(CreateSchedule, body))
        return written(accepted.result, accepted, 201)

    @get("/")
    async def list_schedules(
        self, request: Request[Any, Any, Any], state: State, workflow: str | None = None
    ) -> SchedulePage:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.schedules.list_schedules, workflow)

    @get("/{schedule_id:str}")
    async def get_schedule(
        self, request: Request[Any, Any, Any], state: State, schedule_id: str
    ) -> ScheduleView:
        """With its `next_fire_times`."""
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.schedules.get_schedule, schedule_id)

    @patch("/{schedule_id:str}")
    async def update_schedule(
        self, request: Request[Any, Any, Any], state: State, schedule_id: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        body = _nest_spec(await parse_body(request, state.max_body_bytes))
        accepted = await send(request, ctx, build(UpdateSchedule, {**body, "id": schedule_id}))
        return written(accepted.result, accepted)

    @delete("/{schedule_id:str}", status_code=200)
    async def delete_schedule(
        self, request: Request[Any, Any, Any], state: State, schedule_id: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        accepted = await send(request, ctx, build(DeleteSchedule, {"id": schedule_id}))
        return written(accepted.result, accepted)

    @post("/{schedule_id:str}/{action:str}", status_code=200)
    async def switch_schedule(
        self, request: Request[Any, Any, Any], state: State, schedule_id: str, action: str
    ) -> Response[dict[str, Any]]:
        """`enable`, `disable`, or `trigger` (start a run now)."""
        ctx: QueryContext = state.ctx
        if action not in _SWITCHES:
            raise FlowledgerError(ErrorType.NOT_FOUND, f"no schedule action {action!r}")
        accepted = await send(request, ctx, build(_SWITCHES[action], {"id": schedule_id}))
        return written(accepted.result, accepted)
