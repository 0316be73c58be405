"""Composition root of the projector process."""

from __future__ import annotations

import asyncio
import logging

from contracts import subjects
from projections.runner import Projector
from projections.store import ReadStore, create_read_engine, create_tables
from services import bus
from services.readiness import mark_ready
from services.settings import Settings
from services.tasks import stop_tasks

log = logging.getLogger(__name__)


async def run_projector(settings: Settings, stop: asyncio.Event) -> None:
    engine = create_read_engine(settings.read_store_url)
    create_tables(engine)
    nc = await bus.connect(settings.nats_url, "flowledger-projector")
    js = nc.jetstream()
    await bus.ensure_streams(js)
    projector = Projector(js, ReadStore(engine))
    lease = bus.Lease(
        await bus.leases(js, settings.lease_ttl_seconds),
        subjects.PROJECTOR_LEASE_KEY,
        owner=settings.worker_id,
        ttl_seconds=settings.lease_ttl_seconds,
    )
    holding = asyncio.create_task(lease.hold(projector.run, stop))
    mark_ready()
    log.info("projector ready")
    try:
        await stop.wait()
    finally:
        await stop_tasks(holding)
        await nc.close()  # Our own work is finished above; drain would wait on idle pulls.
        engine.dispose()
