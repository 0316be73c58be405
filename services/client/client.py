"""`FlowledgerClient`: the REST API as typed Python calls (sync, on httpx).

The calls live by resource in `workflows.py` and `runs.py`; following a run is here.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator

import httpx
from pydantic import BaseModel

from contracts import subjects
from contracts.api import RunEventView, RunView
from services.client.runs import RunCalls
from services.client.sse import parse_events
from services.client.transport import DEFAULT_URL, Transport
from services.client.workflows import WorkflowCalls

# The run statuses after which nothing more happens (API.md, "Run statuses").
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "terminated"})


class StreamEnd(BaseModel):
    """The last thing `watch` yields: the run ended with `status` at stream `position`."""

    status: str
    position: int


class FlowledgerClient(WorkflowCalls, RunCalls):
    """A client of one Flowledger server, for one tenant.

    Read-your-writes: every write's response carries `X-Flowledger-Position`; the client keeps
    the highest it has seen (`position`) and sends it as `X-Flowledger-Min-Position` on its
    reads, so the server answers only once its read models include this client's own writes
    (a run just started is found by `get_run`, a saved workflow by `list_workflows`). The
    server waits for that a bounded time, then answers 503 `UNAVAILABLE`. Pass
    `read_your_writes=False` to read whatever the read models hold right now.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        tenant: str | None = None,
        timeout: float = 30.0,
        *,
        read_your_writes: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._t = Transport(
            base_url,
            api_key=api_key,
            tenant=tenant,
            timeout=timeout,
            read_your_writes=read_your_writes,
            http=transport,
        )

    @property
    def base_url(self) -> str:
        return self._t.base_url

    @property
    def position(self) -> int | None:
        """The highest write position this client has seen (None before its first write)."""
        return self._t.position

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> FlowledgerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----- following runs ------------------------------------------------------------------

    def watch(self, run_id: str, *, after: int | None = None) -> Iterator[RunEventView | StreamEnd]:
        """Each event of the run as it is recorded (after stream position `after`, if
        given), then a `StreamEnd` once the run has ended. A stream the server closes early
        (it bounds their lifetime) or that goes silent is resumed after its last event."""
        last = after
        while True:
            headers = {} if last is None else {subjects.HTTP_LAST_EVENT_ID_HEADER: str(last)}
            try:
                with self._t.stream(f"/v1/runs/{run_id}/stream", headers) as lines:
                    for message in parse_events(lines):
                        if message.event == "end":
                            yield StreamEnd.model_validate_json(message.data)
                            return
                        event = RunEventView.model_validate_json(message.data)
                        last = event.position
                        yield event
            except (httpx.ReadTimeout, httpx.RemoteProtocolError):
                pass
            time.sleep(0.1)  # Reconnect, gently.

    def wait(
        self,
        run_id: str,
        statuses: Collection[str] = TERMINAL_STATUSES,
        timeout: float = 60.0,
    ) -> RunView:
        """Poll the run until its status is one of `statuses` (by default: ended); raise
        TimeoutError if it is not after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            run = self.get_run(run_id)
            if run.status in statuses:
                return run
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"run {run_id} is {run.status} after {timeout}s, "
                    f"not {' or '.join(sorted(statuses))}"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)
