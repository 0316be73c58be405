"""Composition root of the worker: one NATS connection, one consumer per queue."""

from __future__ import annotations

import asyncio
import functools
import logging

from services import bus
from services.readiness import mark_ready
from services.settings import Settings
from services.tasks import stop_tasks
from services.worker.blocks import http
from services.worker.runner import Worker

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    nc = await bus.connect(settings.nats_url, f"flowledger-worker-{settings.worker_id}")
    await bus.ensure_streams(nc.jetstream())
    worker = Worker(
        nc,
        settings.worker_id,
        settings.worker_concurrency,
        settings.task_ack_wait_seconds,
        settings.command_timeout_seconds,
        # The command service refuses a command body over this: batches of reports stay under.
        settings.max_body_bytes,
    )
    serving = [
        asyncio.create_task(bus.retrying(f"queue {q}", functools.partial(worker.serve, q)))
        for q in settings.worker_queues
    ]
    mark_ready()
    log.info("worker %s serving %s", settings.worker_id, settings.worker_queues)
    try:
        await stop.wait()
    finally:
        await stop_tasks(*serving)
        # Graceful drain: finish the blocks in hand before leaving.
        await worker.drain()
        await http.close_client()  # The blocks in hand are done with it.
        await nc.close()  # Our own work is finished above; drain would wait on idle pulls.
