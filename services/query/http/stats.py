"""`/v1/stats/queue` and `/v1/workflows/{name}/stats`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State

from services.query.http.common import QueryContext, read


@get("/v1/stats/queue", tags=["operations"])
async def queue_stats(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    """Runs per status (queued, running, waiting, …) and the oldest queued run's age."""
    ctx: QueryContext = state.ctx
    return await read(request, ctx, ctx.stats.queue_stats)


@get("/v1/workflows/{name:str}/stats", tags=["operations"])
async def workflow_stats(
    request: Request[Any, Any, Any], state: State, name: str
) -> dict[str, Any]:
    """Run counts, success rate, and duration percentiles (p50, p90, p99) of completed runs."""
    ctx: QueryContext = state.ctx
    return await read(request, ctx, ctx.stats.workflow_stats, name)
