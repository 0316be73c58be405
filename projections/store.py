"""The read store: applies batches of events to the read models, exactly once.

Each batch is one transaction that also records the stream position it reached, so a
redelivered event (position at or below it) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse, urlunparse

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.pool import NullPool

from contracts.events import Envelope
from projections import runs, workflows
from projections.tables import metadata, positions, workflow_run_counts
from projections.tables import runs as runs_table
from projections.tables import workflows as workflows_table

PROJECTION = "read_models"


def create_read_engine(url: str) -> Engine:
    """`sqlite:///path` or `postgresql://…[?schema=name]` (a schema per test, say)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if path:
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the query service read while the projector writes.
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    schema = parse_qs(parsed.query).get("schema", [None])[0]
    plain = urlunparse(parsed._replace(scheme="postgresql+psycopg", query=""))
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(plain, connect_args=connect_args, pool_size=5, max_overflow=10)
    if schema:
        with create_engine(plain, poolclass=NullPool).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def read_position(conn: Connection) -> int:
    found = conn.execute(
        select(positions.c.position).where(positions.c.name == PROJECTION)
    ).scalar()
    return int(found or 0)


class ReadStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def position(self) -> int:
        with self.engine.connect() as conn:
            return read_position(conn)

    def apply_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Apply the events not yet applied; return the position reached."""
        with self.engine.begin() as conn:
            done = read_position(conn)
            fresh = sorted((e for e in envelopes if e.position > done), key=lambda e: e.position)
            if not fresh:
                return done
            run_rows = self._load_runs(conn, fresh)
            workflow_rows = self._load_workflows(conn, fresh)
            before_runs = {k: (dict(v) if v else None) for k, v in run_rows.items()}
            before_workflows = dict(workflow_rows)
            for envelope in fresh:
                if envelope.aggregate == "run":
                    key = (envelope.tenant, envelope.aggregate_id)
                    run_rows[key] = runs.apply(run_rows.get(key), envelope)
                else:
                    key = (envelope.tenant, envelope.aggregate_id)
                    workflow_rows[key] = workflows.apply(workflow_rows.get(key), envelope)
            self._store_runs(conn, before_runs, run_rows)
            self._store_workflows(conn, before_workflows, workflow_rows)
            reached = fresh[-1].position
            if (
                done == 0
                and conn.execute(
                    select(positions.c.name).where(positions.c.name == PROJECTION)
                ).first()
                is None
            ):
                conn.execute(positions.insert().values(name=PROJECTION, position=reached))
            else:
                conn.execute(
                    positions.update()
                    .where(positions.c.name == PROJECTION)
                    .values(position=reached)
                )
            return reached

    def _load_runs(
        self, conn: Connection, envelopes: Sequence[Envelope]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        keys = {(e.tenant, e.aggregate_id) for e in envelopes if e.aggregate == "run"}
        rows: dict[tuple[str, str], dict[str, Any] | None] = dict.fromkeys(keys)
        for tenant in {t for t, _ in keys}:
            ids = [i for t, i in keys if t == tenant]
            for chunk in range(0, len(ids), 500):
                found = conn.execute(
                    select(runs_table).where(
                        runs_table.c.tenant == tenant,
                        runs_table.c.id.in_(ids[chunk : chunk + 500]),
                    )
                ).mappings()
                for row in found:
                    rows[(tenant, row["id"])] = dict(row)
        return rows

    def _load_workflows(
        self, conn: Connection, envelopes: Sequence[Envelope]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        rows: dict[tuple[str, str], dict[str, Any] | None] = {}
        for tenant, name in {(e.tenant, e.aggregate_id) for e in envelopes}:
            if not any(e.aggregate == "workflow" and e.aggregate_id == name for e in envelopes):
                continue
            found = (
                conn.execute(
                    select(workflows_table).where(
                        workflows_table.c.tenant == tenant, workflows_table.c.name == name
                    )
                )
                .mappings()
                .first()
            )
            rows[(tenant, name)] = dict(found) if found else None
        return rows

    def _store_runs(
        self,
        conn: Connection,
        before: dict[tuple[str, str], dict[str, Any] | None],
        after: dict[tuple[str, str], dict[str, Any] | None],
    ) -> None:
        inserts = []
        counts: dict[tuple[str, str, str], int] = {}
        for key, row in after.items():
            old = before.get(key)
            if row is None or row == old:
                continue
            if old is None:
                inserts.append(row)
            else:
                conn.execute(
                    runs_table.update()
                    .where(runs_table.c.tenant == key[0], runs_table.c.id == key[1])
                    .values(**row)
                )
            changes = workflows.run_count_changes(old["status"] if old else None, row["status"])
            for status, delta in changes.items():
                ckey = (row["tenant"], row["workflow"], status)
                counts[ckey] = counts.get(ckey, 0) + delta
        if inserts:
            conn.execute(runs_table.insert(), inserts)
        for (tenant, workflow, status), delta in counts.items():
            if delta == 0:
                continue
            updated = conn.execute(
                workflow_run_counts.update()
                .where(
                    workflow_run_counts.c.tenant == tenant,
                    workflow_run_counts.c.workflow == workflow,
                    workflow_run_counts.c.status == status,
                )
                .values(count=workflow_run_counts.c.count + delta)
            )
            if updated.rowcount == 0:
                conn.execute(
                    workflow_run_counts.insert().values(
                        tenant=tenant, workflow=workflow, status=status, count=delta
                    )
                )

    def _store_workflows(
        self,
        conn: Connection,
        before: dict[tuple[str, str], dict[str, Any] | None],
        after: dict[tuple[str, str], dict[str, Any] | None],
    ) -> None:
        for key, row in after.items():
            old = before.get(key)
            if row is None or row == old:
                continue
            if old is None:
                conn.execute(workflows_table.insert().values(**row))
            else:
                conn.execute(
                    workflows_table.update()
                    .where(workflows_table.c.tenant == key[0], workflows_table.c.name == key[1])
                    .values(**row)
                )
