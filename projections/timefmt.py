"""One fixed-width RFC 3339 UTC format, so stored times sort as text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.events import Envelope


def rfc3339(moment: datetime) -> str:
    # A time in UTC (nearly every one: the relay writes Z) needs only its offset swapped.
    text = moment.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_at(envelope: Envelope) -> str:
    """The event's own time (`data.at`) in the fixed-width format: the message's own text
    when it is that format already (the relay writes microseconds and Z, unless they are
    zero), else parsed and formatted. Formatting a parsed time cost more than any read
    model's own work on the event."""
    text = envelope.data.get("at")
    if isinstance(text, str) and len(text) == 27 and text[19] == "." and text[26] == "Z":
        return text
    return rfc3339(envelope.parsed.at)
