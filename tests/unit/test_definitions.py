"""The block catalogue and the definition model: every type's config, schema and round trip."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from contracts.definitions import (
    BLOCK_TYPES,
    Execution,
    WorkflowDefinition,
    block_types_catalogue,
    execution_of,
    needs_context,
)
from contracts.graph import definition_graph, graph_problems

# One valid config per type, as a client would send it.
EXAMPLES: dict[str, dict[str, Any]] = {
    "http": {
        "method": "POST",
        "url": "https://api.example.com/orders/${input.id}",
        "headers": {"X-Trace": "1"},
        "json": {"id": "${input.id}"},
        "timeout_seconds": 5,
        "expect_status": [200, 201],
    },
    "transform": {"expression": "sum(input.items[].price)"},
    "code": {"handler": "billing.charge", "args": {"amount": "${input.amount}"}},
    "sleep": {"seconds": 1.5},
    "sleep_until": {"until": "2030-01-01T00:00:00Z"},
    "wait_for_event": {"event_type": "approved", "timeout_seconds": 3600},
    "approval": {"approvers": ["ops"], "timeout_seconds": 60, "message": "ship it?"},
    "condition": {"if": "input.n > `1`", "then": ["a"], "else": ["b"]},
    "switch": {"value": "input.kind", "cases": {"x": ["a"], "y": ["b"]}, "default": []},
    "for_each": {
        "items": "input.orders",
        "block": {"type": "set", "config": {"values": {"id": "${item.id}"}}},
        "max_concurrency": 4,
    },
    "parallel": {},
    "sub_workflow": {"workflow": "child.flow", "input": {"n": 1}, "wait": False},
    "emit_event": {"event_type": "order.placed", "payload": {"id": 1}},
    "webhook": {"url": "https://hooks.example.com/x", "secret": "s", "payload": [1, 2]},
    "set": {"values": {"a": 1}},
    "log": {"message": "hello ${input.name}", "level": "warning"},
    "fail": {"message": "nope", "error_type": "NOPE"},
    "noop": {},
    "data.source": {"rows": [{"a": 1}, {"a": 2}]},
    "data.filter": {"rows": "blocks.src.output", "where": "a > `1`"},
    "data.aggregate": {
        "group_by": ["region"],
        "aggregates": {"n": {"op": "count"}, "total": {"op": "sum", "field": "price"}},
    },
    "data.join": {"left": "blocks.a.output", "right": "blocks.b.output", "on": ["id"]},
    "data.sort": {"by": ["price", "name"], "descending": True},
}

ENABLED = {
    "noop",
    "fail",
    "set",
    "transform",
    "sleep",
    "sleep_until",
    "parallel",
    "condition",
    "switch",
    "log",
    "http",
    "webhook",
    "data.source",
    "data.filter",
    "data.aggregate",
    "data.join",
    "data.sort",
    "wait_for_event",
    "approval",
}
INLINE = {"condition", "switch", "noop", "fail", "parallel", "wait_for_event", "approval"}
TIMER = {"sleep", "sleep_until"}


def test_the_catalogue_lists_all_23_types_with_valid_json_schemas() -> None:
    catalogue = block_types_catalogue()
    assert len(catalogue) == 23
    assert {entry["type"] for entry in catalogue} == set(EXAMPLES) == set(BLOCK_TYPES)
    for entry in catalogue:
        assert set(entry) == {"type", "description", "enabled", "execution", "config_schema"}
        Draft202012Validator.check_schema(entry["config_schema"])
        # The schema accepts what the model accepts.
        Draft202012Validator(entry["config_schema"]).validate(EXAMPLES[entry["type"]])
        description = entry["description"]
        assert description and "\n" not in description and description.endswith(".")


def test_enabled_types_and_execution_kinds() -> None:
    catalogue = {entry["type"]: entry for entry in block_types_catalogue()}
    assert {name for name, entry in catalogue.items() if entry["enabled"]} == ENABLED
    for name in BLOCK_TYPES:
        expected = (
            Execution.INLINE
            if name in INLINE
            else Execution.TIMER
            if name in TIMER
            else Execution.TASK
        )
        assert execution_of(name) is expected
        assert catalogue[name]["execution"] == expected.value
    assert needs_context("transform") and not needs_context("set")
    # Data blocks evaluate their JMESPath on the worker; routers are evaluated inline.
    assert all(needs_context(name) for name in BLOCK_TYPES if name.startswith("data."))
    assert not any(needs_context(name) for name in ("condition", "switch", "http", "log"))


@pytest.mark.parametrize("block_type", sorted(EXAMPLES))
def test_every_type_parses_and_round_trips_with_its_wire_names(block_type: str) -> None:
    raw = {"blocks": [{"id": "b", "type": block_type, "config": EXAMPLES[block_type]}]}
    if block_type in ("condition", "switch"):
        raw["blocks"] += [
            {"id": "a", "type": "noop", "needs": ["b"]},
            {"id": "b2", "type": "noop", "needs": ["b"]},
        ]
        raw["blocks"][0]["config"] = {
            **EXAMPLES[block_type],
            **({"then": ["a"], "else": ["b2"]} if block_type == "condition" else {}),
            **({"cases": {"x": ["a"], "y": ["b2"]}} if block_type == "switch" else {}),
        }
    definition = WorkflowDefinition.model_validate(raw)
    dumped = definition.model_dump(mode="json", exclude_none=True)
    # Aliased fields (`if`, `else`, `json`, `from`) go out under their wire names.
    assert set(dumped["blocks"][0]["config"]) >= set(raw["blocks"][0]["config"])
    assert WorkflowDefinition.model_validate(dumped) == definition


@pytest.mark.parametrize(
    ("block_type", "config"),
    [
        ("transform", {"expression": "a", "extra": 1}),
        ("http", {"url": "ftp://example.com"}),
        ("http", {"url": "https://x", "expect_status": 99}),
        ("sleep", {"seconds": -1}),
        ("sleep_until", {"until": "2030-01-01T00:00:00"}),  # no offset
        ("condition", {"then": []}),  # no `if`
        ("switch", {"value": "a", "cases": {}}),
        ("for_each", {"items": "a", "block": {"type": "condition", "config": {}}}),
        ("for_each", {"items": "a", "block": {"type": "http", "config": {}}}),
        ("sub_workflow", {"workflow": "bad name"}),
        ("data.source", {}),
        ("data.source", {"rows": [], "from": "a"}),
        ("data.aggregate", {"aggregates": {"t": {"op": "sum"}}}),
        ("data.join", {"left": "a", "right": "b", "on": [], "how": "inner"}),
        ("data.sort", {"by": []}),
        ("log", {"message": "m", "level": "loud"}),
    ],
)
def test_invalid_configs_are_rejected(block_type: str, config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BLOCK_TYPES[block_type].model_validate(config)


def test_run_level_fields() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "name": "order-intake",
            "input_schema": {"type": "object", "required": ["order_id"]},
            "timeout_seconds": 86400,
            "timeout_policy": "cancel",
            "concurrency": {"limit": 50, "on_active": "queue"},
            "blocks": [{"id": "a", "type": "noop", "timeout": 30}],
        }
    )
    assert definition.timeout_policy == "cancel"
    assert definition.concurrency is not None
    assert (definition.concurrency.limit, definition.concurrency.on_active) == (50, "queue")
    assert definition.block("a").timeout == 30
    assert definition.disabled_blocks() == []
    with pytest.raises(KeyError):
        definition.block("zz")


@pytest.mark.parametrize(
    "raw",
    [
        {"blocks": [{"id": "a", "type": "noop", "needs": ["a"]}]},
        {"blocks": [{"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}]},
        {"blocks": [{"id": "a", "type": "noop", "needs": ["ghost"]}]},
        {"blocks": [{"id": "a", "type": "teleport"}]},
        {"blocks": [{"id": "a", "type": "noop"}], "input_schema": {"type": 5}},
        {"blocks": [{"id": "c", "type": "condition", "config": {"if": "a", "then": ["x"]}}]},
        {"blocks": []},
        {"name": "x" * 65, "blocks": [{"id": "a", "type": "noop"}]},
    ],
    ids=["cycle", "duplicate", "unknown-need", "type", "schema", "target", "empty", "name"],
)
def test_the_model_itself_rejects_structural_errors(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WorkflowDefinition.model_validate(raw)


def test_the_model_keeps_accepting_what_fails_only_at_run_time() -> None:
    # A run pinned to such a definition must still load; the save-time check rejects it.
    WorkflowDefinition.model_validate(
        {"blocks": [{"id": "a", "type": "set", "config": {"values": {"v": "${input.[}"}}}]}
    )
    # Unreachable is a warning, not an error.
    WorkflowDefinition.model_validate(
        {"blocks": [{"id": "f", "type": "fail"}, {"id": "n", "type": "noop", "needs": ["f"]}]}
    )


def test_graph_problems_still_names_the_cycle() -> None:
    definition = WorkflowDefinition.model_construct(
        blocks=WorkflowDefinition.model_validate(
            {"blocks": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]}
        ).blocks
    )
    definition.blocks[0].needs = ["b"]
    definition.blocks[1].needs = ["a"]
    assert graph_problems(definition) == ["blocks form a cycle: a -> b -> a"]


def test_the_graph_has_typed_edges() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "blocks": [
                {"id": "start", "type": "noop"},
                {
                    "id": "big",
                    "type": "condition",
                    "needs": ["start"],
                    "config": {"if": "input.n > `1`", "then": ["yes"], "else": ["no"]},
                },
                {"id": "yes", "type": "noop", "needs": ["big"]},
                {"id": "no", "type": "noop", "needs": ["big"]},
                {
                    "id": "kind",
                    "type": "switch",
                    "needs": ["yes"],
                    "config": {"value": "input.k", "cases": {"a": ["x"]}, "default": ["x"]},
                },
                {"id": "x", "type": "noop", "needs": ["kind"]},
                {"id": "end", "type": "noop", "needs": ["yes", "no"], "trigger": "none_failed"},
            ]
        }
    )
    graph = definition_graph(definition)
    assert graph["nodes"][1] == {"id": "big", "type": "condition"}
    assert definition.disabled_blocks() == []  # routers run now
    assert len(graph["nodes"]) == 7
    assert graph["edges"] == [
        {"from": "start", "to": "big", "kind": "needs"},
        {"from": "big", "to": "yes", "kind": "then"},
        {"from": "big", "to": "no", "kind": "else"},
        {"from": "yes", "to": "kind", "kind": "needs"},
        {"from": "kind", "to": "x", "kind": "case", "case": "a"},
        {"from": "kind", "to": "x", "kind": "case", "case": None},
        {"from": "yes", "to": "end", "kind": "needs"},
        {"from": "no", "to": "end", "kind": "needs"},
    ]


def test_disabled_blocks_names_the_blocks_of_types_that_cannot_run_yet() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "blocks": [
                {"id": "ok", "type": "http", "config": {"url": "http://127.0.0.1:9"}},
                {"id": "later", "type": "code", "needs": ["ok"], "config": {"handler": "h"}},
            ]
        }
    )
    assert definition.disabled_blocks() == ["later"]
