"""One running stack per event/read-store kind, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack
from tests.support.backends import nats_server, postgres_schema


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("stack")
    with nats_server() as (nats_url, _):
        if request.param == "sqlite":
            stores = (f"sqlite:///{home / 'events.db'}", f"sqlite:///{home / 'read.db'}")
            yield from _run(home, nats_url, *stores)
        else:
            with postgres_schema() as events, postgres_schema() as reads:
                yield from _run(home, nats_url, events, reads)


def _run(home: Path, nats_url: str, events: str, reads: str) -> Iterator[Stack]:
    stack = Stack(home, nats_url, events, reads).start()
    try:
        yield stack
    finally:
        stack.stop()
