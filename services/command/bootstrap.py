"""Composition root of the command service: store, committer, handlers, relay, timers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from faststream.nats import NatsBroker

from contracts import subjects
from services import bus
from services.command.adapters.event_store import is_embedded, store_environment
from services.command.adapters.jobs import JobConsumer
from services.command.adapters.relay import OutboxRelay
from services.command.adapters.timers import TimerConsumer
from services.command.application import CommandProcessor, FlowledgerApplication
from services.command.committer import GroupCommitter
from services.command.entrypoints.nats_handlers import register_command_handlers
from services.readiness import mark_ready
from services.settings import Settings
from services.tasks import stop_tasks

log = logging.getLogger(__name__)


def build_application(event_store_url: str) -> FlowledgerApplication:
    return FlowledgerApplication(env=store_environment(event_store_url))


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_command_service(settings: Settings, stop: asyncio.Event) -> None:
    app = build_application(settings.event_store_url)
    nc = await bus.connect(settings.nats_url, "flowledger-command")
    js = nc.jetstream()
    await bus.ensure_streams(js)
    relay = OutboxRelay(app, js, settings.relay_poll_seconds)
    app.on_saved = relay.remember
    committer = GroupCommitter(
        CommandProcessor(app, utc_now, settings.aggregate_cache_size),
        settings.command_batch_max,
        on_commit=relay.wake.set,
        max_pending=settings.command_max_in_flight,
        in_thread=not is_embedded(settings.event_store_url),
    )
    broker = NatsBroker(
        settings.nats_url, logger=None, max_reconnect_attempts=-1, apply_types=False
    )
    register_command_handlers(broker, committer, settings.max_body_bytes)
    lease = bus.Lease(
        await bus.leases(js, settings.lease_ttl_seconds),
        subjects.RELAY_LEASE_KEY,
        owner=settings.worker_id,
        ttl_seconds=settings.lease_ttl_seconds,
    )
    committer.start()
    await broker.start()
    background = [
        asyncio.create_task(lease.hold(relay.run, stop), name="relay"),
        asyncio.create_task(
            bus.retrying("timer consumer", TimerConsumer(js, committer.submit).run), name="timers"
        ),
        asyncio.create_task(
            bus.retrying("job consumer", JobConsumer(js, committer.submit).run), name="jobs"
        ),
    ]
    mark_ready()
    log.info("command service ready")
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new commands")
        await broker.stop()
        await stop_tasks(*background)
        log.info("stopping: relay and timers stopped")
        await committer.stop()
        await nc.close()  # Our own work is finished above; drain would wait on idle pulls.
        log.info("stopping: NATS closed")
        app.close()
