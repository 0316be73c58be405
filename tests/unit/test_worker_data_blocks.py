"""The pure executors: log and the data.* blocks, called directly with a run's context."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.worker.blocks import EXECUTORS, BlockContext, BlockError

ORDERS = [
    {"id": 1, "region": "eu", "price": 10, "customer": "ada"},
    {"id": 2, "region": "us", "price": 25.5, "customer": "bob"},
    {"id": 3, "region": "eu", "price": 7, "customer": None},
    {"id": 4, "region": "apac", "price": None, "customer": "cy"},
    {"id": 5, "region": "us", "price": 3, "customer": "ada"},
]
CUSTOMERS = [
    {"customer": "ada", "tier": "gold"},
    {"customer": "bob", "tier": "silver"},
    {"customer": "dee", "tier": "bronze"},
]
CONTEXT = {
    "input": {"min": 5, "orders": ORDERS},
    "blocks": {
        "load": {"output": ORDERS, "status": "completed"},
        "people": {"output": CUSTOMERS, "status": "completed"},
        "odd": {"output": {"not": "rows"}, "status": "completed"},
        "mixed": {"output": [{"a": 1}, 2], "status": "completed"},
    },
    "run": {"id": "run-1", "workflow": "wf", "attempt": 1},
}


def run(block_type: str, config: dict[str, Any], ctx: BlockContext | None = None) -> Any:
    ctx = ctx or BlockContext("run-1", "b", 1, CONTEXT)
    return asyncio.run(EXECUTORS[block_type](config, ctx))


def fails(block_type: str, config: dict[str, Any]) -> BlockError:
    with pytest.raises(BlockError) as caught:
        run(block_type, config)
    return caught.value


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [row["id"] for row in rows]


# ----- log -----------------------------------------------------------------------------------


def test_log_appends_its_message_to_the_blocks_lines_and_outputs_it() -> None:
    ctx = BlockContext("run-1", "say", 1, None)
    output = run("log", {"message": "hello ada", "level": "warning"}, ctx)
    assert output == {"level": "warning", "message": "hello ada"}
    assert ctx.logs == ["hello ada"]
    assert run("log", {"message": "x"}) == {"level": "info", "message": "x"}


# ----- data.source ---------------------------------------------------------------------------


def test_source_outputs_literal_rows_or_those_from_gives() -> None:
    assert run("data.source", {"rows": [{"a": 1}, {"a": 2}]}) == [{"a": 1}, {"a": 2}]
    assert run("data.source", {"from": "input.orders"}) == ORDERS
    assert run("data.source", {"from": "input.orders[?price > `9`]"}) == [ORDERS[0], ORDERS[1]]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("input.nothing", "gave null"),
        ("blocks.odd.output", "gave dict"),
        ("blocks.mixed.output", "row 1 is int"),
    ],
)
def test_source_from_must_give_a_list_of_objects(expression: str, fragment: str) -> None:
    error = fails("data.source", {"from": expression})
    assert (error.error_type, error.retryable) == ("INVALID_ROWS", False)
    assert fragment in error.message


def test_a_bad_expression_fails_with_expression_error() -> None:
    error = fails("data.source", {"from": "input.orders[?"})
    assert (error.error_type, error.retryable) == ("EXPRESSION_ERROR", False)


# ----- data.filter ---------------------------------------------------------------------------


def test_filter_keeps_rows_where_the_expression_on_the_row_is_truthy() -> None:
    rows = run("data.filter", {"rows": "blocks.load.output", "where": "price > `8`"})
    assert ids(rows) == [1, 2]
    # JMESPath truth: null and "" are false, 0 is true.
    assert ids(run("data.filter", {"rows": "input.orders", "where": "customer"})) == [1, 2, 4, 5]
    zeros = [{"n": 0}, {"n": None}, {"n": ""}, {"n": []}, {"n": False}, {"n": "x"}]
    kept = run("data.filter", {"rows": "input.z", "where": "n"}, _ctx_with({"z": zeros}))
    assert kept == [{"n": 0}, {"n": "x"}]


def _ctx_with(input: dict[str, Any]) -> BlockContext:
    return BlockContext("run-1", "b", 1, {**CONTEXT, "input": input})


def test_without_rows_a_data_block_cannot_know_its_input() -> None:
    # The command side writes in the only need's output; null is left when it cannot.
    error = fails("data.filter", {"rows": None, "where": "a"})
    assert (error.error_type, error.retryable) == ("INVALID_CONFIG", False)


def test_rows_that_are_not_rows_fail() -> None:
    error = fails("data.sort", {"rows": "blocks.odd.output", "by": ["a"]})
    assert error.error_type == "INVALID_ROWS"


# ----- data.sort -----------------------------------------------------------------------------


def test_sort_is_stable_with_nulls_last_in_both_directions() -> None:
    assert ids(run("data.sort", {"rows": "input.orders", "by": ["price"]})) == [5, 3, 1, 2, 4]
    descending = run("data.sort", {"rows": "input.orders", "by": ["price"], "descending": True})
    assert ids(descending) == [2, 1, 3, 5, 4]
    # Equal keys keep their input order, ascending or not.
    by_region = run("data.sort", {"rows": "input.orders", "by": ["region"]})
    assert ids(by_region) == [4, 1, 3, 2, 5]
    by_region_desc = run(
        "data.sort", {"rows": "input.orders", "by": ["region"], "descending": True}
    )
    assert ids(by_region_desc) == [2, 5, 1, 3, 4]


def test_sort_by_several_columns_is_lexicographic() -> None:
    rows = run("data.sort", {"rows": "input.orders", "by": ["region", "price"]})
    assert ids(rows) == [4, 3, 1, 5, 2]
    rows = run("data.sort", {"rows": "input.orders", "by": ["customer", "id"]})
    assert ids(rows) == [1, 5, 2, 4, 3]


def test_sort_refuses_to_order_mixed_kinds() -> None:
    ctx = _ctx_with({"rows": [{"v": 1}, {"v": "a"}]})
    with pytest.raises(BlockError) as caught:
        run("data.sort", {"rows": "input.rows", "by": ["v"]}, ctx)
    assert caught.value.error_type == "INVALID_ROWS"
    assert "'v'" in caught.value.message


# ----- data.aggregate ------------------------------------------------------------------------

AGGREGATES = {
    "n": {"op": "count"},
    "named": {"op": "count", "field": "customer"},
    "total": {"op": "sum", "field": "price"},
    "mean": {"op": "avg", "field": "price"},
    "low": {"op": "min", "field": "price"},
    "high": {"op": "max", "field": "price"},
    "first": {"op": "first", "field": "customer"},
    "last": {"op": "last", "field": "customer"},
}


def test_aggregate_groups_in_order_of_first_appearance() -> None:
    rows = run(
        "data.aggregate",
        {"rows": "input.orders", "group_by": ["region"], "aggregates": AGGREGATES},
    )
    assert rows == [
        {
            "region": "eu",
            "n": 2,
            "named": 1,
            "total": 17,
            "mean": 8.5,
            "low": 7,
            "high": 10,
            "first": "ada",
            "last": None,
        },
        {
            "region": "us",
            "n": 2,
            "named": 2,
            "total": 28.5,
            "mean": 14.25,
            "low": 3,
            "high": 25.5,
            "first": "bob",
            "last": "ada",
        },
        {
            "region": "apac",
            "n": 1,
            "named": 1,
            "total": None,  # only nulls: as in SQL
            "mean": None,
            "low": None,
            "high": None,
            "first": "cy",
            "last": "cy",
        },
    ]


def test_aggregate_without_group_by_gives_one_row_even_from_no_rows() -> None:
    config = {"rows": "input.orders", "aggregates": {"n": {"op": "count"}, **AGGREGATES}}
    whole = run("data.aggregate", config)
    assert len(whole) == 1 and whole[0]["n"] == 5 and whole[0]["total"] == 45.5
    empty = run("data.aggregate", config, _ctx_with({"orders": []}))
    assert empty == [{name: (0 if name in ("n", "named") else None) for name in AGGREGATES}]
    grouped = run("data.aggregate", {**config, "group_by": ["region"]}, _ctx_with({"orders": []}))
    assert grouped == []


def test_aggregate_groups_by_several_columns_and_matches_json_equal_values() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 1.0, "b": "x"}, {"a": True, "b": "x"}, {"b": "x"}]
    out = run(
        "data.aggregate",
        {"rows": "input.rows", "group_by": ["a", "b"], "aggregates": {"n": {"op": "count"}}},
        _ctx_with({"rows": rows}),
    )
    assert out == [
        {"a": 1, "b": "x", "n": 2},
        {"a": True, "b": "x", "n": 1},
        {"a": None, "b": "x", "n": 1},
    ]


def test_aggregate_strings_min_max_but_refuses_to_sum_them() -> None:
    config = {
        "rows": "input.orders",
        "aggregates": {
            "lo": {"op": "min", "field": "region"},
            "hi": {"op": "max", "field": "region"},
        },
    }
    assert run("data.aggregate", config) == [{"lo": "apac", "hi": "us"}]
    error = fails(
        "data.aggregate",
        {"rows": "input.orders", "aggregates": {"s": {"op": "sum", "field": "region"}}},
    )
    assert (error.error_type, error.retryable) == ("INVALID_ROWS", False)


# ----- data.join -----------------------------------------------------------------------------


def join(how: str) -> list[dict[str, Any]]:
    config = {
        "left": "blocks.load.output[?customer != null] | [:3]",
        "right": "blocks.people.output",
        "on": ["customer"],
        "how": how,
    }
    result: list[dict[str, Any]] = run("data.join", config)
    return result


def test_an_inner_join_keeps_matched_pairs_in_left_order() -> None:
    assert join("inner") == [
        {"id": 1, "region": "eu", "price": 10, "customer": "ada", "tier": "gold"},
        {"id": 2, "region": "us", "price": 25.5, "customer": "bob", "tier": "silver"},
    ]


def test_left_right_and_outer_joins_keep_unmatched_rows_with_nulls() -> None:
    cy = {"id": 4, "region": "apac", "price": None, "customer": "cy", "tier": None}
    dee = {"id": None, "region": None, "price": None, "customer": "dee", "tier": "bronze"}
    inner = join("inner")
    assert join("left") == [inner[0], inner[1], cy]
    assert join("right") == [*inner, dee]
    assert join("outer") == [inner[0], inner[1], cy, dee]


def test_a_join_matches_every_pair_and_never_on_null() -> None:
    left = [{"k": 1, "l": "a"}, {"k": None, "l": "b"}, {"l": "c"}]
    right = [{"k": 1.0, "r": "x"}, {"k": 1, "r": "y"}, {"k": None, "r": "z"}]
    out = run(
        "data.join",
        {"left": "input.l", "right": "input.r", "on": ["k"], "how": "outer"},
        _ctx_with({"l": left, "r": right}),
    )
    assert out == [
        {"k": 1.0, "l": "a", "r": "x"},
        {"k": 1, "l": "a", "r": "y"},
        {"k": None, "l": "b", "r": None},
        {"l": "c", "k": None, "r": None},
        {"k": None, "l": None, "r": "z"},
    ]


def test_join_sides_must_be_rows() -> None:
    error = fails(
        "data.join", {"left": "blocks.odd.output", "right": "blocks.people.output", "on": ["c"]}
    )
    assert error.error_type == "INVALID_ROWS"
    assert "left" in error.message
