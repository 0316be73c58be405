"""Fixtures of the adapter tests: a JetStream context with Flowledger's streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

from services import bus


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await bus.ensure_streams(js)
    yield js
    await nc.close()
