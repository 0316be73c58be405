"""Consumes fired timers (JetStream message schedules) and turns each into FireTimer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from contracts import subjects
from contracts.commands import Command, FireSchedule, FireTimer
from contracts.events import TimerMessage
from contracts.replies import Reply

log = logging.getLogger(__name__)

Submit = Callable[[str, Command], Awaitable[Reply]]


class TimerConsumer:
    def __init__(self, js: JetStreamContext, submit: Submit, batch: int = 256) -> None:
        self.js = js
        self.submit = submit
        self.batch = batch

    async def run(self) -> None:
        sub = await self.js.pull_subscribe(
            subjects.timer_fired_wildcard(),
            durable=subjects.TIMERS_DURABLE,
            stream=subjects.TIMERS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1),
        )
        while True:
            try:
                messages = await sub.fetch(self.batch, timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
            await asyncio.gather(*(self._handle(m) for m in messages))

    async def _handle(self, msg: object) -> None:
        try:
            fired = TimerMessage.model_validate_json(msg.data)  # type: ignore[attr-defined]
        except ValueError:
            log.error("dropping a malformed timer message")
            await msg.term()  # type: ignore[attr-defined]
            return
        command: Command
        if fired.purpose == subjects.SCHEDULE_PURPOSE:
            # The fired message's own time: a redelivery of it names the same run.
            fired_at = msg.metadata.timestamp  # type: ignore[attr-defined]
            command = FireSchedule(id=fired.block, generation=fired.attempt, fired_at=fired_at)
        else:
            command = FireTimer(
                run_id=fired.run_id, block=fired.block, attempt=fired.attempt, purpose=fired.purpose
            )
        try:
            await self.submit(fired.tenant, command)
        except Exception:  # The store is down: let it come back.
            log.exception("firing timer failed; will be redelivered")
            await msg.nak(delay=1)  # type: ignore[attr-defined]
            return
        await msg.ack()  # type: ignore[attr-defined]
