"""Stopping asyncio tasks so that they do stop.

On Python 3.11, `asyncio.wait_for` drops a cancellation that arrives in the moment the
awaitable it waits on completes (gh-86296; fixed in 3.12), and nats-py awaits through
`wait_for` in every request and fetch. A consumer loop cancelled once can therefore run
on, and whoever awaits it waits for ever: a service that does not stop, a projector that
keeps writing after its lease was lost. So the cancellation is repeated until each task
has ended, the way anyio's cancel scopes deliver it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_SECONDS = 0.1
WARN_AFTER_SECONDS = 5.0


async def stop_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel `tasks` and return once every one has ended (their exceptions are then
    retrieved: a caller who cares reads `task.exception()`).

    If the caller is cancelled meanwhile (a lease holder stopping its work while it is
    being stopped itself, and so cancelled again every RECANCEL_SECONDS), the tasks are
    still stopped first; the cancellation is raised after."""
    pending = {task for task in tasks if not task.done()}
    warn_at = asyncio.get_running_loop().time() + WARN_AFTER_SECONDS
    cancelled = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            cancelled = True
        if pending and asyncio.get_running_loop().time() >= warn_at:
            log.warning("still stopping after %.0f s: %s", WARN_AFTER_SECONDS, pending)
            warn_at = float("inf")  # Said once is enough.
    for task in tasks:
        if not task.cancelled():
            task.exception()
    if cancelled:
        raise asyncio.CancelledError
