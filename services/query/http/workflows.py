"""`/v1/workflows`: put, get, list, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.params import Parameter

from contracts.api import WorkflowPage, WorkflowSaved, WorkflowView
from contracts.commands import DeleteWorkflow, PutWorkflow
from contracts.errors import ErrorType, FlowledgerError
from contracts.validation import DefinitionInvalid, parse_definition
from services.query.http.common import (
    QueryContext,
    build,
    parse_body,
    read,
    send,
    written,
)


class WorkflowController(Controller):
    path = "/v1/workflows"
    tags = ["workflows"]

    @put("/{name:str}", status_code=200)
    async def put_workflow(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[WorkflowSaved]:
        """Create a workflow, or save a new version if the definition changed (201 / 200)."""
        ctx: QueryContext = state.ctx
        body = await parse_body(request, state.max_body_bytes)
        if isinstance(body, dict):
            body.setdefault("name", name)
        try:
            parse_definition(body)  # Every problem at once, not pydantic's first.
        except DefinitionInvalid as invalid:
            raise invalid.error() from invalid
        command = build(
            PutWorkflow,
            {"name": name, "definition": body, "expected_version": expected_version(request)},
        )
        accepted = await send(request, ctx, command)
        saved = WorkflowSaved(**accepted.result)
        return written(saved, accepted, 201 if saved.created else 200)

    @get("/{name:str}")
    async def get_workflow(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> WorkflowView:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.readers.get_workflow, name)

    @get("/")
    async def list_workflows(
        self,
        request: Request[Any, Any, Any],
        state: State,
        name: str | None = None,
        limit: int = Parameter(default=20, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0),
        cursor: str | None = None,
    ) -> WorkflowPage:
        ctx: QueryContext = state.ctx
        start = int(cursor) if cursor and cursor.isdigit() else offset
        return await read(request, ctx, ctx.readers.list_workflows, name, limit, start)

    @delete("/{name:str}", status_code=200)
    async def delete_workflow(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        command = build(DeleteWorkflow, {"name": name})
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted)


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """`If-Match: <version>` (quotes allowed, as for an ETag)."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    text = header.strip().strip('"').removeprefix("W/").strip('"')
    if not text.isdigit():
        raise FlowledgerError(ErrorType.BAD_REQUEST, "If-Match must be a version number")
    return int(text)
