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


def consumer_config(**changes: object) -> ConsumerConfig:
    """The projector's durable consumer. Events are applied in stream order by one
    projector at a time (it holds a lease), so acknowledging one acknowledges every
    event before it (AckPolicy.ALL)."""
    return ConsumerConfig(
        ack_policy=AckPolicy.ALL,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=60,
        max_deliver=-1,
        max_ack_pending=20_000,
    ).evolve(**changes)


class Projector:
    def __init__(self, js: JetStreamContext, store: ReadStore, batch: int = 500) -> None:
        self.js = js
        self.store = store
        self.batch = batch
        self.position = 0

    async def run(self) -> None:
        await self.reapply_acknowledged()
        await self.replace_per_message_ack_consumer()
        consumer = await PullConsumer(
            self.js,
            subject=subjects.event_wildcard(),
            durable=subjects.PROJECTOR_DURABLE,
            stream=subjects.EVENTS_STREAM,
            config=consumer_config(),
        ).start()
        try:
            while True:
                messages = await consumer.fetch(self.batch, gather_seconds=0.005)
                if not messages:
                    continue
                await self._apply(messages)
                # Cumulative acks: the batch's last message acknowledges all of it (one
                # message to the server per batch, not one per event: a third of all
                # the messages a run sent through NATS).
                await messages[-1].ack()
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

    async def replace_per_message_ack_consumer(self) -> None:
        """A consumer made by an earlier version acknowledged each event (EXPLICIT), and
        JetStream cannot change a consumer's ack policy: such a one is replaced by one
        that starts at the first event the read store lacks. Run after
        `reapply_acknowledged`, so the store holds everything the old one had delivered
        and had acknowledged; what it delivered and had not comes again."""
        try:
            info = await self.js.consumer_info(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
        except NotFoundError:
            return  # PullConsumer.start makes a new one, delivering every event.
        if info.config.ack_policy == AckPolicy.ALL:
            return
        held = await anyio.to_thread.run_sync(self.store.position)
        last_seq = (await self.js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
        start = await self._first_seq_after(held, last_seq) if held and last_seq else 0
        log.warning(
            "replacing the projector's consumer (it acknowledged each event) with one "
            "acknowledging cumulatively, from stream sequence %d",
            start,
        )
        await self.js.delete_consumer(subjects.EVENTS_STREAM, subjects.PROJECTOR_DURABLE)
        changes: dict[str, object] = {}
        if start:
            changes = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": start}
        config = consumer_config(
            durable_name=subjects.PROJECTOR_DURABLE,
            filter_subject=subjects.event_wildcard(),
            **changes,
        )
        await self.js.add_consumer(subjects.EVENTS_STREAM, config=config)

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
