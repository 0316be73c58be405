"""Sends a worker's claims and results to the command service, several in one request
when several are due.

A result that comes due while nothing is in flight for its tenant goes out at once, alone,
as its own command. Results that come due while one is in flight wait for it, and then go
together in one `run.report_blocks`; claims likewise, in one `run.start_blocks`. No
command waits on a timer, and under load the command service handles one message for
many (each message cost it more than deciding the command it carried). A batch stays
within the command service's body limit; a command too large for it alone still goes
alone, and is refused as before. A batch refused whole (by a command service older than
the batch commands, during a rolling upgrade) is sent again one command at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.commands import (
    BATCHED_IN,
    MAX_BATCH,
    Command,
    CompleteBlock,
    FailBlock,
    StartBlock,
)
from contracts.errors import ErrorBody
from contracts.replies import Reply

# Sends one command body for a tenant: (tenant, aggregate, command name, body) -> the
# reply; raises when there is none.
Send = Callable[[str, str, str, bytes], Awaitable[Reply]]
# How a refused report is raised to the one who reported it.
Refusal = Callable[[ErrorBody], Exception]

Attempt = StartBlock | CompleteBlock | FailBlock

# (tenant, the batch command, its field that lists them)
_Queue = tuple[str, type[Command], str]
_CLOSING = b"]}"


@dataclass
class _Due:
    aggregate: str  # The command it is on its own: run.start_block, run.complete_block …
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
        # Waiting to be sent, and the task sending them, per tenant and batch command.
        self._due: dict[_Queue, list[_Due]] = {}
        self._senders: dict[_Queue, asyncio.Task[None]] = {}

    async def report(self, tenant: str, command: Attempt) -> dict[str, Any]:
        """The command's own answer (`{"claimed": …}`, `{"accepted": …}`) once the
        command service has it."""
        # Encoded once: a batch's body is its commands' bodies, joined.
        due = _Due(command.AGGREGATE, command.NAME, command.model_dump_json().encode())
        batch_command = BATCHED_IN[type(command)]
        (items_field,) = batch_command.model_fields  # `claims` or `reports`
        queue = (tenant, batch_command, items_field)
        self._due.setdefault(queue, []).append(due)
        if queue not in self._senders:
            self._senders[queue] = asyncio.create_task(self._send_due(queue))
        return await due.answer

    async def _send_due(self, queue: _Queue) -> None:
        try:
            while due := self._due.pop(queue, None):
                batch = self._take(queue, due)
                if len(batch) < len(due):
                    self._due[queue] = due[len(batch) :] + self._due.get(queue, [])
                await self._send_batch(queue, batch)
        except asyncio.CancelledError:
            for waiting in self._due.pop(queue, []):
                waiting.answer.cancel()
            raise
        finally:
            del self._senders[queue]

    def _take(self, queue: _Queue, due: list[_Due]) -> list[_Due]:
        """The first of `due`, and as many after it as fit in one request."""
        size = len(_opening(queue)) + len(_CLOSING) + len(due[0].body)
        taken = 1
        while taken < min(len(due), self.max_batch):
            size += 1 + len(due[taken].body)
            if size > self.max_bytes:
                break
            taken += 1
        return due[:taken]

    async def _send_batch(self, queue: _Queue, batch: list[_Due]) -> None:
        tenant, batch_command, _ = queue
        try:
            if len(batch) == 1:
                alone = batch[0]
                reply = await self.send(tenant, alone.aggregate, alone.name, alone.body)
                items = [_item(reply)]
            else:
                body = _opening(queue) + b",".join(d.body for d in batch) + _CLOSING
                reply = await self.send(tenant, batch_command.AGGREGATE, batch_command.NAME, body)
                if isinstance(reply, ErrorBody):
                    for due in batch:
                        await self._send_batch(queue, [due])
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


def _opening(queue: _Queue) -> bytes:
    return b'{"' + queue[2].encode() + b'":['


def _item(reply: Reply) -> dict[str, Any]:
    """A reply to one result as an item of a batch's reply: its result, or its error."""
    return reply.model_dump(mode="json") if isinstance(reply, ErrorBody) else reply.result
