"""Fixtures shared by the integration and end-to-end tests (real NATS, both stores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import nats_server, postgres_schema


@pytest.fixture
def nats_url() -> Iterator[str]:
    with nats_server() as (url, _):
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each kind: used as event store and as read store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_schema() as url:
            yield url
