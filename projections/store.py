"""The read store: applies batches of events to every read model, exactly once.

Each batch is one transaction that also records the stream position it reached, so a
redelivered event (position at or below it) changes nothing. Every read model is a module
with a `table`, a `key(envelope)` (its row's primary key, or None) and a pure
`apply(row, envelope) -> row | None` (None: no row, or the row is deleted). A model may
also say which events make a row from nothing (`creates(envelope)`): their rows are not
looked up (see `ReadStore.apply_batch`).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlparse, urlunparse

import msgspec
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Dialect,
    Engine,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from contracts.events import Envelope
from projections import (
    block_attempts,
    jobs,
    run_events,
    runs,
    schedules,
    snapshots,
    workflow_versions,
    workflows,
)
from projections.tables import metadata

log = logging.getLogger(__name__)

READ_MODELS: tuple[ModuleType, ...] = (
    workflows,
    workflow_versions,
    snapshots,
    runs,
    run_events,
    block_attempts,
    schedules,
    jobs,
)
PROJECTION = "read_models"

# How far the projection has applied the event stream, written in the same transaction.
positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

Row = dict[str, Any]
Key = tuple[Any, ...]


def to_json(value: Any) -> str:
    """JSON columns' text: msgspec is several times faster than the json module (the
    projector's JSON columns were a tenth of its CPU); what it refuses (a dict key that is
    a bool or None, say) goes through the json module, as before."""
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, OverflowError, msgspec.EncodeError):
        return json.dumps(value)


# One service at a time changes a read store schema's catalogue (see create_tables).
_DDL_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('flowledger.read_store:' || :schema))")


def create_read_engine(url: str) -> Engine:
    """`sqlite:///path` or `postgresql://…[?schema=name]` (a schema per test, say)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=to_json,
        )

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the query service read while the projector writes; NORMAL may lose the
            # last commits on a power cut, which the projector applies again on start.
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    schema = parse_qs(parsed.query).get("schema", [None])[0]
    plain = urlunparse(parsed._replace(scheme="postgresql+psycopg", query=""))
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(
        plain,
        connect_args=connect_args,
        pool_size=5,
        max_overflow=10,
        json_serializer=to_json,
    )
    if schema:
        with create_engine(plain, poolclass=NullPool).begin() as conn:
            conn.execute(_DDL_LOCK, {"schema": schema})  # This too races (see create_tables).
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def create_tables(engine: Engine) -> None:
    """`CREATE … IF NOT EXISTS` for every read model, one service at a time: projector and
    query replicas starting together collided in PostgreSQL's catalogue (of four creating
    a fresh schema's tables at once, three failed with "duplicate key value violates
    unique constraint"). The lock is the transaction's, and the DDL is in it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            conn.execute(_DDL_LOCK, {"schema": schema})
        metadata.create_all(conn)


def read_position(conn: Connection) -> int:
    found = bookkeeping(conn).read_position.execute(conn, {"name": PROJECTION}).scalar()
    return int(found or 0)


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once for a dialect and run as the driver's own SQL, with JSON
    columns encoded here as the engine's serializer would (None as JSON null): SQLAlchemy's
    per-row parameter processing cost about a quarter more than the database's work."""

    sql: str
    order: tuple[str, ...] | None  # the parameters' order, for a positional driver
    json_names: frozenset[str]

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect, json_names: set[str]) -> _DriverStatement:
        compiled = statement.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        return cls(str(compiled), order, frozenset(json_names))

    def executemany(self, conn: Connection, rows: list[Row]) -> None:
        json_names = self.json_names
        order = self.order
        # A positional driver's tuples are built straight from the rows, with no dict of
        # encoded values in between (3 of 7 µs per row).
        params: list[Any] = (
            [tuple([to_json(row[n]) if n in json_names else row[n] for n in order]) for row in rows]
            if order
            else [{n: to_json(v) if n in json_names else v for n, v in row.items()} for row in rows]
        )
        conn.exec_driver_sql(self.sql, params)

    def execute(self, conn: Connection, params: Row) -> Any:
        """Once, with these parameters (no JSON among them): the driver's result."""
        order = self.order
        return conn.exec_driver_sql(
            self.sql, tuple(params[name] for name in order) if order else params
        )


@dataclass(frozen=True)
class _Statements:
    """A table's statements, built once per dialect (statements built per row cost more CPU
    than the database work itself)."""

    key_names: tuple[str, ...]
    select_keys: Any  # rows whose primary key is in :keys (SQLAlchemy expands the list)
    insert: _DriverStatement  # parameters <column>
    update: _DriverStatement  # parameters k_<pk column>, v_<other column>
    delete: _DriverStatement  # parameters k_<pk column>

    def key_params(self, key: Key) -> Row:
        return {f"k_{name}": value for name, value in zip(self.key_names, key, strict=True)}

    def update_params(self, key: Key, row: Row) -> Row:
        values = {f"v_{n}": v for n, v in row.items() if n not in self.key_names}
        return self.key_params(key) | values


def _build_statements(table: Table, dialect: Dialect) -> _Statements:
    key_columns = list(table.primary_key.columns)
    by_key = and_(*(c == bindparam(f"k_{c.name}") for c in key_columns))
    keyed = tuple_(*key_columns) if len(key_columns) > 1 else key_columns[0]
    others = [c for c in table.columns if not c.primary_key]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    insert = table.insert().values({c: bindparam(c.name) for c in table.columns})
    update = table.update().where(by_key).values({c: bindparam(f"v_{c.name}") for c in others})
    return _Statements(
        key_names=tuple(c.name for c in key_columns),
        select_keys=select(table).where(keyed.in_(bindparam("keys", expanding=True))),
        insert=_DriverStatement.compile(insert, dialect, json_columns),
        update=_DriverStatement.compile(update, dialect, {f"v_{n}" for n in json_columns}),
        delete=_DriverStatement.compile(table.delete().where(by_key), dialect, set()),
    )


_compiled: dict[tuple[str, str], _Statements] = {}


def statements(conn: Connection, table: Table) -> _Statements:
    """By table and dialect name: every engine of one kind compiles the same SQL."""
    key = (table.name, conn.dialect.name)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = _build_statements(table, conn.dialect)
    return found


@dataclass(frozen=True)
class _Bookkeeping:
    """What every batch runs besides its rows: the position read and written, and the
    per-workflow run counts moved. Built once per dialect, like the rows' statements
    (building them per batch was a tenth of the projector's CPU)."""

    read_position: _DriverStatement
    insert_position: _DriverStatement
    save_position: _DriverStatement
    add_count: _DriverStatement  # returns the count it left
    insert_count: _DriverStatement
    delete_count: _DriverStatement


def _build_bookkeeping(dialect: Dialect) -> _Bookkeeping:
    def compiled(statement: Any) -> _DriverStatement:
        return _DriverStatement.compile(statement, dialect, set())

    at_name = positions.c.name == bindparam("name")
    counts = workflows.workflow_run_counts
    count_key = and_(
        counts.c.tenant == bindparam("tenant"),
        counts.c.workflow == bindparam("workflow"),
        counts.c.status == bindparam("status"),
    )
    return _Bookkeeping(
        read_position=compiled(select(positions.c.position).where(at_name)),
        insert_position=compiled(
            positions.insert().values(name=bindparam("name"), position=bindparam("position"))
        ),
        save_position=compiled(
            positions.update().where(at_name).values(position=bindparam("position"))
        ),
        add_count=compiled(
            counts.update()
            .where(count_key)
            .values(count=counts.c.count + bindparam("delta"))
            .returning(counts.c.count)
        ),
        insert_count=compiled(
            counts.insert().values(
                tenant=bindparam("tenant"),
                workflow=bindparam("workflow"),
                status=bindparam("status"),
                count=bindparam("delta"),
            )
        ),
        delete_count=compiled(counts.delete().where(count_key)),
    )


_bookkeeping: dict[str, _Bookkeeping] = {}


def bookkeeping(conn: Connection) -> _Bookkeeping:
    found = _bookkeeping.get(conn.dialect.name)
    if found is None:
        found = _bookkeeping[conn.dialect.name] = _build_bookkeeping(conn.dialect)
    return found


class ReadStore:
    def __init__(self, engine: Engine, cached_rows: int = 4096) -> None:
        self.engine = engine
        # Rows as this process last wrote them, per table, so the next batch about the
        # same runs need not read them back. Trusted only while nobody else writes: the
        # store's position must still be the one this process wrote last.
        self._rows: dict[str, OrderedDict[Key, Row | None]] = {}
        self._cached_rows = cached_rows
        self._cached_at: int | None = None

    def position(self) -> int:
        with self.engine.connect() as conn:
            return read_position(conn)

    def apply_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Apply the events not yet applied; return the position reached.

        A row whose first event in the batch creates it (a run's start, an attempt's
        scheduling) is taken to be absent without a look at the store: no row can be
        there before its creating event (reading them back was a seventh of the
        projector's CPU). Should one be there after all, its insert fails, and the batch
        is applied again, looking every row up."""
        try:
            return self._apply_batch(envelopes, trust_creates=True)
        except IntegrityError:
            log.warning("a row stood where an event creates one: applying the batch again")
            return self._apply_batch(envelopes, trust_creates=False)

    def _apply_batch(self, envelopes: Sequence[Envelope], trust_creates: bool) -> int:
        written: list[tuple[Table, dict[Key, Row | None]]] = []
        try:
            with self.engine.begin() as conn:
                done = read_position(conn)
                if done != self._cached_at:  # Written by someone else, or never by us.
                    self._rows.clear()
                fresh = sorted(
                    (e for e in envelopes if e.position > done), key=lambda e: e.position
                )
                if not fresh:
                    return done
                for model in READ_MODELS:
                    keyed = [(k, e) for e in fresh if (k := model.key(e)) is not None]
                    if not keyed:
                        continue
                    keys = {k for k, _ in keyed}
                    # Append-only models never update a row, and a redelivered event is
                    # already filtered out by position: there is nothing to load.
                    append_only = getattr(model, "APPEND_ONLY", False)
                    if append_only:
                        before = dict.fromkeys(keys)
                    else:
                        absent = self._created(model, keyed) if trust_creates else set()
                        before = self._load(conn, model.table, keys, absent)
                    after = dict(before)
                    for key, envelope in keyed:
                        after[key] = model.apply(after.get(key), envelope)
                    self._store(conn, model.table, before, after)
                    if model is runs:
                        self._count_runs(conn, before, after)
                    if not append_only:
                        written.append((model.table, after))
                reached = fresh[-1].position
                self._save_position(conn, reached, first=done == 0)
        except BaseException:
            self._rows.clear()
            self._cached_at = None
            raise
        # Committed: these rows are now what the store holds.
        for table, rows in written:
            self._remember(table, rows)
        self._cached_at = reached
        return reached

    def _remember(self, table: Table, rows: dict[Key, Row | None]) -> None:
        cached = self._rows.setdefault(table.name, OrderedDict())
        for key, row in rows.items():
            cached[key] = row
            cached.move_to_end(key)
        while len(cached) > self._cached_rows:
            cached.popitem(last=False)

    @staticmethod
    def _created(model: ModuleType, keyed: list[tuple[Key, Envelope]]) -> set[Key]:
        """The keys whose first event here makes their row from nothing."""
        creates = getattr(model, "creates", None)
        if creates is None:
            return set()
        first: dict[Key, Envelope] = {}
        for key, envelope in keyed:
            first.setdefault(key, envelope)
        return {key for key, envelope in first.items() if creates(envelope)}

    def _load(
        self, conn: Connection, table: Table, keys: set[Key], absent: set[Key]
    ) -> dict[Key, Row | None]:
        """The rows at `keys`: from the cache, else the store (except the `absent`)."""
        cached: dict[Key, Row | None] = self._rows.get(table.name) or {}
        rows: dict[Key, Row | None] = {k: cached[k] for k in keys if k in cached}
        missing = [k for k in keys if k not in rows and k not in absent]
        rows.update((k, None) for k in absent if k not in rows)
        rows.update(dict.fromkeys(missing))
        found = statements(conn, table)
        names = found.key_names
        ordered = missing if len(names) > 1 else [key[0] for key in missing]
        for start in range(0, len(ordered), 200):
            chunk = ordered[start : start + 200]
            for row in conn.execute(found.select_keys, {"keys": chunk}).mappings():
                rows[tuple(row[name] for name in names)] = dict(row)
        return rows

    def _store(
        self,
        conn: Connection,
        table: Table,
        before: dict[Key, Row | None],
        after: dict[Key, Row | None],
    ) -> None:
        found = statements(conn, table)
        inserts, updates, deletes = [], [], []
        for key, row in after.items():
            old = before.get(key)
            if row == old:
                continue
            if row is None:
                deletes.append(found.key_params(key))
            elif old is None:
                inserts.append(row)
            else:
                updates.append(found.update_params(key, row))
        # One executemany per kind of change: the driver runs the compiled statement N times.
        if deletes:
            found.delete.executemany(conn, deletes)
        if updates:
            found.update.executemany(conn, updates)
        if inserts:
            found.insert.executemany(conn, inserts)

    def _count_runs(
        self, conn: Connection, before: dict[Key, Row | None], after: dict[Key, Row | None]
    ) -> None:
        counts: dict[tuple[str, str, str], int] = {}
        for key, row in after.items():
            old = before.get(key)
            if row is None or row == old:
                continue
            changes = workflows.run_count_changes(old["status"] if old else None, row["status"])
            for status, delta in changes.items():
                count_key = (row["tenant"], row["workflow"], status)
                counts[count_key] = counts.get(count_key, 0) + delta
        book = bookkeeping(conn)
        for (tenant, workflow, status), delta in counts.items():
            if delta == 0:
                continue
            params = {"tenant": tenant, "workflow": workflow, "status": status, "delta": delta}
            left = book.add_count.execute(conn, params).scalar()
            if left is None:
                book.insert_count.execute(conn, params)
            elif left == 0:
                # No row for a status no run is in, as a rebuild (one batch) would have it.
                book.delete_count.execute(conn, params)

    def _save_position(self, conn: Connection, reached: int, first: bool) -> None:
        book = bookkeeping(conn)
        params = {"name": PROJECTION, "position": reached}
        if first and book.read_position.execute(conn, params).first() is None:
            book.insert_position.execute(conn, params)
        else:
            book.save_position.execute(conn, params)
