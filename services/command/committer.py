"""Group commit: commands that arrive while a batch is being saved form the next batch.

The event store is synchronous, so batches are decided and saved in one worker thread,
one at a time; under load each transaction carries many commands (STACK-FACTS: group
commits are the lever for throughput).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio.to_thread

from contracts.commands import Command
from contracts.replies import Reply
from services.command.application import CommandProcessor, Envelope

log = logging.getLogger(__name__)


class GroupCommitter:
    def __init__(
        self,
        processor: CommandProcessor,
        max_batch: int,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.processor = processor
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._queue: asyncio.Queue[tuple[Envelope, asyncio.Future[Reply]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._limiter = anyio.CapacityLimiter(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(
        self, tenant: str, command: Command, idempotency: tuple[str, str] | None = None
    ) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        await self._queue.put((Envelope(tenant, command, idempotency), future))
        return await future

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < self.max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            batch = [envelope for envelope, _ in items]
            try:
                replies = await anyio.to_thread.run_sync(
                    self.processor.process, batch, limiter=self._limiter
                )
            except Exception as exc:  # The store is down: fail these, keep serving.
                log.exception("saving a batch of %d commands failed", len(batch))
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), reply in zip(items, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
            self.on_commit()
