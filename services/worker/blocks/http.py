"""`http`: sends one request; outputs the response's status, headers and body.

Shared with `webhook`: `send` maps what can go wrong to stable, retry-aware error types —
a status outside the expected ones is `HTTP_<status>` (retryable for 5xx and 429), no
answer within the timeout is `HTTP_TIMEOUT`, no connection is `HTTP_UNREACHABLE`.

Requests share one client per event loop: a client of their own each built a TLS context
(loading the CA bundle), ~20 ms of CPU per block, and opened a new connection every time.
The shared one keeps no cookies, so no run's request carries what another's response set
(nor, as before it did, a cookie set earlier in the same request's redirects).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Collection, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from contracts.blocks.external import HttpConfig
from services.worker.blocks.base import BlockContext, BlockError, parse_config

SUCCESS = range(200, 300)
# How much of an unexpected response's body its error message quotes.
_QUOTED = 500


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    http = parse_config(HttpConfig, config)
    expected = SUCCESS if http.expect_status is None else _as_set(http.expect_status)
    content = None
    headers = dict(http.headers)
    if http.json_body is not None:
        content = json.dumps(http.json_body, separators=(",", ":")).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return await send(http.method, http.url, headers, content, http.timeout_seconds, expected)


_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _client() -> httpx.AsyncClient:
    """This event loop's client (a client's connections belong to the loop that made them)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None:
        client = _CLIENTS[loop] = httpx.AsyncClient(
            follow_redirects=True,
            # A cookie jar that accepts none: requests of different runs stay apart.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            # httpx's default limits (100 connections, 20 kept alive) are kept: an unbounded
            # pool ran a third as fast (httpcore polls every pooled connection per request).
        )
    return client


async def close_client() -> None:
    """Close this event loop's client, its pooled connections with it (at shutdown: the
    servers see the connections end instead of finding them dropped)."""
    client = _CLIENTS.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _as_set(statuses: int | list[int]) -> set[int]:
    return {statuses} if isinstance(statuses, int) else set(statuses)


async def send(
    method: str,
    url: str,
    headers: Mapping[str, str],
    content: bytes | None,
    seconds: float,
    expected: Collection[int],
) -> dict[str, Any]:
    """One request, redirects followed; `seconds` bounds all of it, body included."""
    try:
        async with asyncio.timeout(seconds):
            response = await _client().request(
                method, url, headers=headers, content=content, timeout=seconds
            )
    except (TimeoutError, httpx.TimeoutException) as exc:
        message = f"{method} {url}: no answer within {seconds:g}s"
        raise BlockError("HTTP_TIMEOUT", message, retryable=True) from exc
    except httpx.HTTPError as exc:
        message = f"{method} {url}: {type(exc).__name__}: {exc}"
        raise BlockError("HTTP_UNREACHABLE", message, retryable=True) from exc
    output = {
        "status": response.status_code,
        "headers": dict(response.headers.items()),
        "body": _body(response),
    }
    if response.status_code not in expected:
        status = response.status_code
        quoted = response.text[:_QUOTED]
        raise BlockError(
            f"HTTP_{status}",
            f"{method} {url} answered {status}: {quoted}",
            retryable=status >= 500 or status == 429,
        )
    return output


def _body(response: httpx.Response) -> Any:
    """JSON-decoded when the response says it is JSON (and is), else the text."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text
