"""The projector process: a durable consumer of FL_EVENTS feeding the read store."""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects
from contracts.events import Envelope
from projections.store import ReadStore

log = logging.getLogger(__name__)


class Projector:
    def __init__(self, js: JetStreamContext, store: ReadStore, batch: int = 500) -> None:
        self.js = js
        self.store = store
        self.batch = batch
        self.position = 0

    async def run(self) -> None:
        sub = await self.js.pull_subscribe(
            subjects.event_wildcard(),
            durable=subjects.PROJECTOR_DURABLE,
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60,
                max_deliver=-1,
                max_ack_pending=20_000,
            ),
        )
        while True:
            try:
                messages = await sub.fetch(self.batch, timeout=1)
            except (NatsTimeoutError, TimeoutError):
                continue
            envelopes = [Envelope.model_validate_json(m.data) for m in messages]
            self.position = await anyio.to_thread.run_sync(self.store.apply_batch, envelopes)
            # Acknowledge the batch as one: the last ack covers nothing else, so ack each.
            await asyncio.gather(*(m.ack() for m in messages))
