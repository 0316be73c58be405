"""The relay encodes envelopes without building the model: the bytes must read back as the
Envelope the model would have made, with every field the model has."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.events import BlockCompleted, BlockScheduled, Envelope, EventData, encode_envelope

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def both(data: EventData, occurred_at: datetime, correlation_id: str | None) -> tuple[Any, Any]:
    fields: dict[str, Any] = {
        "id": "0b7c1e0a-1111-5222-8333-444455556666",
        "type": type(data).__name__,
        "occurred_at": occurred_at,
        "tenant": "acme",
        "aggregate": "run",
        "aggregate_id": "r-1",
        "aggregate_version": 7,
        "position": 12345,
        "correlation_id": correlation_id,
    }
    encoded = encode_envelope(**fields, data=data)
    modelled = Envelope(**fields, data=data.model_dump(mode="json"))
    return encoded, modelled


@given(json_values, st.lists(st.text(), max_size=3), moments, st.none() | st.text())
def test_an_encoded_envelope_reads_back_as_the_model_would_make_it(
    output: Any, logs: list[str], at: datetime, correlation_id: str | None
) -> None:
    data = BlockCompleted(at=at, block="b", attempt=1, output=output, logs=logs)
    encoded, modelled = both(data, at, correlation_id)
    assert Envelope.model_validate_json(encoded) == modelled
    assert json.loads(encoded) == json.loads(modelled.model_dump_json())


def test_an_encoded_envelope_has_exactly_the_models_fields() -> None:
    at = datetime(2026, 12, 2, 7, 28, 34, 123456, tzinfo=UTC)
    data = BlockScheduled(
        at=at, block="b", attempt=1, type="set", execution="task", queue="default", config={}
    )
    encoded, _ = both(data, at, None)
    assert set(json.loads(encoded)) == set(Envelope.model_fields)


def test_a_time_in_another_offset_is_the_same_moment() -> None:
    at = datetime(2026, 12, 2, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    data = BlockCompleted(at=at, block="b", attempt=1, output=None, logs=[])
    encoded, modelled = both(data, at, "r-1")
    assert Envelope.model_validate_json(encoded).occurred_at == modelled.occurred_at


def test_an_envelopes_parsed_data_is_its_event_parsed_once_and_invisible_to_dumps() -> None:
    at = datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=UTC)
    data = BlockCompleted(at=at, block="b", attempt=1, output={"n": 2}, logs=[])
    encoded, modelled = both(data, at, None)
    envelope = Envelope.model_validate_json(encoded)
    fresh = Envelope.model_validate_json(encoded)
    dumped = envelope.model_dump_json()

    assert envelope.parsed == data
    assert envelope.parsed is envelope.parsed  # Parsed once, then cached.
    # The cached event is not a field: equality and dumps are as before it was read.
    assert envelope == fresh == modelled
    assert envelope.model_dump_json() == dumped
    assert set(envelope.model_dump()) == set(Envelope.model_fields)
