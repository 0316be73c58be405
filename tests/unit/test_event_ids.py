"""An event's public id is uuid5(aggregate id, version): the relay's fast form agrees."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.command.adapters.relay import event_id


@given(st.uuids(), st.integers(min_value=1, max_value=10**12))
def test_event_id_is_the_uuid5_of_the_aggregate_and_version(
    originator: uuid.UUID, version: int
) -> None:
    assert event_id(originator, version) == str(uuid.uuid5(originator, str(version)))
