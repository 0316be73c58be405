"""Composition root of the query service: the Litestar app, its NATS link and read store."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from contracts.errors import FlowledgerError
from projections.store import create_read_engine, create_tables
from services import bus
from services.query.commands import CommandBus
from services.query.definition_readers import DefinitionReaders
from services.query.history_readers import HistoryReaders
from services.query.http.bundles import export_bundle, import_bundle
from services.query.http.common import (
    QueryContext,
    flowledger_error_handler,
    http_error_handler,
    internal_error_handler,
)
from services.query.http.definitions import (
    DefinitionHistoryController,
    list_block_types,
    validate_workflow,
)
from services.query.http.health import healthz, readyz
from services.query.http.run_history import RunHistoryController
from services.query.http.runs import (
    RunController,
    StartRunController,
    execute_commands,
    get_job,
    start_runs,
    terminate_runs,
)
from services.query.http.schedules import ScheduleController
from services.query.http.snapshots import SnapshotController
from services.query.http.stats import queue_stats, workflow_stats
from services.query.http.workflows import WorkflowController
from services.query.readers import Readers
from services.query.schedule_readers import ScheduleReaders, utc_now
from services.query.stats_readers import StatsReaders
from services.readiness import mark_ready
from services.settings import Settings

log = logging.getLogger(__name__)


def create_app(ctx: QueryContext, max_body_bytes: int) -> Litestar:
    app = Litestar(
        route_handlers=[
            WorkflowController,
            DefinitionHistoryController,
            SnapshotController,
            validate_workflow,
            list_block_types,
            export_bundle,
            import_bundle,
            StartRunController,
            ScheduleController,
            queue_stats,
            workflow_stats,
            start_runs,
            execute_commands,
            terminate_runs,
            get_job,
            RunController,
            RunHistoryController,
            healthz,
            readyz,
        ],
        exception_handlers={
            FlowledgerError: flowledger_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        openapi_config=OpenAPIConfig(title="Flowledger", version="1"),
        request_max_body_size=max_body_bytes + 1024,
        debug=False,
    )
    app.state.ctx = ctx
    app.state.max_body_bytes = max_body_bytes
    return app


async def run_query_service(settings: Settings, stop: asyncio.Event) -> None:
    engine = create_read_engine(settings.read_store_url)
    create_tables(engine)
    nc = await bus.connect(settings.nats_url, "flowledger-query")
    ctx = QueryContext(
        bus=CommandBus(nc, settings.command_timeout_seconds),
        readers=Readers(engine),
        definitions=DefinitionReaders(engine),
        schedules=ScheduleReaders(engine, utc_now),
        stats=StatsReaders(engine, utc_now),
        history=HistoryReaders(engine),
        min_position_wait=settings.min_position_wait_seconds,
    )
    app = create_app(ctx, settings.max_body_bytes)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        lifespan="on",
        # httptools (C) rather than h11 (pure Python): 30 % less of this service's CPU per
        # REST start, 7 % more starts/s at 64 in flight (bench/README.md).
        http="httptools",
        # Open event streams (SSE) must not hold a shutdown up for long.
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # Raises why it could not start (a port in use, say).
        await asyncio.sleep(0.02)
    port = _bound_port(server)
    mark_ready(str(port))
    log.info("query service listening on http://%s:%d", settings.http_host, port)
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await serving
        await nc.close()  # Our own work is finished above; drain would wait on idle pulls.
        engine.dispose()


def _bound_port(server: Any) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("uvicorn bound no socket")
