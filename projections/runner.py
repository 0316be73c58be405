"""The projector process: a durable consumer of FL_EVENTS feeding the read store."""

from __future__ import annotations

import logging

import anyio.to_thread
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.events import Envelope, envelope_position
from projections.store import ReadStore
from services.bus import PullConsumer

log = logging.getLogger(__name__)


class Projector:
    def __init__(self, js: JetStreamContext, store: ReadStore, batch: int = 500) -> None:
        self.js = js
        self.store = store
        self.batch = batch
        self.position = 0

    async def run(self) -> None:
        await self.reapply_acknowledged()
        consumer = await PullConsumer(
            self.js,
            subject=subjects.event_wildcard(),
            durable=subjects.PROJECTOR_DURABLE,
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60,
                max_deliver=-1,
                max_ack_pending=20_000,
            ),
        ).start()
        try:
            while True:
                messages = await consumer.fetch(self.batch, gather_seconds=0.005)
                if not messages:
                    continue
                await self._apply(messages)
                # Explicit acks: each message is acknowledged. One after another, not
                # gathered: an ack only buffers a publish, and a task per ack cost more.
                for message in messages:
                    await message.ack()
        finally:
            await consumer.stop()

    async def _apply(self, messages: list[Msg]) -> None:
        envelopes = [Envelope.model_validate_json(m.data) for m in messages]
        self.position = await anyio.to_thread.run_sync(self.store.apply_batch, envelopes)

    # ----- events acknowledged that the read store lost -------------------------------

    async def reapply_acknowledged(self) -> None:
        """Apply again, from the stream, what the consumer delivered but the store lacks.

        Events are acknowledged after their commit, but a commit can still be lost later:
        SQLite's synchronous=NORMAL on a power cut, or a read store restored from an older
        backup. The durable consumer never delivers an acknowledged event again, so on
        start the projector reads that range itself (position-keyed, so nothing applies
        twice)."""
        try:
            info = await self.js.consumer_info(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
        except NotFoundError:
            return  # A new consumer delivers every event.
        delivered = info.delivered.stream_seq if info.delivered else 0
        held = await anyio.to_thread.run_sync(self.store.position)
        last = await self._position_at(delivered, delivered) if delivered else None
        if last is None or last <= held:
            return
        start = await self._first_seq_after(held, delivered)
        log.warning(
            "the read store holds position %d but events up to %d were delivered: "
            "applying stream sequences %d..%d again",
            held,
            last,
            start,
            delivered,
        )
        sub = await self.js.pull_subscribe(
            subjects.event_wildcard(),
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
            ),
        )
        try:
            while True:
                messages = await sub.fetch(self.batch, timeout=5)
                await self._apply(messages)
                if messages[-1].metadata.sequence.stream >= delivered:
                    break
        finally:
            await sub.unsubscribe()

    async def _position_at(self, seq: int, upto: int) -> int | None:
        """The position of the event at stream sequence `seq`, or at the next one that
        exists (a message may have been deleted) up to `upto`; None if there is none."""
        while seq <= upto:
            try:
                msg = await self.js.get_msg(subjects.EVENTS_STREAM, seq)
            except NotFoundError:
                seq += 1
                continue
            return envelope_position(msg.data)
        return None

    async def _first_seq_after(self, position: int, upto: int) -> int:
        """The first stream sequence whose event is past `position` (positions only grow
        along the stream), by bisection."""
        info = await self.js.stream_info(subjects.EVENTS_STREAM)
        low, high = info.state.first_seq, upto
        while low < high:
            middle = (low + high) // 2
            found = await self._position_at(middle, high)
            if found is not None and found > position:
                high = middle
            else:
                low = middle + 1
        return low
