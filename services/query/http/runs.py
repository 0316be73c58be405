"""`/v1/runs` and `/v1/workflows/{name}/runs`: start, get, list, and control."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from contracts.api import CheckpointView, RunAccepted, RunPage, RunView
from contracts.commands import (
    CancelRun,
    ExecuteBatch,
    PauseRun,
    ReplayRun,
    RestartRun,
    ResumeRun,
    RetryRun,
    RollbackRun,
    SendEvent,
    StartRun,
    StartRuns,
    TerminateRun,
    TerminateRuns,
)
from contracts.errors import ErrorType, FlowledgerError
from services.query.http.common import (
    QueryContext,
    build,
    parse_body,
    read,
    send,
    written,
)
from services.query.paging import MAX_LIMIT, make_page, parse_sort
from services.query.readers import RunFilter

RUN_SORT_FIELDS = ("created_at", "updated_at", "workflow", "status", "version", "id")

_CONTROLS = {
    "cancel": CancelRun,
    "pause": PauseRun,
    "resume": ResumeRun,
    "terminate": TerminateRun,
    "retry": RetryRun,
    "restart": RestartRun,
}


class StartRunController(Controller):
    path = "/v1/workflows/{name:str}/runs"
    tags = ["runs"]

    @post("/", status_code=201)
    async def start_run(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[RunAccepted]:
        """Start a run: `input`, optional `id` and `metadata`. 201 with the run."""
        ctx: QueryContext = state.ctx
        body = await parse_body(request, state.max_body_bytes)
        if not isinstance(body, dict):
            raise FlowledgerError(ErrorType.VALIDATION_ERROR, "the body must be a JSON object")
        command = build(StartRun, {**body, "workflow": name})
        accepted = await send(request, ctx, command)
        return written(RunAccepted(**accepted.result), accepted, 201)


@post("/v1/workflows/{name:str}/runs:batch", status_code=201, tags=["runs"])
async def start_runs(
    request: Request[Any, Any, Any], state: State, name: str
) -> Response[dict[str, Any]]:
    """`{"runs": [<start body>, …]}`: up to 1000 starts in one atomic call (all or none)."""
    ctx: QueryContext = state.ctx
    body = await parse_body(request, state.max_body_bytes)
    if not isinstance(body, dict):
        raise FlowledgerError(ErrorType.VALIDATION_ERROR, "the body must be a JSON object")
    accepted = await send(request, ctx, build(StartRuns, {**body, "workflow": name}))
    return written(accepted.result, accepted, 201)


@post("/v1/commands:batch", status_code=200, tags=["runs"])
async def execute_commands(
    request: Request[Any, Any, Any], state: State
) -> Response[dict[str, Any]]:
    """`{"commands": [{"command": "run.cancel", "run_id": …}, …]}` (names as on the bus),
    applied atomically: all or none; a refusal names the failing command by index."""
    ctx: QueryContext = state.ctx
    body = await parse_body(request, state.max_body_bytes)
    accepted = await send(request, ctx, build(ExecuteBatch, body))
    return written(accepted.result, accepted)


_FROM_CHECKPOINT = {"rollback": RollbackRun, "replay": ReplayRun}
MAX_JOB_RUNS = 100_000
_FILTER_FIELDS = {"workflow", "status", "version", "created_after", "created_before", "metadata"}


@post("/v1/runs:terminate", status_code=202, tags=["runs"])
async def terminate_runs(request: Request[Any, Any, Any], state: State) -> Response[dict[str, Any]]:
    """`{"ids": [...]}` or `{"filter": {<the GET /v1/runs filters>}}`, and a `reason`:
    a background job; 202 with it (`GET /v1/jobs/{id}` shows its progress)."""
    ctx: QueryContext = state.ctx
    body = await parse_body(request, state.max_body_bytes)
    if not isinstance(body, dict) or ("ids" in body) == ("filter" in body):
        raise FlowledgerError(ErrorType.VALIDATION_ERROR, "give exactly one of ids and filter")
    ids = body.get("ids")
    if "filter" in body:
        raw = body["filter"]
        if not isinstance(raw, dict) or set(raw) - _FILTER_FIELDS:
            raise FlowledgerError(
                ErrorType.VALIDATION_ERROR,
                f"filter takes {', '.join(sorted(_FILTER_FIELDS))}",
            )
        statuses = raw.get("status") or []
        where = RunFilter(
            workflow=raw.get("workflow"),
            statuses=tuple([statuses] if isinstance(statuses, str) else statuses),
            version=raw.get("version"),
            created_after=raw.get("created_after"),
            created_before=raw.get("created_before"),
            metadata=tuple((raw.get("metadata") or {}).items()),
        )
        ids = await read(request, ctx, ctx.readers.list_run_ids, where, MAX_JOB_RUNS)
        if not ids:
            raise FlowledgerError(ErrorType.VALIDATION_ERROR, "the filter matches no run")
    command = build(TerminateRuns, {"ids": ids, "reason": body.get("reason")})
    accepted = await send(request, ctx, command)
    return written(accepted.result, accepted, 202)


@get("/v1/jobs/{job_id:str}", tags=["runs"])
async def get_job(request: Request[Any, Any, Any], state: State, job_id: str) -> dict[str, Any]:
    """A background job: status (running, completed) and counts (done, skipped, not_found)."""
    ctx: QueryContext = state.ctx
    return await read(request, ctx, ctx.readers.get_job, job_id)


class RunController(Controller):
    path = "/v1/runs"
    tags = ["runs"]

    @get("/")
    async def list_runs(
        self,
        request: Request[Any, Any, Any],
        state: State,
        workflow: str | None = None,
        status: list[str] | None = None,
        version: int | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        sort: str | None = None,
        limit: int | None = Parameter(default=None, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
        page: int | None = Parameter(default=None, ge=1),
        page_size: int | None = Parameter(default=None, ge=1, le=MAX_LIMIT),
        offset: int | None = Parameter(default=None, ge=0),
    ) -> RunPage:
        """Newest first by default. Filters: `workflow`, `status` (several), `version`,
        `created_after`/`created_before` (RFC 3339), `metadata.<key>=<value>`. Paging:
        `limit` + `cursor`, or `page`/`page_size`, or `offset`; `sort` e.g. `-updated_at`."""
        ctx: QueryContext = state.ctx
        where = RunFilter(
            workflow=workflow,
            statuses=tuple(s for item in status or [] for s in item.split(",") if s),
            version=version,
            created_after=created_after,
            created_before=created_before,
            metadata=tuple(
                (key.removeprefix("metadata."), value)
                for key, value in request.query_params.items()
                if key.startswith("metadata.")
            ),
        )
        paging = make_page(
            limit=limit,
            cursor=cursor,
            page=page,
            page_size=page_size,
            offset=offset,
            sort=parse_sort(sort, RUN_SORT_FIELDS, default="-created_at"),
        )
        return await read(request, ctx, ctx.readers.list_runs, where, paging)

    @get("/{run_id:str}")
    async def get_run(self, request: Request[Any, Any, Any], state: State, run_id: str) -> RunView:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.readers.get_run, run_id)

    @post("/{run_id:str}/events/{event_type:str}", status_code=200)
    async def send_event(
        self, request: Request[Any, Any, Any], state: State, run_id: str, event_type: str
    ) -> Response[dict[str, Any]]:
        """Deliver an event (the body is its payload) to the run's block waiting for it;
        if none waits yet, it is kept for the first that will."""
        ctx: QueryContext = state.ctx
        payload = await parse_body(request, state.max_body_bytes)
        command = build(SendEvent, {"run_id": run_id, "event_type": event_type, "payload": payload})
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted)

    async def _checkpoint(
        self, request: Request[Any, Any, Any], ctx: QueryContext, run_id: str, checkpoint: Any
    ) -> CheckpointView:
        if not isinstance(checkpoint, str | int):
            raise FlowledgerError(ErrorType.VALIDATION_ERROR, "checkpoint_id is required")
        page = await read(request, ctx, ctx.history.list_checkpoints, run_id)
        for item in page.items:
            if item.id == str(checkpoint):
                return item
        raise FlowledgerError(
            ErrorType.CHECKPOINT_NOT_FOUND,
            f"run {run_id!r} has no checkpoint {checkpoint!r}",
            checkpoint_id=str(checkpoint),
        )

    @post("/{run_id:str}/{action:str}", status_code=200)
    async def control_run(
        self, request: Request[Any, Any, Any], state: State, run_id: str, action: str
    ) -> Response[dict[str, Any]]:
        """`cancel`, `pause`, `resume`, `terminate`, `retry` (a failed run, from its last
        checkpoint), `restart` (from scratch); `rollback` and `replay` take
        `{"checkpoint_id"}` (see `/checkpoints`): back to it, paused; or a new run from it.
        409 INVALID_RUN_STATE if the run's status does not allow it."""
        ctx: QueryContext = state.ctx
        body = await parse_body(request, state.max_body_bytes)
        fields = body if isinstance(body, dict) else {}
        if action in _FROM_CHECKPOINT:
            checkpoint = await self._checkpoint(request, ctx, run_id, fields.get("checkpoint_id"))
            extra = {"new_id": fields.get("id")} if action == "replay" else {}
            command = build(
                _FROM_CHECKPOINT[action],
                {
                    "run_id": run_id,
                    "block": checkpoint.block,
                    "attempt": checkpoint.attempt,
                    **extra,
                },
            )
        elif action in _CONTROLS:
            command = build(_CONTROLS[action], {"run_id": run_id, "reason": fields.get("reason")})
        else:
            raise FlowledgerError(ErrorType.NOT_FOUND, f"no run action {action!r}")
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted)
