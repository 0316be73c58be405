"""`/v1/runs/{id}/history`, `/logs`, `/checkpoints`, and `/stream` (server-sent events)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from contracts import subjects
from contracts.api import CheckpointPage, RunHistoryPage, RunLogPage
from contracts.errors import ErrorType, FlowledgerError
from projections.runs import TERMINAL
from services.query.history_readers import HistoryReaders
from services.query.http.common import QueryContext, read, tenant_of
from services.query.paging import MAX_LIMIT, decode_cursor

DEFAULT_LIMIT = 20
# The stream polls the read store: a change shows up within about this long.
POLL_SECONDS = 0.2
# A comment line after this much silence, so proxies and clients keep the connection open.
KEEPALIVE_SECONDS = 15.0
# A stream ends after this long (the client reconnects with Last-Event-ID), so a forgotten
# client holds no connection, and no shutdown of the service waits on it, for long.
STREAM_LIFETIME_SECONDS = 300.0
STREAM_BATCH = 500


def _position(text: Any, what: str) -> int:
    try:
        position = int(text)
    except (TypeError, ValueError):
        position = -1
    if position < 0:
        raise FlowledgerError(ErrorType.BAD_REQUEST, f"{what} must be a stream position")
    return position


class RunHistoryController(Controller):
    path = "/v1/runs/{run_id:str}"
    tags = ["runs"]

    @get("/history")
    async def get_history(
        self,
        request: Request[Any, Any, Any],
        state: State,
        run_id: str,
        limit: int | None = Parameter(default=None, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> RunHistoryPage:
        """The run's events, oldest first: `type`, `data`, `occurred_at` and `position`.
        Paging: `limit` + `cursor`."""
        ctx: QueryContext = state.ctx
        after = _position(decode_cursor(cursor, 1)[0], "the cursor") if cursor else 0
        history = ctx.history
        return await read(request, ctx, history.list_history, run_id, limit or DEFAULT_LIMIT, after)

    @get("/logs")
    async def get_logs(
        self, request: Request[Any, Any, Any], state: State, run_id: str
    ) -> RunLogPage:
        """The execution log: one entry per block attempt, in the order they were scheduled,
        with its timings, worker, the lines the block logged, and its error."""
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.history.list_logs, run_id)

    @get("/checkpoints")
    async def get_checkpoints(
        self, request: Request[Any, Any, Any], state: State, run_id: str
    ) -> CheckpointPage:
        """One checkpoint per completed block, in the order they completed; its `id` is what
        replay and rollback take."""
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.history.list_checkpoints, run_id)

    @get("/stream")
    async def stream_run(
        self, request: Request[Any, Any, Any], state: State, run_id: str
    ) -> ServerSentEvent:
        """Server-sent events: each event of the run as it is recorded (`id`: its position;
        `data`: as in the history), then `event: end` once the run is completed, failed,
        cancelled or terminated. `Last-Event-ID` resumes after that position."""
        ctx: QueryContext = state.ctx
        resume = request.headers.get(subjects.HTTP_LAST_EVENT_ID_HEADER)
        after = _position(resume, subjects.HTTP_LAST_EVENT_ID_HEADER) if resume else 0
        history = ctx.history
        await read(request, ctx, history.get_run_status, run_id)
        return ServerSentEvent(_follow(history, tenant_of(request), run_id, after))


async def _follow(
    history: HistoryReaders, tenant: str, run_id: str, after: int
) -> AsyncIterator[ServerSentEventMessage]:
    started = last_sent = time.monotonic()
    while True:
        status, events = await anyio.to_thread.run_sync(
            history.events_after, tenant, run_id, after, STREAM_BATCH
        )
        for event in events:
            yield ServerSentEventMessage(data=event.model_dump_json(), id=event.position)
            after = event.position
        now = time.monotonic()
        if events:
            last_sent = now
            if len(events) == STREAM_BATCH:
                continue  # Catching up: no pause before the next batch.
        if status is None:
            return  # The run is gone (purged): nothing more will come.
        if status in TERMINAL:
            end = json.dumps({"status": status, "position": after})
            yield ServerSentEventMessage(event="end", data=end)
            return
        if now - started >= STREAM_LIFETIME_SECONDS:
            return
        if now - last_sent >= KEEPALIVE_SECONDS:
            yield ServerSentEventMessage(data=None, comment="keepalive")
            last_sent = now
        await asyncio.sleep(POLL_SECONDS)
