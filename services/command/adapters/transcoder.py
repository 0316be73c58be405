"""The event store's transcoder: eventsourcing's JSON transcoder, encoding with orjson.

Encoding events' state was a sixth of deciding and saving a batch; orjson writes the same
bytes several times faster, but for a float under 1e-4, which it spells `0.00001` or
`3.6e-7` where Python writes `1e-05` and `3.6e-07` (the same number, read back alike).
Datetimes and dataclasses still go through the registered transcodings
(`{"_type_": "datetime_iso", "_data_": …}`), and anything orjson refuses (a key that is
not a string, an integer past 64 bits, a type with no transcoding) goes through the json
module as before, so it encodes or fails as it always did. Decoding is the library's own.

Two kinds of value read back differently, and neither is in Flowledger's events: NaN and
infinities become null (as on the bus; commands carrying them are refused at the edge,
`contracts.strict_json`), and a UUID inside an event's state would be a plain string
(aggregate ids are not state; snapshots are off).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

# orjson hands these to `default` (the registered transcodings) instead of writing them.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=_PASSTHROUGH)
        except orjson.JSONEncodeError:
            return super().encode(obj)
