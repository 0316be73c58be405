"""What every controller shares: the tenant, body parsing, read-your-writes, error bodies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
import yaml
from litestar import Request, Response
from litestar.exceptions import HTTPException
from pydantic import BaseModel, ValidationError

from contracts import strict_json, subjects
from contracts.commands import Command
from contracts.errors import ErrorBody, ErrorType, FlowledgerError
from contracts.replies import Accepted
from services.query.commands import CommandBus
from services.query.definition_readers import DefinitionReaders
from services.query.history_readers import HistoryReaders
from services.query.readers import Readers
from services.query.schedule_readers import ScheduleReaders
from services.query.stats_readers import StatsReaders

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT_TENANT = "default"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


@dataclass
class QueryContext:
    """The services a controller needs, built once by the composition root."""

    bus: CommandBus
    readers: Readers
    definitions: DefinitionReaders
    schedules: ScheduleReaders
    stats: StatsReaders
    history: HistoryReaders
    min_position_wait: float


def tenant_of(request: Request[Any, Any, Any]) -> str:
    tenant = request.headers.get(subjects.HTTP_TENANT_HEADER, DEFAULT_TENANT)
    try:
        return subjects.check_token(tenant, "tenant")
    except ValueError as exc:
        raise FlowledgerError(ErrorType.BAD_REQUEST, str(exc)) from exc


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


async def parse_body(request: Request[Any, Any, Any], max_bytes: int) -> Any:
    raw = await request.body()
    if len(raw) > max_bytes:
        raise FlowledgerError(
            ErrorType.PAYLOAD_TOO_LARGE, f"request body over {max_bytes} bytes", limit=max_bytes
        )
    if not raw.strip():
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() in YAML_TYPES:
        try:
            return strict_json.refuse_non_finite(yaml.safe_load(raw))
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: a .nan or .inf in it.
            raise FlowledgerError(ErrorType.BAD_REQUEST, f"malformed YAML: {exc}") from exc
    try:
        return strict_json.loads(raw)
    except ValueError as exc:
        raise FlowledgerError(ErrorType.BAD_REQUEST, f"malformed JSON: {exc}") from exc


def build(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FlowledgerError(
            ErrorType.VALIDATION_ERROR, "invalid request", errors=validation_errors(exc)
        ) from exc


def written(body: Any, accepted: Accepted, status_code: int = 200) -> Response[Any]:
    """A write's response: its body and the position to read your write at."""
    return Response(
        body,
        status_code=status_code,
        headers={subjects.HTTP_POSITION_HEADER: str(accepted.position)},
    )


async def wait_for_position(request: Request[Any, Any, Any], ctx: QueryContext) -> None:
    """Honour X-Flowledger-Min-Position: wait (bounded) until the read models reach it."""
    wanted_text = request.headers.get(subjects.HTTP_MIN_POSITION_HEADER)
    if not wanted_text:
        return
    try:
        wanted = int(wanted_text)
    except ValueError as exc:
        raise FlowledgerError(
            ErrorType.BAD_REQUEST, f"{subjects.HTTP_MIN_POSITION_HEADER} must be an integer"
        ) from exc
    deadline = time.monotonic() + ctx.min_position_wait
    while True:
        reached = await anyio.to_thread.run_sync(ctx.readers.get_position)
        if reached >= wanted:
            return
        if time.monotonic() > deadline:
            raise FlowledgerError(
                ErrorType.UNAVAILABLE,
                f"read models are at position {reached}, not yet {wanted}; retry",
                position=reached,
                retry_after=1,
            )
        await asyncio.sleep(0.01)


async def read(
    request: Request[Any, Any, Any], ctx: QueryContext, reader: Callable[..., T], *args: Any
) -> T:
    """A read for the caller's tenant: honour min-position, then query off the event loop."""
    await wait_for_position(request, ctx)
    return await anyio.to_thread.run_sync(reader, tenant_of(request), *args)


async def send(request: Request[Any, Any, Any], ctx: QueryContext, command: Command) -> Accepted:
    """A write for the caller's tenant; `Idempotency-Key` makes a repeat get the first answer."""
    key = request.headers.get(subjects.IDEMPOTENCY_HEADER)
    return await ctx.bus.send(tenant_of(request), command, key)


def error_response(body: ErrorBody) -> Response[Any]:
    headers = {}
    if body.error.type is ErrorType.UNAVAILABLE:
        headers["Retry-After"] = str(body.error.details.get("retry_after", 1))
    return Response(body.model_dump(mode="json"), status_code=body.http_status, headers=headers)


def flowledger_error_handler(_: Request[Any, Any, Any], exc: FlowledgerError) -> Response[Any]:
    return error_response(exc.body())


_HTTP_TYPES = {
    400: ErrorType.BAD_REQUEST,
    401: ErrorType.UNAUTHORIZED,
    403: ErrorType.FORBIDDEN,
    404: ErrorType.NOT_FOUND,
    405: ErrorType.BAD_REQUEST,
    413: ErrorType.PAYLOAD_TOO_LARGE,
    429: ErrorType.RATE_LIMITED,
    503: ErrorType.UNAVAILABLE,
}


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    type_ = _HTTP_TYPES.get(exc.status_code, ErrorType.BAD_REQUEST)
    body = ErrorBody.of(type_, str(exc.detail))
    return Response(body.model_dump(mode="json"), status_code=exc.status_code)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(ErrorBody.of(ErrorType.INTERNAL, "internal error"))
