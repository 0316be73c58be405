"""UUIDv7s (RFC 9562) as the services give them: in order, and on time, even when
thousands are given in one millisecond.

The layout is CPython 3.14's `uuid.uuid7`: 48 bits of Unix time in milliseconds, the
version, a 42-bit counter split by the variant bits, then 32 random bits. Each new
millisecond starts the counter at a random 41-bit value; ids within that millisecond
count up from it. (The `uuid6` package moves the time itself one millisecond ahead for
each id given within a millisecond: at the command service's thousands of starts a
second, its ids' time ran seconds ahead of the clock.) The time moves past the clock
only if the counter runs out, after at least 2^41 ids in one millisecond, or when the
clock steps back, so that ids still sort in the order given.
"""

from __future__ import annotations

import os
import threading
import time

_COUNTER_BITS = 42
_MAX_COUNTER = (1 << _COUNTER_BITS) - 1

_lock = threading.Lock()
_last_ms = 0
_last_counter = 0


def pack(ms: int, counter: int, tail: int) -> int:
    """A UUIDv7's 128 bits from its time (ms), 42-bit counter and 32 random bits."""
    return (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version
        | (counter >> 30) << 64
        | 0b10 << 62  # variant
        | (counter & 0x3FFF_FFFF) << 32
        | tail
    )


def uuid7_int() -> int:
    global _last_ms, _last_counter
    ms = time.time_ns() // 1_000_000
    tail = int.from_bytes(os.urandom(4))
    with _lock:
        if ms > _last_ms:
            counter = _fresh_counter()
        else:  # The same millisecond, or the clock stepped back: count on.
            ms = _last_ms
            counter = _last_counter + 1
            if counter > _MAX_COUNTER:
                ms += 1
                counter = _fresh_counter()
        _last_ms, _last_counter = ms, counter
    return pack(ms, counter, tail)


def uuid7_hex() -> str:
    """A new UUIDv7 as 32 hex digits."""
    return f"{uuid7_int():032x}"


def time_ms(value: int) -> int:
    """The Unix time in milliseconds a UUIDv7 carries."""
    return value >> 80


def _fresh_counter() -> int:
    # 41 random bits: the counter's top bit stays clear, leaving 2^41 ids to count.
    return int.from_bytes(os.urandom(6)) >> 7
