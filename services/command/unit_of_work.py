"""The aggregates loaded and changed while deciding one batch of commands."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from services.command.aggregate_cache import AggregateCache

A = TypeVar("A", bound=Aggregate)


@dataclass
class UnitOfWork:
    """Aggregates loaded and changed while deciding one batch."""

    app: Application[UUID]
    cache: AggregateCache
    loaded: dict[UUID, Aggregate | None] = field(default_factory=dict)
    # Taken from the cache, not the store: may be stale until saved or checked (`stale`).
    from_cache: set[UUID] = field(default_factory=set)
    # The aggregates the current command touched, with their pending events' count when
    # it first did: its events are those added since (`produced`). Kept per command so
    # that finding them does not walk every aggregate of a large batch, per command.
    marks: dict[UUID, int] = field(default_factory=dict)
    # Whether `get_new` may answer "absent" without reading the store (see there).
    trust_new: bool = True

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            cached = self.cache.get(aggregate_id)
            if cached is not None:
                self.loaded[aggregate_id] = cached
                self.from_cache.add(aggregate_id)
            else:
                try:
                    self.loaded[aggregate_id] = self.app.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    self.loaded[aggregate_id] = None
        found = self.loaded[aggregate_id]
        if aggregate_id not in self.marks:
            self.marks[aggregate_id] = len(found.pending_events) if found is not None else 0
        return found if isinstance(found, cls) else None

    def get_new(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """For an id a command is about to create: what is loaded or cached, else None
        without a read of the store (nearly every new id is new). A wrong guess shows
        when the batch is saved, as a conflict on the aggregate's first version; the
        batch is then decided again with `trust_new` off, reading the store."""
        if not self.trust_new or aggregate_id in self.loaded or aggregate_id in self.cache:
            return self.get(cls, aggregate_id)
        self.loaded[aggregate_id] = None
        self.marks.setdefault(aggregate_id, 0)
        return None

    def add(self, aggregate: Aggregate) -> None:
        if self.loaded.get(aggregate.id) is not aggregate:
            self.marks[aggregate.id] = 0  # A new object: every event it holds is this command's.
        else:
            self.marks.setdefault(aggregate.id, len(aggregate.pending_events))
        self.loaded[aggregate.id] = aggregate

    def save_last(self, aggregate: Aggregate) -> None:
        """Save this aggregate's events after the others' (their order in the stream)."""
        self.loaded.pop(aggregate.id, None)
        self.loaded[aggregate.id] = aggregate

    def savepoint(self) -> dict[UUID, Aggregate | None]:
        """A copy of everything loaded so far, to go back to if a command is refused."""
        return copy.deepcopy(self.loaded)

    def rollback(self, savepoint: dict[UUID, Aggregate | None]) -> None:
        # Loaded since the savepoint and perhaps changed in place: not to be cached as is.
        self.cache.evict(i for i in self.loaded if i not in savepoint)
        self.loaded = savepoint

    def begin_command(self) -> None:
        """The next command starts: what it produces is counted from here."""
        self.marks = {}

    def produced(self) -> list[tuple[UUID, int]]:
        """(aggregate id, version) of every event the current command added."""
        return [
            (event.originator_id, event.originator_version)
            for i, mark in self.marks.items()
            if (a := self.loaded.get(i)) is not None
            for event in a.pending_events[mark:]
        ]

    def changed(self) -> list[Aggregate]:
        return [a for a in self.loaded.values() if a is not None and a.pending_events]

    def stale(self) -> list[UUID]:
        """Cached aggregates this batch only read that the store has moved past since.

        (One it changed needs no check: saving it at a stale version conflicts.)"""
        recorder = self.app.recorder
        return [
            aggregate_id
            for aggregate_id in self.from_cache
            if (aggregate := self.loaded.get(aggregate_id)) is not None
            and not aggregate.pending_events
            and recorder.select_events(aggregate_id, gt=aggregate.version, limit=1)
        ]

    def keep(self) -> None:
        """The batch was saved: what it loaded is the store's state; cache it."""
        self.cache.put(a for a in self.loaded.values() if a is not None)

    def discard(self) -> None:
        """The batch was not saved: what it loaded may have been changed in place."""
        self.cache.evict(self.loaded)


Handler = Callable[[UnitOfWork, str, Any, datetime], dict[str, Any]]
