"""The expression rules of definitions: JMESPath over the run's context, never `eval`."""

from __future__ import annotations

import gc

import pytest

from contracts.expressions import ExpressionError, evaluate, resolve

CONTEXT = {"input": {"n": 3, "tags": ["a", "b"]}, "blocks": {"s": {"output": {"x": 1}}}}


def test_a_whole_expression_keeps_its_type_and_an_inner_one_becomes_text() -> None:
    assert resolve("${input.n}", CONTEXT) == 3
    assert resolve("${input.tags}", CONTEXT) == ["a", "b"]
    assert resolve("n=${input.n}, tags=${input.tags}", CONTEXT) == 'n=3, tags=["a","b"]'
    assert resolve({"k": ["${blocks.s.output.x}", "plain"]}, CONTEXT) == {"k": [1, "plain"]}
    assert evaluate("length(input.tags)", CONTEXT) == 2
    assert evaluate("input.missing", CONTEXT) is None


def test_bad_expressions_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="bad expression"):
        evaluate("input.[", CONTEXT)
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("length(input.n)", CONTEXT)


def test_evaluating_leaves_no_cyclic_garbage() -> None:
    # jmespath's own `search` builds an interpreter per call, a reference cycle: garbage
    # only a collection frees, and the collections it caused were the command service's
    # p99 latency.
    resolve("${input.n} ${length(input.tags)}", CONTEXT)  # Compiled and cached first.
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            resolve({"a": "${input.n}", "b": "${input.n} ${length(input.tags)}"}, CONTEXT)
        assert gc.collect() == 0
    finally:
        gc.enable()
