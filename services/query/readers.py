"""Read-model queries: `get_*` and `list_*`, synchronous (called through a thread)."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from contracts.api import BlockView, RunPage, RunSummary, RunView, WorkflowPage, WorkflowView
from contracts.errors import ErrorType, FlowledgerError
from projections import runs as runs_model
from projections import workflows as workflows_model
from projections.store import read_position
from projections.workflows import RUN_STATUSES

runs = runs_model.table
workflows = workflows_model.table
workflow_run_counts = workflows_model.workflow_run_counts


def encode_cursor(created_at: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, run_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(created_at), str(run_id)
    except ValueError as exc:
        raise FlowledgerError(ErrorType.BAD_REQUEST, "malformed cursor") from exc


class Readers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_position(self) -> int:
        with self.engine.connect() as conn:
            return read_position(conn)

    def _run_counts(self, conn: Any, tenant: str, names: list[str]) -> dict[str, dict[str, int]]:
        counts = {name: dict.fromkeys(RUN_STATUSES, 0) for name in names}
        rows = conn.execute(
            select(workflow_run_counts).where(
                workflow_run_counts.c.tenant == tenant,
                workflow_run_counts.c.workflow.in_(names),
            )
        ).mappings()
        for row in rows:
            counts[row["workflow"]][row["status"]] = row["count"]
        return counts

    def get_workflow(self, tenant: str, name: str) -> WorkflowView:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(workflows).where(
                        workflows.c.tenant == tenant,
                        workflows.c.name == name,
                        workflows.c.deleted.is_(False),
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise FlowledgerError(
                    ErrorType.WORKFLOW_NOT_FOUND, f"no workflow named {name!r}", workflow=name
                )
            counts = self._run_counts(conn, tenant, [name])
        return WorkflowView(**dict(row), run_counts=counts[name])

    def list_workflows(
        self, tenant: str, name: str | None, limit: int, offset: int
    ) -> WorkflowPage:
        where = [workflows.c.tenant == tenant, workflows.c.deleted.is_(False)]
        if name:
            where.append(workflows.c.name.contains(name, autoescape=True))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(workflows).where(*where)).scalar()
            rows = list(
                conn.execute(
                    select(workflows)
                    .where(*where)
                    .order_by(workflows.c.name)
                    .limit(limit)
                    .offset(offset)
                ).mappings()
            )
            counts = self._run_counts(conn, tenant, [r["name"] for r in rows])
        items = [WorkflowView(**dict(r), run_counts=counts[r["name"]]) for r in rows]
        more = offset + len(items) < int(total or 0)
        return WorkflowPage(
            items=items, total=int(total or 0), next_cursor=str(offset + limit) if more else None
        )

    def get_run(self, tenant: str, run_id: str) -> RunView:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(runs).where(runs.c.tenant == tenant, runs.c.id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise FlowledgerError(ErrorType.RUN_NOT_FOUND, f"no run {run_id!r}", run_id=run_id)
        data = dict(row)
        blocks = [BlockView(**b) for b in data.pop("blocks").values()]
        data.pop("tenant")
        data.pop("position")
        return RunView(**data, blocks=blocks)

    def list_runs(
        self,
        tenant: str,
        workflow: str | None,
        statuses: list[str],
        limit: int,
        cursor: str | None,
    ) -> RunPage:
        where = [runs.c.tenant == tenant]
        if workflow:
            where.append(runs.c.workflow == workflow)
        if statuses:
            where.append(runs.c.status.in_(statuses))
        page_where = list(where)
        if cursor:
            # Newest first; the cursor is the last (created_at, id) seen, so pages stay
            # stable when runs are inserted meanwhile.
            created_at, run_id = decode_cursor(cursor)
            page_where.append(
                or_(
                    runs.c.created_at < created_at,
                    and_(runs.c.created_at == created_at, runs.c.id < run_id),
                )
            )
        columns = [
            runs.c.id,
            runs.c.workflow,
            runs.c.version,
            runs.c.status,
            runs.c.metadata,
            runs.c.created_at,
            runs.c.updated_at,
            runs.c.ended_at,
        ]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(runs).where(*where)).scalar()
            rows = list(
                conn.execute(
                    select(*columns)
                    .where(*page_where)
                    .order_by(runs.c.created_at.desc(), runs.c.id.desc())
                    .limit(limit + 1)
                ).mappings()
            )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return RunPage(
            items=[RunSummary(**dict(r)) for r in rows],
            total=int(total or 0),
            next_cursor=next_cursor,
        )
