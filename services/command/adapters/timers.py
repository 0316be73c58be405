"""Consumes fired timers (JetStream message schedules) and turns each into a command.

A run's timer becomes FireTimer; a schedule's recurring timer becomes FireSchedule.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import subjects
from contracts.commands import Command, FireSchedule, FireTimer
from contracts.events import TimerMessage
from contracts.replies import Reply
from services import bus

log = logging.getLogger(__name__)

Submit = Callable[[str, Command], Awaitable[Reply]]


class TimerConsumer:
    def __init__(self, js: JetStreamContext, submit: Submit, batch: int = 256) -> None:
        self.js = js
        self.submit = submit
        self.batch = batch

    async def run(self) -> None:
        await bus.consume(
            self.js,
            subject=subjects.timer_fired_wildcard(),
            durable=subjects.TIMERS_DURABLE,
            stream=subjects.TIMERS_STREAM,
            ack_wait=30,
            batch=self.batch,
            handle=self._handle,
        )

    async def _handle(self, msg: Msg) -> None:
        try:
            fired = TimerMessage.model_validate_json(msg.data)
        except ValueError:
            log.error("dropping a malformed timer message")
            await msg.term()
            return
        command: Command
        if fired.purpose == subjects.SCHEDULE_PURPOSE:
            # The fired message's own time: a redelivery of it names the same run.
            fired_at = msg.metadata.timestamp
            command = FireSchedule(id=fired.block, generation=fired.attempt, fired_at=fired_at)
        else:
            command = FireTimer(
                run_id=fired.run_id, block=fired.block, attempt=fired.attempt, purpose=fired.purpose
            )
        try:
            await self.submit(fired.tenant, command)
        except Exception:  # The store is down: let it come back.
            log.exception("firing timer failed; will be redelivered")
            await msg.nak(delay=1)
            return
        await msg.ack()
