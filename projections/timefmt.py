"""One fixed-width RFC 3339 UTC format, so stored times sort as text."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


# Every read model formats the same event's time: remember the last few thousand.
@functools.lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
