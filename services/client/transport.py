"""The HTTP layer under the client: headers, read-your-writes positions, errors, streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from contracts import subjects
from services.client.errors import FlowledgerAPIError, FlowledgerConnectionError

# The query service's own names for these are not in `contracts` yet; keep them in step.
DEFAULT_URL = "http://127.0.0.1:8080"
# The stream sends a keepalive comment every 15 s: a read waits longer than that.
STREAM_READ_TIMEOUT = 60.0


class Transport:
    """One httpx.Client plus the highest write position seen, sent back on every read."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        tenant: str | None,
        timeout: float,
        read_your_writes: bool,
        http: httpx.BaseTransport | None,
    ) -> None:
        headers = {"accept": "application/json"}
        if api_key:
            headers[subjects.HTTP_API_KEY_HEADER] = api_key
        if tenant:
            headers[subjects.HTTP_TENANT_HEADER] = tenant
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.read_your_writes = read_your_writes
        self.position: int | None = None
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=http
        )

    def close(self) -> None:
        self.http.close()

    def _headers(self, method: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if method == "GET" and self.read_your_writes and self.position is not None:
            headers[subjects.HTTP_MIN_POSITION_HEADER] = str(self.position)
        return headers

    def _remember(self, response: httpx.Response) -> None:
        text = response.headers.get(subjects.HTTP_POSITION_HEADER, "")
        if text.isdigit():
            self.position = max(self.position or 0, int(text))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: str | bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one request; the decoded JSON body, or FlowledgerAPIError from the error body."""
        sent = self._headers(method, headers)
        if idempotency_key:
            sent[subjects.IDEMPOTENCY_HEADER] = idempotency_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(
                method, path, json=json, content=content, params=query, headers=sent
            )
        except httpx.TransportError as exc:
            raise FlowledgerConnectionError(self.base_url, exc) from exc
        self._remember(response)
        if response.is_error:
            raise FlowledgerAPIError.from_response(response)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, path: str, headers: Mapping[str, str]) -> Iterator[Iterator[str]]:
        """A GET whose body is read line by line (server-sent events)."""
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT))
        sent = {**self._headers("GET", headers), "accept": "text/event-stream"}
        try:
            with self.http.stream("GET", path, headers=sent, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    raise FlowledgerAPIError.from_response(response)
                yield response.iter_lines()
        except (httpx.ReadTimeout, httpx.RemoteProtocolError):
            raise  # A silent or cut stream: the watcher reconnects after its last event.
        except httpx.TransportError as exc:
            raise FlowledgerConnectionError(self.base_url, exc) from exc


def follow_pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Yield the items of page after page until a page has no `next_cursor`."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor
