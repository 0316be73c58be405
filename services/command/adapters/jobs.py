"""Consumes background job chunks (FL_TASKS, the jobs queue) and runs each as a command."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from contracts import subjects
from contracts.commands import RunJobChunk
from contracts.errors import ErrorBody
from contracts.events import JobChunk
from services.command.adapters.timers import Submit

log = logging.getLogger(__name__)


class JobConsumer:
    def __init__(self, js: JetStreamContext, submit: Submit, batch: int = 8) -> None:
        self.js = js
        self.submit = submit
        self.batch = batch

    async def run(self) -> None:
        sub = await self.js.pull_subscribe(
            subjects.task_queue_filter(subjects.JOBS_QUEUE),
            durable=subjects.JOBS_DURABLE,
            stream=subjects.TASKS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_deliver=-1),
        )
        while True:
            try:
                messages = await sub.fetch(self.batch, timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
            await asyncio.gather(*(self._handle(m) for m in messages))

    async def _handle(self, msg: Any) -> None:
        chunk = JobChunk.model_validate_json(msg.data)
        reply = await self.submit(chunk.tenant, RunJobChunk(job_id=chunk.job_id, chunk=chunk.chunk))
        if isinstance(reply, ErrorBody):
            log.error("job %s chunk %d failed: %s", chunk.job_id, chunk.chunk, reply.error.message)
            await msg.nak(delay=1)
            return
        await msg.ack()
