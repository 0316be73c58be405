"""Decide a batch of commands and save it in one transaction (group commit).

Commands in a batch are decided one after another against the same loaded aggregates, so
a later command sees an earlier one's effects; all their events are then saved atomically.
A concurrent writer's conflict makes the whole batch be reloaded and decided again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    Recording,
    Transcoder,
)

from contracts import commands as c
from contracts.errors import ErrorBody, ErrorType, FlowledgerError
from contracts.replies import Accepted, Reply
from services.command.adapters.transcoder import OrjsonTranscoder
from services.command.aggregate_cache import DEFAULT_SIZE, AggregateCache
from services.command.domain.idempotency import IdempotencyRecord, idempotency_id
from services.command.unit_of_work import UnitOfWork
from services.command.use_cases import HANDLERS

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 8


class FlowledgerApplication(Application[UUID]):
    """The event store of every aggregate; the notification log feeds the relay."""

    name = "flowledger"
    # Told what every save recorded, once committed (the relay's in-memory hand-over).
    on_saved: Callable[[list[Recording[UUID]]], None] | None = None

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def save_aggregates(self, aggregates: list[Aggregate]) -> list[Recording[UUID]]:
        """`save(*aggregates)`, less its type tests: the library asks isinstance() of
        every object against two runtime-checkable Protocols, which Python 3.11 answers
        slowly (a twentieth of the command service's CPU). Only aggregates come here."""
        processing = ProcessingEvent[UUID]()
        for aggregate in aggregates:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if self.on_saved is not None:
            self.on_saved(recordings)


@dataclass(frozen=True)
class Envelope:
    """One command waiting in a batch."""

    tenant: str
    command: c.Command
    # (key, hash of the request as sent): a repeat of the same request gets the first answer.
    idempotency: tuple[str, str] | None = None


def request_hash(command: c.Command) -> str:
    """Taken before the edge fills in generated ids, so a repeat hashes the same."""
    body = json.dumps(command.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{command.AGGREGATE}.{command.NAME}:{body}".encode()).hexdigest()


class CommandProcessor:
    """Decides batches of commands and saves each batch in one transaction."""

    def __init__(
        self,
        app: FlowledgerApplication,
        clock: Callable[[], datetime],
        cache_size: int = DEFAULT_SIZE,
    ) -> None:
        self.app = app
        self.clock = clock
        self.cache = AggregateCache(cache_size)

    def process(self, batch: list[Envelope]) -> list[Reply]:
        trust_new = True
        for _ in range(MAX_CONFLICT_RETRIES):
            uow = UnitOfWork(self.app, self.cache, trust_new=trust_new)
            try:
                replies, produced = self._decide(uow, batch)
                stale = uow.stale()
            except Exception:
                uow.discard()
                if len(batch) == 1:
                    log.exception("command failed: %r", batch[0].command)
                    return [ErrorBody.of(ErrorType.INTERNAL, "internal error")]
                # A bug in one command must not sink the others: decide them one by one.
                return [reply for item in batch for reply in self.process([item])]
            if stale:
                # Decided on an out-of-date copy (another replica wrote it): decide again.
                uow.discard()
                continue
            changed = uow.changed()
            if not changed:
                uow.keep()
                return replies
            try:
                recordings = self.app.save_aggregates(changed)
            except IntegrityError:
                # Another writer got there first, or an id taken for new was not:
                # reload everything and decide again, reading the store for every id.
                uow.discard()
                trust_new = False
                continue
            except Exception:
                uow.discard()
                raise
            uow.keep()
            positions = {
                (r.domain_event.originator_id, r.domain_event.originator_version): (
                    r.notification.id
                )
                for r in recordings
            }
            for reply, events in zip(replies, produced, strict=True):
                if isinstance(reply, Accepted) and events:
                    reply.position = max(positions[key] for key in events)
            return replies
        return [
            ErrorBody.of(ErrorType.VERSION_CONFLICT, "too many concurrent changes; retry")
            for _ in batch
        ]

    def _decide(
        self, uow: UnitOfWork, batch: list[Envelope]
    ) -> tuple[list[Reply], list[list[tuple[UUID, int]]]]:
        """Decide each command in turn; (aggregate id, version) of the events each made."""
        now = self.clock()
        replies: list[Reply] = []
        produced: list[list[tuple[UUID, int]]] = []
        # Events of the first command of each idempotency key in this batch: a repeat in the
        # same batch answers with the first's position.
        first_of_key: dict[str, list[tuple[UUID, int]]] = {}
        for item in batch:
            uow.begin_command()
            savepoint = uow.savepoint() if item.command.ALL_OR_NOTHING else None
            try:
                reply, repeat = self._decide_one(uow, item, now)
                replies.append(reply)
            except FlowledgerError as exc:
                if savepoint is not None:
                    uow.rollback(savepoint)
                replies.append(exc.body())
                repeat = False
            events = uow.produced()
            if item.idempotency is not None:
                key = item.idempotency[0]
                events = first_of_key.get(key, []) if repeat else events
                first_of_key.setdefault(key, events)
            produced.append(events)
        return replies, produced

    def _decide_one(self, uow: UnitOfWork, item: Envelope, now: datetime) -> tuple[Accepted, bool]:
        """The reply, and whether it repeats an answer already given to the same key."""
        handle = HANDLERS[type(item.command)]
        if item.idempotency is None:
            return Accepted(result=handle(uow, item.tenant, item.command, now)), False
        key, digest = item.idempotency
        name = f"{item.command.AGGREGATE}.{item.command.NAME}"
        record = uow.get_new(IdempotencyRecord, idempotency_id(item.tenant, key))
        if record is not None:
            result = record.answer_repeat(name, digest)
            # Saved earlier: any position at or past the store's head includes it.
            floor = 0 if record.pending_events else self.app.recorder.max_notification_id() or 0
            return Accepted(result=result, position=floor), True
        result = handle(uow, item.tenant, item.command, now)
        uow.add(
            IdempotencyRecord(
                tenant=item.tenant,
                key=key,
                command=name,
                request_hash=digest,
                result=result,
                at=now,
            )
        )
        return Accepted(result=result), []
