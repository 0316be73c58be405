"""Pulls tasks of its queues, claims each attempt, executes it, and reports the result.

A task is acknowledged only after its result is accepted by the command service, so a
worker killed mid-block loses nothing: after the ack deadline the task is redelivered.
The claim (`run.start_block`) stops a redelivered task of a finished attempt from
running again. A pure block (no effect outside, see `BlockConfig.PURE`) is not claimed:
running it again is harmless, its repeated result is ignored, and the run saves a command
per block; its result says who ran it and since when. Claims and results go out through
the `Reporter`: several in one command when several are due at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from contracts import subjects
from contracts.blocks import is_pure
from contracts.commands import CompleteBlock, FailBlock, StartBlock
from contracts.errors import ErrorBody, ErrorType
from contracts.events import Task
from contracts.replies import Reply, parse_reply
from services import bus
from services.worker.blocks import EXECUTORS, BlockContext, BlockError
from services.worker.reporter import Reporter

log = logging.getLogger(__name__)


class CommandRejected(Exception):
    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.error.message)
        self.body = body


class Worker:
    def __init__(
        self,
        nc: Client,
        worker_id: str,
        concurrency: int,
        ack_wait_seconds: float,
        command_timeout: float,
        max_command_bytes: int,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.ack_wait = ack_wait_seconds
        self.command_timeout = command_timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reporter = Reporter(self._request, CommandRejected, max_command_bytes)

    async def serve(self, queue: str) -> None:
        consumer = await bus.PullConsumer(
            self.js,
            subject=subjects.task_queue_filter(queue),
            durable=subjects.worker_durable(queue),
            stream=subjects.TASKS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                max_deliver=-1,
                max_ack_pending=-1,
            ),
        ).start()
        try:
            while True:
                await self._slots.acquire()
                free = 1
                while free < 64 and not self._slots.locked():
                    await self._slots.acquire()
                    free += 1
                messages = []
                try:
                    messages = await consumer.fetch(free)
                finally:
                    # Slots not used by a fetched task are given back, whatever happened.
                    for _ in range(free - len(messages)):
                        self._slots.release()
                for msg in messages:
                    task = asyncio.create_task(self._handle(msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            await consumer.stop()

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _request(self, tenant: str, aggregate: str, name: str, body: bytes) -> Reply:
        subject = subjects.command_subject(tenant, aggregate, name)
        msg = await self.nc.request(subject, body, timeout=self.command_timeout)
        return parse_reply(msg.data)

    async def _handle(self, msg: Msg) -> None:
        try:
            await self._execute(msg)
        except CommandRejected as exc:
            if exc.body.error.type in (ErrorType.RUN_NOT_FOUND, ErrorType.VALIDATION_ERROR):
                log.error("dropping task: %s", exc.body.error.message)
                await msg.term()
            else:
                await msg.nak(delay=1)
        except Exception:
            # NATS or the command service is unreachable: the task comes back later.
            log.exception("task not finished; it will be redelivered")
            await msg.nak(delay=1)
        finally:
            self._slots.release()

    async def _execute(self, msg: Msg) -> None:
        task = Task.model_validate_json(msg.data)
        attempt: dict[str, Any] = {
            "run_id": task.run_id,
            "block": task.block,
            "attempt": task.attempt,
        }
        if is_pure(task.type):
            attempt |= {"worker": self.worker_id, "started_at": datetime.now(UTC)}
        else:
            claim = await self._reporter.report(
                task.tenant, StartBlock(**attempt, worker=self.worker_id)
            )
            if not claim.get("claimed"):
                await msg.ack()  # Stale: the attempt already ended, or the run did.
                return
        ctx = BlockContext(task.run_id, task.block, task.attempt, task.context)
        heartbeat = asyncio.create_task(self._keep_alive(msg))
        try:
            output = await EXECUTORS[task.type](task.config, ctx)
            result: CompleteBlock | FailBlock = CompleteBlock(
                **attempt, output=output, logs=ctx.logs
            )
        except BlockError as exc:
            result = FailBlock(
                **attempt,
                error_type=exc.error_type,
                message=exc.message,
                retryable=exc.retryable,
                logs=ctx.logs,
            )
        except Exception as exc:  # A bug in user code fails the attempt, not the worker.
            result = FailBlock(
                **attempt, error_type=type(exc).__name__, message=str(exc), logs=ctx.logs
            )
        finally:
            heartbeat.cancel()
        await self._reporter.report(task.tenant, result)
        await msg.ack()

    async def _keep_alive(self, msg: Msg) -> None:
        """Long blocks tell JetStream they are alive, so they are not redelivered."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            await msg.in_progress()
