"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Response, get
from litestar.datastructures import State


@get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["operations"])
async def readyz(state: State) -> Response[dict[str, Any]]:
    """Ready when NATS is connected and the read store answers."""
    checks: dict[str, Any] = {"nats": state.ctx.bus.nc.is_connected}
    try:
        checks["read_store_position"] = await anyio.to_thread.run_sync(
            state.ctx.readers.get_position
        )
        checks["read_store"] = True
    except Exception:
        checks["read_store"] = False
    ready = bool(checks["nats"] and checks["read_store"])
    return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
