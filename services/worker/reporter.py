"""Sends a worker's block results to the command service, several in one request when
several are due.

A result that comes due while nothing is in flight for its tenant goes out at once, alone,
as its own command. Results that come due while a report is in flight wait for it, and
then go together in one `run.report_blocks`: no result waits on a timer, and under load
the command service handles one message for many results (each message cost it more
than deciding the result it carried). A batch stays within the command service's body
limit; a result too large for it alone still goes alone, and is refused as before. A
batch refused whole (by a command service older than `run.report_blocks`, during a
rolling upgrade) is sent again one result at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.commands import MAX_BATCH, CompleteBlock, FailBlock, ReportBlocks
from contracts.errors import ErrorBody
from contracts.replies import Reply

# Sends one command body for a tenant: (tenant, aggregate, command name, body) -> the
# reply; raises when there is none.
Send = Callable[[str, str, str, bytes], Awaitable[Reply]]
# How a refused report is raised to the one who reported it.
Refusal = Callable[[ErrorBody], Exception]

_BATCH_OPEN, _BATCH_CLOSE = b'{"reports":[', b"]}"


@dataclass
class _Due:
    aggregate: str  # The command it is on its own (run.complete_block or run.fail_block).
    name: str
    body: bytes
    answer: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Reporter:
    def __init__(
        self, send: Send, refusal: Refusal, max_bytes: int, max_batch: int = MAX_BATCH
    ) -> None:
        self.send = send
        self.refusal = refusal
        self.max_bytes = max_bytes
        self.max_batch = max_batch
        self._due: dict[str, list[_Due]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    async def report(self, tenant: str, result: CompleteBlock | FailBlock) -> dict[str, Any]:
        """The result's own answer (`{"accepted": …}`) once the command service has it."""
        # Encoded once: a batch's body is its reports' bodies, joined.
        due = _Due(result.AGGREGATE, result.NAME, result.model_dump_json().encode())
        self._due.setdefault(tenant, []).append(due)
        if tenant not in self._senders:
            self._senders[tenant] = asyncio.create_task(self._send_due(tenant))
        return await due.answer

    async def _send_due(self, tenant: str) -> None:
        try:
            while due := self._due.pop(tenant, None):
                batch = self._take(due)
                if len(batch) < len(due):
                    self._due[tenant] = due[len(batch) :] + self._due.get(tenant, [])
                await self._send_batch(tenant, batch)
        except asyncio.CancelledError:
            for waiting in self._due.pop(tenant, []):
                waiting.answer.cancel()
            raise
        finally:
            del self._senders[tenant]

    def _take(self, due: list[_Due]) -> list[_Due]:
        """The first of `due`, and as many after it as fit in one request."""
        size = len(_BATCH_OPEN) + len(_BATCH_CLOSE) + len(due[0].body)
        taken = 1
        while taken < min(len(due), self.max_batch):
            size += 1 + len(due[taken].body)
            if size > self.max_bytes:
                break
            taken += 1
        return due[:taken]

    async def _send_batch(self, tenant: str, batch: list[_Due]) -> None:
        try:
            if len(batch) == 1:
                alone = batch[0]
                reply = await self.send(tenant, alone.aggregate, alone.name, alone.body)
                items = [_item(reply)]
            else:
                body = _BATCH_OPEN + b",".join(d.body for d in batch) + _BATCH_CLOSE
                reply = await self.send(tenant, ReportBlocks.AGGREGATE, ReportBlocks.NAME, body)
                if isinstance(reply, ErrorBody):
                    for due in batch:
                        await self._send_batch(tenant, [due])
                    return
                items = reply.result["items"]
        except asyncio.CancelledError:
            for due in batch:
                due.answer.cancel()
            raise
        except Exception as exc:  # No answer (unreachable, timed out): each one raises.
            for due in batch:
                if not due.answer.done():
                    due.answer.set_exception(exc)
            return
        for due, item in zip(batch, items, strict=True):
            if due.answer.done():  # Its reporter was cancelled meanwhile.
                continue
            if "error" in item:
                due.answer.set_exception(self.refusal(ErrorBody.model_validate(item)))
            else:
                due.answer.set_result(item)


def _item(reply: Reply) -> dict[str, Any]:
    """A reply to one result as an item of a batch's reply: its result, or its error."""
    return reply.model_dump(mode="json") if isinstance(reply, ErrorBody) else reply.result
