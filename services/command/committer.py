"""Group commit: commands that arrive while a batch is being saved form the next batch.

Batches are decided and saved one at a time; under load each transaction carries many
commands (STACK-FACTS: group commits are the lever for throughput). A command's answer
goes out only after its batch is committed.

The event store is synchronous. A store reached over the network (PostgreSQL) is called
from a worker thread, as STYLE asks: its round trips, another replica's lock and an
outage must not stop the event loop, which also holds the relay's lease. An embedded one
(a SQLite file) is called on the loop itself: its waits are a local fsync (~0.2 ms), and
the hop to a thread cost more than it saved, above all in the two threads then taking
the one GIL from each other (measured: completed runs +8 %, bus starts +26 to +56 %,
their p99 at 1,000/s about halved; bench/README item 16).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio.to_thread

from contracts.commands import Command
from contracts.errors import ErrorBody, ErrorType
from contracts.replies import Reply
from services.command.application import CommandProcessor, Envelope
from services.tasks import stop_tasks

log = logging.getLogger(__name__)

Respond = Callable[[Reply], Awaitable[None]]


class GroupCommitter:
    def __init__(
        self,
        processor: CommandProcessor,
        max_batch: int,
        on_commit: Callable[[], None] = lambda: None,
        max_pending: int = 4096,
        in_thread: bool = True,
    ) -> None:
        self.processor = processor
        self.max_batch = max_batch
        self.on_commit = on_commit
        self.in_thread = in_thread
        # Bounded: a producer faster than the store waits here instead of growing memory.
        self._queue: asyncio.Queue[tuple[Envelope, Respond | asyncio.Future[Reply]]] = (
            asyncio.Queue(max_pending)
        )
        self._task: asyncio.Task[None] | None = None
        self._limiter = anyio.CapacityLimiter(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        if self._task:
            await stop_tasks(self._task)

    async def submit(
        self, tenant: str, command: Command, idempotency: tuple[str, str] | None = None
    ) -> Reply:
        """Queue a command and wait for its reply (raises if the store is unreachable)."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        await self._queue.put((Envelope(tenant, command, idempotency), future))
        return await future

    async def enqueue(self, envelope: Envelope, respond: Respond) -> None:
        """Queue a command; `respond` gets its reply once committed (waits only while full)."""
        await self._queue.put((envelope, respond))

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < self.max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            batch = [envelope for envelope, _ in items]
            try:
                replies = await self._process(batch)
            except Exception as exc:  # The store is down: fail these, keep serving.
                log.exception("saving a batch of %d commands failed", len(batch))
                unavailable = ErrorBody.of(
                    ErrorType.UNAVAILABLE, "the event store is unavailable; retry"
                )
                await self._answer(items, [unavailable] * len(items), exc)
                continue
            self.on_commit()
            await self._answer(items, replies)
            if not self.in_thread:
                # A queue already holding the next batch would be taken without a pause:
                # the relay and the command readers get their turn between batches.
                await asyncio.sleep(0)

    async def _process(self, batch: list[Envelope]) -> list[Reply]:
        if not self.in_thread:
            return self.processor.process(batch)
        return await anyio.to_thread.run_sync(self.processor.process, batch, limiter=self._limiter)

    async def _answer(
        self,
        items: list[tuple[Envelope, Respond | asyncio.Future[Reply]]],
        replies: list[Reply],
        failure: Exception | None = None,
    ) -> None:
        for (_, waiter), reply in zip(items, replies, strict=True):
            if isinstance(waiter, asyncio.Future):
                if waiter.done():
                    continue
                if failure is not None:
                    waiter.set_exception(failure)
                else:
                    waiter.set_result(reply)
                continue
            try:
                await waiter(reply)
            except Exception:  # The requester is gone or NATS is down: it will retry.
                log.warning("could not send a command's reply", exc_info=True)
