"""Turn an `FL_EVENT_STORE` URL into the eventsourcing library's environment, and tune
the library's recorder."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier


def store_environment(url: str) -> dict[str, str]:
    """`sqlite:///path/events.db` or `postgresql://user:pw@host:port/db?schema=name`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        # sqlite:///relative.db has path "/relative.db"; sqlite:////abs.db has "//abs.db".
        path = path[1:] if path.startswith("/") else path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if parsed.scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            # Stored functions let concurrent saves scale (STACK-FACTS: 420/s -> 1k/s).
            "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
            "POSTGRES_POOL_SIZE": "5",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:{PostgresEventRecorder.__name__}",
        }
        schema = parse_qs(parsed.query).get("schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema[0]
        return env
    raise ValueError(f"unsupported event store URL {url!r}: use sqlite:/// or postgresql://")


def is_embedded(url: str) -> bool:
    """Whether the store is a file this process opens itself (SQLite), not a server."""
    return urlparse(url).scheme == "sqlite"


class PostgresEventRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder (eventsourcing 9.5), with its insert function
    changed in two ways.

    1. The function takes the events table's EXCLUSIVE lock, as the library's row by row
       insert does and its function does not. Without it, two command replicas saving at
       once can commit out of the order of their notification ids; the relay, having
       published the higher id, passes over the lower one when it commits: an event
       lost to the stream. With it, saves are serialised from taking ids to commit (one
       save per group commit, so the lock is taken a few times per hundred runs).
    2. The batch's events are handed over in psycopg's binary format. The library binds
       them as text, and psycopg's text form of an array of composites (every byte of
       every state escaped, in Python) was a third of saving a batch.

    The function is the library's own, with the LOCK line added; it is created (or
    replaced, on an existing store) when the recorder creates its tables.

    And creating the tables is one service at a time. Every service that opens the store
    creates them (`IF NOT EXISTS`, `CREATE OR REPLACE`), and replicas starting together
    collided in PostgreSQL's catalogue: of four opening a fresh store at once, three
    failed ("duplicate key value violates unique constraint", "tuple concurrently
    updated")."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "insert_events": Identifier(self.pg_function_name_insert_events),
            "event": Identifier(self.stored_event_type_name),
            "channel": Identifier(self.channel_name),
            "lock_timeout": SQL(str(self.datastore.lock_timeout)),
        }
        # A library that no longer has these is caught by the event store tests.
        index = self.create_insert_function_statement_index
        assert "FUNCTION" in self.sql_create_statements[index].as_string(None)
        self.sql_create_statements[index] = SQL(
            "CREATE OR REPLACE FUNCTION "
            "{schema}.{insert_events}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint "
            "LANGUAGE plpgsql "
            "AS "
            "$BODY$"
            "BEGIN"
            "    SET LOCAL lock_timeout = '{lock_timeout}s';"
            "    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "    NOTIFY {channel};"
            "    RETURN QUERY"
            "    INSERT INTO {schema}.{table} AS t ("
            "    originator_id, originator_version, topic, state)"
            "    SELECT originator_id, originator_version, topic, state"
            "    FROM unnest(events)"
            "    RETURNING notification_id;"
            "END;"
            "$BODY$"
        ).format(**names)
        self.sql_invoke_pg_function_insert_events = SQL(
            "SELECT * FROM {schema}.{insert_events}((%b))"
        ).format(**names)

    def create_table(self) -> None:
        # A session-level advisory lock: the library creates in several transactions.
        key = f"flowledger.create_table:{self.datastore.schema}.{self.events_table_name}"
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
