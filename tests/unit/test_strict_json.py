"""Bodies are RFC 8259 JSON: NaN and the infinities are refused, never turned into null."""

from __future__ import annotations

import math

import pytest
import yaml

from contracts import strict_json, subjects
from contracts.errors import ErrorBody, ErrorType
from services.command.entrypoints.nats_handlers import parse_command

START = subjects.command_subject("t1", "run", "start")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_the_constants_python_reads_are_refused(constant: str) -> None:
    with pytest.raises(ValueError, match=f"{constant} is not a JSON value"):
        strict_json.loads(f'{{"input": {{"x": [1, {constant}]}}}}')
    body = f'{{"workflow": "w", "input": {{"x": {constant}}}}}'.encode()
    refused = parse_command(START, body, 1 << 20)
    assert isinstance(refused, ErrorBody) and refused.error.type == ErrorType.BAD_REQUEST
    assert constant in refused.error.message


def test_json_without_them_reads_as_before() -> None:
    text = '{"a": [1, 2.5, -0.0, 1e308, null, "NaN"], "b": {"c": true}}'
    assert strict_json.loads(text) == {"a": [1, 2.5, -0.0, 1e308, None, "NaN"], "b": {"c": True}}


def test_a_non_finite_float_in_a_parsed_document_is_refused_where_it_is() -> None:
    document = yaml.safe_load("input:\n  rows:\n    - {x: 1}\n    - {x: .nan}\n")
    assert math.isnan(document["input"]["rows"][1]["x"])
    with pytest.raises(ValueError, match=r"at \$\.input\.rows\[1\]\.x"):
        strict_json.refuse_non_finite(document)
    fine = yaml.safe_load("input: {x: 1.5, y: [true, null]}")
    assert strict_json.refuse_non_finite(fine) is fine
