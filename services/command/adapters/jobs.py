"""Consumes background job chunks (FL_TASKS, the jobs queue) and runs each as a command."""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import subjects
from contracts.commands import RunJobChunk
from contracts.errors import ErrorBody
from contracts.events import JobChunk
from services import bus
from services.command.adapters.timers import Submit

log = logging.getLogger(__name__)


class JobConsumer:
    def __init__(self, js: JetStreamContext, submit: Submit, batch: int = 8) -> None:
        self.js = js
        self.submit = submit
        self.batch = batch

    async def run(self) -> None:
        await bus.consume(
            self.js,
            subject=subjects.task_queue_filter(subjects.JOBS_QUEUE),
            durable=subjects.JOBS_DURABLE,
            stream=subjects.TASKS_STREAM,
            ack_wait=60,
            batch=self.batch,
            handle=self._handle,
        )

    async def _handle(self, msg: Msg) -> None:
        try:
            chunk = JobChunk.model_validate_json(msg.data)
        except ValueError:
            log.error("dropping a malformed job chunk")
            await msg.term()
            return
        try:
            reply = await self.submit(
                chunk.tenant, RunJobChunk(job_id=chunk.job_id, chunk=chunk.chunk)
            )
        except Exception:  # The store is down: the chunk comes back.
            log.exception("job %s chunk %d failed; will be redelivered", chunk.job_id, chunk.chunk)
            await msg.nak(delay=1)
            return
        if isinstance(reply, ErrorBody):
            log.error("job %s chunk %d refused: %s", chunk.job_id, chunk.chunk, reply.error.message)
            await msg.nak(delay=1)
            return
        await msg.ack()
