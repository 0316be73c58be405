"""The command service's aggregate cache: least recently used first out, eviction."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from services.command.aggregate_cache import AggregateCache


def test_keeps_the_most_recently_used_up_to_its_size() -> None:
    a, b, c = Aggregate(), Aggregate(), Aggregate()
    cache = AggregateCache(maxsize=2)
    cache.put([a, b])
    assert cache.get(a.id) is a  # Now b is the least recently used.
    cache.put([c])
    assert cache.get(b.id) is None
    assert cache.get(a.id) is a and cache.get(c.id) is c
    assert len(cache) == 2


def test_evicts_by_id_and_keeps_nothing_at_size_zero() -> None:
    a, b = Aggregate(), Aggregate()
    cache = AggregateCache(maxsize=10)
    cache.put([a, b])
    cache.evict([a.id, Aggregate().id])
    assert cache.get(a.id) is None and cache.get(b.id) is b
    off = AggregateCache(maxsize=0)
    off.put([a])
    assert off.get(a.id) is None and len(off) == 0
