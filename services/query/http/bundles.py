"""`/v1/export` and `/v1/import`: portable bundles of workflows."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State

from contracts.commands import Bundle, ImportWorkflows
from services.query.http.common import (
    QueryContext,
    build,
    parse_body,
    read,
    send,
    written,
)


@get("/v1/export", tags=["bundles"])
async def export_bundle(
    request: Request[Any, Any, Any],
    state: State,
    names: str | None = None,
    snapshots: bool = False,
) -> Bundle:
    """Workflows (all, or `names=a,b`) with their current definitions; snapshots on request."""
    ctx: QueryContext = state.ctx
    wanted = [n for n in (names or "").split(",") if n] or None
    return await read(request, ctx, ctx.definitions.export, wanted, snapshots)


@post("/v1/import", status_code=200, tags=["bundles"])
async def import_bundle(
    request: Request[Any, Any, Any], state: State, dry_run: bool = False
) -> Response[dict[str, Any]]:
    """Create or update every workflow of a bundle, all or nothing; `dry_run` only reports."""
    ctx: QueryContext = state.ctx
    body = await parse_body(request, state.max_body_bytes)
    command = build(ImportWorkflows, {"bundle": body, "dry_run": dry_run})
    accepted = await send(request, ctx, command)
    return written(accepted.result, accepted)
