"""Read-model queries about definitions: versions, snapshots, export bundles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from contracts.api import SnapshotPage, SnapshotView, VersionPage, VersionSummary, VersionView
from contracts.commands import Bundle, BundleWorkflow
from contracts.errors import ErrorType, FlowledgerError
from projections import snapshots, workflow_versions, workflows


class DefinitionReaders:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _check_workflow(self, conn: Any, tenant: str, name: str) -> None:
        found = conn.execute(
            select(workflows.table.c.name).where(
                workflows.table.c.tenant == tenant,
                workflows.table.c.name == name,
                workflows.table.c.deleted.is_(False),
            )
        ).first()
        if found is None:
            raise FlowledgerError(
                ErrorType.WORKFLOW_NOT_FOUND, f"no workflow named {name!r}", workflow=name
            )

    def list_versions(self, tenant: str, name: str) -> VersionPage:
        table = workflow_versions.table
        with self.engine.connect() as conn:
            self._check_workflow(conn, tenant, name)
            rows = conn.execute(
                select(table.c.version, table.c.cause, table.c.based_on, table.c.created_at)
                .where(table.c.tenant == tenant, table.c.workflow == name)
                .order_by(table.c.version.desc())
            ).mappings()
            items = [VersionSummary(**dict(r)) for r in rows]
        return VersionPage(items=items, total=len(items))

    def get_version(self, tenant: str, name: str, version: int) -> VersionView:
        table = workflow_versions.table
        with self.engine.connect() as conn:
            self._check_workflow(conn, tenant, name)
            row = (
                conn.execute(
                    select(table).where(
                        table.c.tenant == tenant,
                        table.c.workflow == name,
                        table.c.version == version,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise FlowledgerError(
                ErrorType.VERSION_NOT_FOUND,
                f"workflow {name!r} has no version {version}",
                version=version,
            )
        return VersionView(**{k: row[k] for k in VersionView.model_fields})

    def list_snapshots(
        self, tenant: str, name: str, tag: str | None, favourite: bool | None
    ) -> SnapshotPage:
        table = snapshots.table
        where = [table.c.tenant == tenant, table.c.workflow == name]
        if favourite is not None:
            where.append(table.c.favourite.is_(favourite))
        with self.engine.connect() as conn:
            self._check_workflow(conn, tenant, name)
            rows = conn.execute(
                select(table).where(*where).order_by(table.c.created_at.desc())
            ).mappings()
            items = [
                SnapshotView(**{**dict(r), "definition": None})
                for r in rows
                if tag is None or tag in r["tags"]
            ]
        return SnapshotPage(items=items, total=len(items))

    def get_snapshot(self, tenant: str, name: str, snapshot_id: str) -> SnapshotView:
        table = snapshots.table
        with self.engine.connect() as conn:
            self._check_workflow(conn, tenant, name)
            row = (
                conn.execute(
                    select(table).where(
                        table.c.tenant == tenant,
                        table.c.workflow == name,
                        table.c.id == snapshot_id,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise FlowledgerError(
                ErrorType.SNAPSHOT_NOT_FOUND,
                f"workflow {name!r} has no snapshot {snapshot_id!r}",
                snapshot_id=snapshot_id,
            )
        return SnapshotView(**dict(row))

    def export(self, tenant: str, names: list[str] | None, with_snapshots: bool) -> Bundle:
        table = workflows.table
        where = [table.c.tenant == tenant, table.c.deleted.is_(False)]
        if names:
            where.append(table.c.name.in_(names))
        with self.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(table.c.name, table.c.definition).where(*where).order_by(table.c.name)
                ).mappings()
            )
            missing = sorted(set(names or []) - {r["name"] for r in rows})
            if missing:
                raise FlowledgerError(
                    ErrorType.WORKFLOW_NOT_FOUND,
                    f"no workflow named {', '.join(map(repr, missing))}",
                    workflows=missing,
                )
            kept: dict[str, list[dict[str, Any]]] = {r["name"]: [] for r in rows}
            if with_snapshots and rows:
                found = conn.execute(
                    select(snapshots.table).where(
                        snapshots.table.c.tenant == tenant,
                        snapshots.table.c.workflow.in_(list(kept)),
                    )
                ).mappings()
                for snap in found:
                    kept[snap["workflow"]].append(
                        {"id": snap["id"], "name": snap["name"], "tags": snap["tags"]}
                    )
        return Bundle(
            workflows=[
                BundleWorkflow(
                    name=r["name"], definition=r["definition"], snapshots=kept[r["name"]]
                )
                for r in rows
            ]
        )
