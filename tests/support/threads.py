"""Starting several things at the same instant, as replicas of a service do."""

from __future__ import annotations

import threading
from collections.abc import Callable


def all_at_once(count: int, start: Callable[[], object]) -> list[BaseException]:
    """Run `start` in `count` threads released together; what each one raised."""
    barrier = threading.Barrier(count)
    raised: list[BaseException] = []

    def one() -> None:
        barrier.wait(timeout=30)
        try:
            start()
        except BaseException as exc:  # Any at all: the test shows what each one raised.
            raised.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a start did not end within 60 s"
    return raised
