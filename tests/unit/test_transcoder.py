"""The event store's orjson transcoder writes what the library's json transcoder writes:
the same JSON document, byte for byte but for how a float under 1e-4 is spelled."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from services.command.adapters.transcoder import OrjsonTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


plain, fast = registered(JSONTranscoder()), registered(OrjsonTranscoder())


def states(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()  # Past 64 bits too: those take the json module's way.
        | floats
        | st.text()
        | st.datetimes(timezones=st.just(UTC))
        | st.datetimes()
    )
    keys = st.text() | st.integers(-1000, 1000) | st.booleans()  # Non-string keys: json's way.
    return st.dictionaries(
        st.text(),
        st.recursive(
            leaves,
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
            max_leaves=20,
        ),
        max_size=6,
    )


any_float = st.floats(allow_nan=False, allow_infinity=False)
# Python writes 1e-05 where orjson writes 0.00001, and 3.6e-07 where orjson writes 3.6e-7.
float_spelled_alike = any_float.filter(lambda f: f == 0 or abs(f) >= 1e-4)


@given(states(any_float))
def test_the_document_is_the_json_transcoders(state: dict[str, Any]) -> None:
    assert json.loads(fast.encode(state)) == json.loads(plain.encode(state))
    assert fast.decode(fast.encode(state)) == plain.decode(plain.encode(state))


@given(states(float_spelled_alike))
def test_the_bytes_are_the_json_transcoders(state: dict[str, Any]) -> None:
    assert fast.encode(state) == plain.encode(state)


def test_a_small_float_is_spelled_differently_and_reads_back_the_same() -> None:
    state = {"v": 3.612327717042612e-07, "w": 1e-05}
    assert fast.encode(state) == b'{"v":3.612327717042612e-7,"w":0.00001}'
    assert fast.decode(fast.encode(state)) == plain.decode(plain.encode(state)) == state


def test_an_event_state_round_trips() -> None:
    state = {"at": datetime(2026, 12, 2, 7, 28, 34, 123456, tzinfo=UTC), "output": {"n": [1, 2]}}
    assert fast.decode(fast.encode(state)) == state


def test_a_type_without_a_transcoding_is_refused_as_before() -> None:
    @dataclass
    class Unknown:
        x: int

    for value in (Unknown(1), object()):
        with pytest.raises(TranscodingNotRegisteredError):
            plain.encode({"v": value})
        with pytest.raises(TranscodingNotRegisteredError):
            fast.encode({"v": value})


def test_nan_becomes_null_as_on_the_bus() -> None:
    assert fast.decode(fast.encode({"v": math.nan})) == {"v": None}
