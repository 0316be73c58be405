"""Definition history: versions, graph, diff, undo/redo, duplicate, validate, block types."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from contracts.api import ValidationReport, VersionPage, VersionView
from contracts.commands import DuplicateWorkflow, RedoWorkflow, UndoWorkflow
from contracts.definitions import WorkflowDefinition, block_types_catalogue
from contracts.diff import diff_definitions
from contracts.graph import definition_graph
from contracts.validation import validate_definition
from services.query.http.common import (
    QueryContext,
    build,
    parse_body,
    read,
    send,
    written,
)


class DefinitionHistoryController(Controller):
    path = "/v1/workflows/{name:str}"
    tags = ["workflows"]

    @get("/versions")
    async def list_versions(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> VersionPage:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.definitions.list_versions, name)

    @get("/versions/{version:int}")
    async def get_version(
        self, request: Request[Any, Any, Any], state: State, name: str, version: int
    ) -> VersionView:
        ctx: QueryContext = state.ctx
        return await read(request, ctx, ctx.definitions.get_version, name, version)

    @get("/versions/{version:int}/graph")
    async def get_graph(
        self, request: Request[Any, Any, Any], state: State, name: str, version: int
    ) -> dict[str, Any]:
        """The version's graph: `nodes`, and `edges` with their kind (needs, then, else, case)."""
        ctx: QueryContext = state.ctx
        found = await read(request, ctx, ctx.definitions.get_version, name, version)
        # Stored versions are loaded as saved, even if today's checks are stricter.
        return definition_graph(WorkflowDefinition.model_validate(found.definition))

    @get("/diff")
    async def diff(
        self,
        request: Request[Any, Any, Any],
        state: State,
        name: str,
        from_version: int = Parameter(query="from", ge=1),
        to_version: int = Parameter(query="to", ge=1),
    ) -> dict[str, Any]:
        """Blocks added, removed and changed (JSON Patch paths) between two versions."""
        ctx: QueryContext = state.ctx
        old = await read(request, ctx, ctx.definitions.get_version, name, from_version)
        new = await read(request, ctx, ctx.definitions.get_version, name, to_version)
        return {
            "from": from_version,
            "to": to_version,
            **diff_definitions(old.definition, new.definition),
        }

    @post("/undo", status_code=200)
    async def undo(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[dict[str, Any]]:
        """Return to the previous definition, as a new version."""
        ctx: QueryContext = state.ctx
        accepted = await send(request, ctx, build(UndoWorkflow, {"name": name}))
        return written(accepted.result, accepted)

    @post("/redo", status_code=200)
    async def redo(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[dict[str, Any]]:
        ctx: QueryContext = state.ctx
        accepted = await send(request, ctx, build(RedoWorkflow, {"name": name}))
        return written(accepted.result, accepted)

    @post("/duplicate", status_code=201)
    async def duplicate(
        self, request: Request[Any, Any, Any], state: State, name: str
    ) -> Response[dict[str, Any]]:
        """Copy the current definition under `{"name": <new name>}`."""
        ctx: QueryContext = state.ctx
        body = await parse_body(request, state.max_body_bytes)
        new_name = body.get("name") if isinstance(body, dict) else None
        command = build(DuplicateWorkflow, {"name": name, "new_name": new_name})
        accepted = await send(request, ctx, command)
        return written(accepted.result, accepted, 201)


@post("/v1/workflows:validate", status_code=200, tags=["workflows"])
async def validate_workflow(request: Request[Any, Any, Any], state: State) -> ValidationReport:
    """Check a definition without saving it: every problem at once, each with its path."""
    body = await parse_body(request, state.max_body_bytes)
    problems = validate_definition(body)
    valid = not any(p.severity == "error" for p in problems)
    return ValidationReport(valid=valid, problems=problems)


@get("/v1/block-types", tags=["workflows"])
async def list_block_types() -> dict[str, Any]:
    """Every block type: its config's JSON Schema, a description, whether it is enabled."""
    items = block_types_catalogue()
    return {"items": items, "total": len(items), "next_cursor": None}
