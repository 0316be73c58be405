"""Aggregates kept between batches, so a busy run is not rebuilt from its events for every
command (rebuilding was the largest cost of deciding a command).

A cached aggregate can be stale: another command-service replica may have written it since.
The processor never lets that leak into a decision: an aggregate a batch changes is saved
with its version, so a stale one conflicts (and is evicted, and the batch decided again);
one a batch only read is checked against the store before the batch is saved. Objects
are cached as they are and changed in place by the next batch, so every path that does not
end in a successful save evicts what that batch loaded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:  # Settings reads DEFAULT_SIZE: importing this stays light.
    from eventsourcing.domain import Aggregate

# Enough for every run open at once in a busy command service; each is a few KiB.
DEFAULT_SIZE = 4096


class AggregateCache:
    """The most recently used aggregates, at most `maxsize` of them (0: keep none)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._items

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        found = self._items.get(aggregate_id)
        if found is not None:
            self._items.move_to_end(aggregate_id)
        return found

    def put(self, aggregates: Iterable[Aggregate]) -> None:
        if self.maxsize <= 0:
            return
        for aggregate in aggregates:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._items.pop(aggregate_id, None)
