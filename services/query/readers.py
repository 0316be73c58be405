"""Read-model queries: `get_*` and `list_*`, synchronous (called through a thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select

from contracts.api import BlockView, RunPage, RunSummary, RunView, WorkflowPage, WorkflowView
from contracts.errors import ErrorType, FlowledgerError
from projections import jobs
from projections import runs as runs_model
from projections import workflows as workflows_model
from projections.store import read_position
from projections.workflows import RUN_STATUSES
from services.query.paging import Page, after_cursor, next_cursor, order_by

runs = runs_model.table
workflows = workflows_model.table
workflow_run_counts = workflows_model.workflow_run_counts


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

    def list_runs(self, tenant: str, where: RunFilter, page: Page) -> RunPage:
        conditions = [runs.c.tenant == tenant, *where.conditions()]
        page_conditions = list(conditions)
        after = after_cursor(runs, page)
        if after is not None:
            page_conditions.append(after)
        columns = [runs.c[name] for name in RunSummary.model_fields]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(runs).where(*conditions)).scalar()
            rows = list(
                conn.execute(
                    select(*columns)
                    .where(*page_conditions)
                    .order_by(*order_by(runs, page))
                    .offset(page.offset)
                    .limit(page.limit + 1)
                ).mappings()
            )
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return RunPage(
            items=[RunSummary(**dict(r)) for r in rows],
            total=int(total or 0),
            next_cursor=next_cursor(rows, page) if more else None,
        )

    def list_run_ids(self, tenant: str, where: RunFilter, cap: int) -> list[str]:
        """Ids of the runs a filter matches, oldest first (a batch job's input)."""
        conditions = [runs.c.tenant == tenant, *where.conditions()]
        with self.engine.connect() as conn:
            found = conn.execute(
                select(runs.c.id).where(*conditions).order_by(runs.c.created_at).limit(cap + 1)
            ).scalars()
            ids = list(found)
        if len(ids) > cap:
            raise FlowledgerError(
                ErrorType.VALIDATION_ERROR,
                f"the filter matches more than {cap} runs; narrow it",
                limit=cap,
            )
        return ids

    def get_job(self, tenant: str, job_id: str) -> dict[str, Any]:
        table = jobs.table
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(table).where(table.c.tenant == tenant, table.c.id == job_id))
                .mappings()
                .first()
            )
        if row is None:
            raise FlowledgerError(ErrorType.NOT_FOUND, f"no job {job_id!r}", job_id=job_id)
        return {k: v for k, v in dict(row).items() if k != "tenant"}


@dataclass(frozen=True)
class RunFilter:
    """The filters of `GET /v1/runs`."""

    workflow: str | None = None
    statuses: tuple[str, ...] = ()
    version: int | None = None
    created_after: str | None = None
    created_before: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.workflow:
            found.append(runs.c.workflow == self.workflow)
        if self.statuses:
            found.append(runs.c.status.in_(self.statuses))
        if self.version is not None:
            found.append(runs.c.version == self.version)
        if self.created_after:
            found.append(runs.c.created_at > self.created_after)
        if self.created_before:
            found.append(runs.c.created_at < self.created_before)
        for key, value in self.metadata:
            found.append(runs.c.metadata[key].as_string() == value)
        return found
