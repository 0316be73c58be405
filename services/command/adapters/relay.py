"""The outbox relay: publishes every stored event, in order, to JetStream.

It follows the event store's notification log. Each event goes to FL_EVENTS with
`Nats-Msg-Id` = its global position; before it, a scheduled task goes to FL_TASKS and a
timer becomes a JetStream message schedule on FL_TIMERS. On (re)start it reads the last
position back from the stream itself, so a crash between commit and publish loses nothing
and duplicates nothing, and a stream that lost its tail is healed from the store.

The store is always what it follows. Events this process has just saved are handed over
in memory (`remember`), so they need not be decoded again, nor read back at all while
their positions follow on from the last one published without a hole (a position is
unique: nothing else can stand there). A hole, another writer, a restart: it reads the
store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from eventsourcing.persistence import Recording
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.events import (
    EVENT_TYPES,
    BlockScheduled,
    DeadlineSet,
    JobChunk,
    JobCreated,
    ScheduleArmed,
    ScheduleDisarmed,
    Task,
    TimerMessage,
    TimerStarted,
    encode_envelope,
    envelope_position,
)
from services.bus import BatchPublisher
from services.command.application import FlowledgerApplication

log = logging.getLogger(__name__)

_SKIP_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_ID_FIELD = {
    "run": "run_id",
    "workflow": "name",
    "idempotency": "key",
    "schedule": "schedule_id",
    "job": "job_id",
}
_MAX_REMEMBERED = 50_000
# A moment long past: a schedule published with it fires at once, once, and is purged.
_LONG_AGO = "@at 2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class Identity:
    """Who an aggregate is on the wire: its tenant, kind, public id (and workflow)."""

    tenant: str
    aggregate: str
    public_id: str
    workflow: str | None


def _event_data(domain_event: Any) -> dict[str, Any]:
    return {k: v for k, v in domain_event.__dict__.items() if k not in _SKIP_FIELDS}


# The hex digit that carries the RFC 4122 variant (10xx), for each digit it replaces.
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 0x3] for d in "0123456789abcdef"}


def event_id(originator_id: uuid.UUID, version: int) -> str:
    """`str(uuid5(originator_id, str(version)))`, without building UUID objects (the
    uuid module's were a tenth of the relay's CPU): the SHA-1's first 32 hex digits,
    with the version digit set to 5 and the variant digit to 10xx."""
    h = hashlib.sha1(originator_id.bytes + str(version).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class OutboxRelay:
    def __init__(
        self,
        app: FlowledgerApplication,
        js: JetStreamContext,
        poll_seconds: float = 0.05,
        batch_size: int = 1000,
    ) -> None:
        self.app = app
        self.js = js
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.wake = asyncio.Event()
        self.published_position = 0
        # Only the relay writes FL_EVENTS and FL_TASKS: their acks can be counted.
        self._publisher = BatchPublisher(
            js,
            sole={
                subjects.EVENT_ROOT: subjects.EVENTS_STREAM,
                subjects.TASK_ROOT: subjects.TASKS_STREAM,
            },
        )
        self._identities: OrderedDict[uuid.UUID, Identity] = OrderedDict()
        # Domain events this process saved, by position, while this relay runs.
        self._saved: dict[int, Any] = {}
        self._running = False

    def remember(self, recordings: Iterable[Recording[uuid.UUID]]) -> None:
        """Called by the committer after a save (on its worker thread, when it has one):
        spares decoding them."""
        if not self._running:
            return
        if len(self._saved) > _MAX_REMEMBERED:
            # Events the relay read from the store before they were remembered are never
            # taken: drop what is already published. (A copy first: the relay pops from
            # the dict in its own thread meanwhile; dict.copy is atomic.)
            floor = self.published_position
            self._saved = {p: e for p, e in self._saved.copy().items() if p > floor}
        for recording in recordings:
            self._saved[recording.notification.id] = recording.domain_event

    # ----- where to resume -----------------------------------------------------------

    async def last_position_in_stream(self) -> int:
        """The position of the last event the stream holds (0 when empty)."""
        info = await self.js.stream_info(subjects.EVENTS_STREAM)
        seq = info.state.last_seq
        # Walk back over deleted messages: the tail may have been lost or removed.
        while seq >= max(1, info.state.first_seq):
            try:
                msg = await self.js.get_msg(subjects.EVENTS_STREAM, seq)
            except NotFoundError:
                seq -= 1
                continue
            return envelope_position(msg.data)
        return 0

    # ----- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        self._saved = {}
        self._publisher.forget()  # The streams may have moved while this relay was away.
        self._running = True
        try:
            await self._follow()
        finally:
            self._running = False
            self._saved = {}

    async def _follow(self) -> None:
        position = await self.last_position_in_stream()
        # Positions above this are not in the stream: a "duplicate" for one means it was
        # lost from the stream after being published, and must be published again.
        stream_tail = position
        log.info("relay resuming after position %d", position)
        read_due = True  # The store may hold what this process never saw: read it first.
        while True:
            # What this process just saved, if it follows on without a hole, is all the
            # store holds there (positions are unique): no need to read it back.
            events = self._take_remembered(position)
            # Otherwise the store is read when a poll falls due (another writer's events
            # are there, or ones saved before this relay ran), or when what is remembered
            # starts past a hole. Not after every publish: that read found nothing.
            if not events and (read_due or self._hole_after(position)):
                notifications = await anyio.to_thread.run_sync(self._read_after, position)
                events = [(n.id, self._domain_event(n)) for n in notifications]
                read_due = False
            if not events:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    read_due = True
                continue
            await self.publish(events, stream_tail)
            position = events[-1][0]
            self.published_position = position

    def _hole_after(self, position: int) -> bool:
        """Whether events are remembered past `position` but not right after it. Those at
        or below it (remembered after a store read already took them) are dropped."""
        for stale in [p for p in list(self._saved) if p <= position]:
            self._saved.pop(stale, None)
        return bool(self._saved)

    def _take_remembered(self, position: int) -> list[tuple[int, Any]]:
        taken: list[tuple[int, Any]] = []
        following = position + 1
        while len(taken) < self.batch_size:
            domain_event = self._saved.pop(following, None)
            if domain_event is None:
                break
            taken.append((following, domain_event))
            following += 1
        return taken

    def _domain_event(self, notification: Any) -> Any:
        remembered = self._saved.pop(notification.id, None)
        return remembered or self.app.mapper.to_domain_event(notification)

    def _read_after(self, position: int) -> Any:
        return self.app.recorder.select_notifications(start=position + 1, limit=self.batch_size)

    async def publish(self, events: list[tuple[int, Any]], stream_tail: int) -> None:
        """Publish (position, domain event) pairs, in order."""
        messages: list[tuple[str, bytes, dict[str, str]]] = []
        positions: list[int] = []
        for position, domain_event in events:
            built = self._messages(position, domain_event)
            messages += built
            positions += [position] * len(built)
        duplicates = await self._publisher.publish(messages)
        for (subject, payload, headers), position, duplicate in zip(
            messages, positions, duplicates, strict=True
        ):
            if duplicate and position > stream_tail and subject.startswith(subjects.EVENT_ROOT):
                healed = {**headers, subjects.MSG_ID_HEADER: f"{position}-{uuid.uuid4().hex}"}
                await self.js.publish(subject, payload, headers=healed)
                self._publisher.forget()  # Its sequence was taken outside the publisher.

    def _messages(
        self, position: int, domain_event: Any
    ) -> list[tuple[str, bytes, dict[str, str]]]:
        event_type = type(domain_event).__name__
        data = EVENT_TYPES[event_type].model_validate(_event_data(domain_event))
        identity = self._identity(domain_event.originator_id, data)
        messages: list[tuple[str, bytes, dict[str, str]]] = []

        if isinstance(data, BlockScheduled) and data.execution == "task":
            task = Task(
                tenant=identity.tenant,
                run_id=identity.public_id,
                workflow=identity.workflow or "",
                block=data.block,
                attempt=data.attempt,
                type=data.type,
                config=data.config,
                context=data.context,
            )
            messages.append(
                (
                    subjects.task_subject(identity.tenant, data.queue),
                    task.model_dump_json().encode(),
                    {subjects.MSG_ID_HEADER: f"task-{position}"},
                )
            )
        elif isinstance(data, (TimerStarted, DeadlineSet)):
            fired = TimerMessage(
                tenant=identity.tenant,
                run_id=identity.public_id,
                block=data.block or "",
                attempt=data.attempt,
                purpose=data.purpose,
            )
            messages.append(
                (
                    subjects.timer_schedule_subject(identity.tenant, data.timer_id),
                    fired.model_dump_json().encode(),
                    {
                        subjects.MSG_ID_HEADER: f"timer-{position}",
                        subjects.SCHEDULE_HEADER: f"@at {_rfc3339(data.fire_at)}",
                        subjects.SCHEDULE_TARGET_HEADER: subjects.timer_fired_subject(
                            identity.tenant
                        ),
                    },
                )
            )

        elif isinstance(data, (ScheduleArmed, ScheduleDisarmed)):
            messages.append(self._schedule_message(identity, data, position))
        elif isinstance(data, JobCreated):
            # Each chunk is a task for the command service's own job consumer.
            chunks = (len(data.ids) + data.chunk_size - 1) // data.chunk_size
            for chunk in range(chunks):
                body = JobChunk(tenant=identity.tenant, job_id=data.job_id, chunk=chunk)
                messages.append(
                    (
                        subjects.task_subject(identity.tenant, subjects.JOBS_QUEUE),
                        body.model_dump_json().encode(),
                        {subjects.MSG_ID_HEADER: f"job-{position}-{chunk}"},
                    )
                )

        envelope = encode_envelope(
            id=event_id(domain_event.originator_id, domain_event.originator_version),
            type=event_type,
            occurred_at=domain_event.timestamp,
            tenant=identity.tenant,
            aggregate=identity.aggregate,
            aggregate_id=identity.public_id,
            aggregate_version=domain_event.originator_version,
            position=position,
            correlation_id=identity.public_id,
            data=data,
        )
        messages.append(
            (
                subjects.event_subject(identity.tenant, identity.aggregate, event_type),
                envelope,
                {subjects.MSG_ID_HEADER: str(position)},
            )
        )
        return messages

    def _schedule_message(
        self, identity: Identity, data: ScheduleArmed | ScheduleDisarmed, position: int
    ) -> tuple[str, bytes, dict[str, str]]:
        """A schedule's recurring message schedule; disarming replaces it with a stale one."""
        body = TimerMessage(
            tenant=identity.tenant,
            run_id="",
            block=identity.public_id,
            attempt=data.generation,
            purpose=subjects.SCHEDULE_PURPOSE,
        )
        headers = {
            subjects.MSG_ID_HEADER: f"timer-{position}",
            subjects.SCHEDULE_TARGET_HEADER: subjects.timer_fired_subject(identity.tenant),
        }
        if isinstance(data, ScheduleArmed):
            headers[subjects.SCHEDULE_HEADER] = data.nats_schedule
            if not data.nats_schedule.startswith("@"):
                headers[subjects.SCHEDULE_TIME_ZONE_HEADER] = data.timezone
        else:
            headers[subjects.SCHEDULE_HEADER] = _LONG_AGO
        subject = subjects.timer_schedule_subject(identity.tenant, data.timer_id)
        return subject, body.model_dump_json().encode(), headers

    def _identity(self, originator_id: uuid.UUID, data: Any) -> Identity:
        known = self._identities.get(originator_id)
        if known is not None:
            self._identities.move_to_end(originator_id)
            return known
        created = data if hasattr(data, "tenant") else self._created_event_data(originator_id)
        aggregate = type(created).AGGREGATE
        identity = Identity(
            tenant=created.tenant,
            aggregate=aggregate,
            public_id=getattr(created, _ID_FIELD[aggregate]),
            workflow=getattr(created, "workflow", None),
        )
        self._identities[originator_id] = identity
        if len(self._identities) > 100_000:
            self._identities.popitem(last=False)
        return identity

    def _created_event_data(self, originator_id: uuid.UUID) -> Any:
        first = next(iter(self.app.events.get(originator_id, lte=1)))
        return EVENT_TYPES[type(first).__name__].model_validate(_event_data(first))
