"""The services' event loop: uvloop wherever it installs (a declared dependency there)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from services.cli import event_loop_factory


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_services_run_on_uvloop_where_it_installs() -> None:
    import uvloop

    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(_running_loop_type()) is uvloop.Loop


async def _running_loop_type() -> type:
    return type(asyncio.get_running_loop())
