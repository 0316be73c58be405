"""`/v1/workflows/{name}/snapshots`: named, tagged copies; restore makes a new version."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State

from contracts.api import SnapshotPage, SnapshotView
from contracts.commands import CreateSnapshot, DeleteSnapshot, RestoreSnapshot, UpdateSnapshot
from contracts.errors import ErrorType, FlowledgerError
from services.query.http.common import (
    QueryContext,
    build,
    parse_body,
    read,
    send,
    written,
)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FlowledgerError(ErrorType.VALIDATION_ERROR, "the body must be a JSON object")
    return body


class SnapshotController(Controller):
    path = "/v1/workflows/{name:str}/snapshots"
    tags = ["snapshots"]

    @post("/", status_code=201)
    async def create_snapshot(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[dict[str, Any]]:
        """`{"name", "tags", "version"?}`: a snapshot of the current (or given) version."""
        ctx: QueryContext = state.ctx
        body = _object(await parse_body(request, state.max_body_bytes))
        command = build(
            CreateSnapshot,
            {
                "name": name,
                "snapshot_id": body.get("id") or uuid.uuid4().hex,
                "snapshot_name": body.get("name"),
                "tags": body.get("tags", []),
                "version": body.get("version"),
            },
        )
        accepted = await send(request, ctx, command)
        result = {k: v for k, v in accepted.result.items() if k != "definition"}
        return written(result, accepted, 201)

    @get("/")
    async def list_snapshots(
        self,
        request: Request[Any, Any, Any],
        state: State,
        name: str,
        tag: str | None = None,
        favourite: bool | None = None,
    ) -> SnapshotPage:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.definitions.list_snapshots, name, tag, favourite)

    @get("/{snapshot_id:str}")
    async def get_snapshot(
        self, request: Request[Any, Any, Any], state: State, name: str, snapshot_id: str
    ) -> SnapshotView:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.definitions.get_snapshot, name, snapshot_id)

    @patch("/{snapshot_id:str}")
    async def update_snapshot(
        self, request: Request[Any, Any, Any], state: State, name: str, snapshot_id: str
    ) -> Response[dict[str, Any]]:
        """Change `name`, `tags` or `favourite`."""
        ctx: QueryContext = state.ctx
        body = _object(await parse_body(request, state.max_body_bytes))
        unknown = set(body) - {"name", "tags", "favourite"}
        if unknown:
            raise FlowledgerError(
                ErrorType.VALIDATION_ERROR, f"unknown fields: {', '.join(sorted(unknown))}"
            )
        command = build(
            UpdateSnapshot,
            {
                "name": name,
                "snapshot_id": snapshot_id,
                "snapshot_name": body.get("name"),
                "tags": body.get("tags"),
                "favourite": body.get("favourite"),
            },
        )
        accepted = await send(request, ctx, command)
        result = {k: v for k, v in accepted.result.items() if k != "definition"}
        return written(result, accepted)

    @delete("/{snapshot_id:str}", status_code=200)
    async def delete_snapshot(
        self, request: Request[Any, Any, Any], state: State, name: str, snapshot_id: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        command = build(DeleteSnapshot, {"name": name, "snapshot_id": snapshot_id})
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted)

    @post("/{snapshot_id:str}/restore", status_code=200)
    async def restore_snapshot(
        self, request: Request[Any, Any, Any], state: State, name: str, snapshot_id: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        command = build(RestoreSnapshot, {"name": name, "snapshot_id": snapshot_id})
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted)
