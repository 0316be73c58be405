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
        return found if isinstance(found, cls) else None

    def add(self, aggregate: Aggregate) -> None:
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

    def pending_counts(self) -> dict[UUID, int]:
        return {i: len(a.pending_events) for i, a in self.loaded.items() if a is not None}

    def events_since(self, counts: dict[UUID, int]) -> list[tuple[UUID, int]]:
        """(aggregate id, version) of every event added since `counts` was taken."""
        return [
            (event.originator_id, event.originator_version)
            for i, a in self.loaded.items()
            if a is not None
            for event in a.pending_events[counts.get(i, 0) :]
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
