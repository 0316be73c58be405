"""The read store's schema on PostgreSQL, created by several services at once."""

from __future__ import annotations

from functools import partial

from projections.store import create_read_engine, create_tables
from tests.support.backends import postgres_schema
from tests.support.threads import all_at_once


def test_replicas_creating_a_fresh_read_store_at_once_all_start() -> None:
    """Projector and query replicas each create the read store's schema and tables on
    start; four at once on a schema not yet there collided in PostgreSQL's catalogue
    before that was serialised."""
    for _ in range(2):
        with postgres_schema(create=False) as url:
            assert all_at_once(4, partial(_start, url)) == []


def _start(url: str) -> None:
    engine = create_read_engine(url)
    try:
        create_tables(engine)
    finally:
        engine.dispose()
