"""validate_definition: one test per problem type, every problem at once, and graph properties."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.definitions import MAX_BLOCKS
from contracts.validation import (
    DefinitionInvalid,
    Problem,
    ProblemType,
    json_path,
    parse_definition,
    validate_definition,
)


def noop(block_id: str, *needs: str, **extra: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "noop", "needs": list(needs), **extra}


def found(raw: Any) -> list[tuple[ProblemType, str, str | None]]:
    return [(p.type, p.path, p.block_id) for p in validate_definition(raw)]


# ----- one test per problem type ---------------------------------------------------------------

T = ProblemType


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"blocks": [noop("a"), noop("b"), noop("a", "b")]},
            [(T.DUPLICATE_ID, "blocks[2].id", "a")],
        ),
        (
            {"blocks": [noop("a"), noop("b", "a", "ghost")]},
            [(T.UNKNOWN_NEEDS, "blocks[1].needs[1]", "b")],
        ),
        (
            {"blocks": [noop("a", "c"), noop("b", "a"), noop("c", "b"), noop("d", "c")]},
            [(T.CYCLE, "blocks[0].needs[0]", "a")],
        ),
        (
            {"blocks": [noop("a"), {"id": "b", "type": "teleport", "needs": ["a"]}]},
            [(T.UNKNOWN_TYPE, "blocks[1].type", "b")],
        ),
        (
            {"blocks": [{"id": "a", "type": "sleep", "config": {"seconds": "soon"}}]},
            [(T.INVALID_CONFIG, "blocks[0].config.seconds", "a")],
        ),
        (
            {"blocks": [{"id": "a", "type": "transform", "config": {"expression": "a.["}}]},
            [(T.BAD_EXPRESSION, "blocks[0].config.expression", "a")],
        ),
        (
            {
                "blocks": [
                    noop("a"),
                    noop("b"),
                    {"id": "c", "type": "condition", "needs": ["a"], "config": {"if": "x"}},
                    noop("d", "c"),
                ]
            },
            [(T.UNREACHABLE, "blocks[3]", "d")],
        ),
        (
            {
                "blocks": [
                    noop("a"),
                    {
                        "id": "c",
                        "type": "condition",
                        "config": {"if": "x", "then": ["a"], "else": ["d"]},
                    },
                    noop("d", "c"),
                ]
            },
            [(T.BAD_TARGET, "blocks[1].config.then[0]", "c")],
        ),
        (
            {"input_schema": {"type": "object", "required": "id"}, "blocks": [noop("a")]},
            [(T.BAD_INPUT_SCHEMA, "input_schema.required", None)],
        ),
        (
            {"blocks": [noop(f"b{i}") for i in range(MAX_BLOCKS + 1)]},
            [(T.TOO_MANY_BLOCKS, "blocks", None)],
        ),
        (
            {"name": "no spaces", "blocks": [noop("a", retry={"max_attempts": 0})]},
            [
                (T.INVALID_FIELD, "name", None),
                (T.INVALID_FIELD, "blocks[0].retry.max_attempts", "a"),
            ],
        ),
    ],
    ids=lambda value: value[0][0].value if isinstance(value, list) else "",
)
def test_each_problem_type(
    raw: dict[str, Any], expected: list[tuple[ProblemType, str, Any]]
) -> None:
    assert found(raw) == expected


def test_every_problem_is_reported_at_once_and_one_bad_block_hides_no_other() -> None:
    raw = {
        "name": "x" * 65,
        "surprise": True,
        "input_schema": {"type": "nope"},
        "blocks": [
            {"id": "a", "type": "transform", "config": {"expression": "[", "typo": 1}},
            {"id": "a", "type": "bogus", "needs": ["ghost"]},
            {"id": "c", "type": "switch", "needs": ["d"], "config": {"value": "k", "cases": {}}},
            {"id": "d", "type": "set", "needs": ["c"], "config": {"values": {"v": "${x.[}"}}},
            "not a block",
            {"id": "e", "type": "http", "config": {"url": "${input.url}", "json": "${)}"}},
        ],
        "output": {"total": "n=${sum(}"},
    }
    assert found(raw) == [
        (T.INVALID_FIELD, "name", None),
        (T.INVALID_FIELD, "surprise", None),
        (T.BAD_INPUT_SCHEMA, "input_schema.type", None),
        (T.INVALID_CONFIG, "blocks[0].config.typo", "a"),
        (T.UNKNOWN_TYPE, "blocks[1].type", "a"),
        (T.INVALID_CONFIG, "blocks[2].config.cases", "c"),
        (T.INVALID_FIELD, "blocks[4]", None),
        (T.DUPLICATE_ID, "blocks[1].id", "a"),
        (T.UNKNOWN_NEEDS, "blocks[1].needs[0]", "a"),
        (T.CYCLE, "blocks[2].needs[0]", "c"),
        (T.BAD_EXPRESSION, "blocks[0].config.expression", "a"),
        (T.BAD_EXPRESSION, "blocks[3].config.values.v", "d"),
        (T.BAD_EXPRESSION, "blocks[5].config.json", "e"),
        (T.BAD_EXPRESSION, "output.total", None),
    ]


def test_a_cycle_names_its_blocks_in_execution_order() -> None:
    raw = {"blocks": [noop("a", "c"), noop("b", "a"), noop("c", "b"), noop("z", "z")]}
    cycles = [p for p in validate_definition(raw) if p.type is T.CYCLE]
    assert [(p.blocks, p.message) for p in cycles] == [
        (["a", "b", "c"], "blocks form a cycle: a -> b -> c -> a"),
        (["z"], "block 'z' needs itself"),
    ]


def test_bad_targets_name_what_is_wrong() -> None:
    raw = {
        "blocks": [
            noop("other"),
            {
                "id": "s",
                "type": "switch",
                "config": {
                    "value": "k",
                    "cases": {"a b": ["other"], "ok": ["x"]},
                    "default": ["y"],
                },
            },
            noop("x", "s"),
        ]
    }
    problems = validate_definition(raw)
    assert [(p.path, p.message) for p in problems] == [
        ('blocks[1].config.cases["a b"][0]', "chooses 'other', which does not need 's'"),
        ("blocks[1].config.default[0]", "chooses 'y', which is no block of this definition"),
    ]


@pytest.mark.parametrize(
    ("blocks", "dead"),
    [
        # After a fail block, only a trigger that tolerates failure runs.
        ([{"id": "f", "type": "fail"}, noop("n", "f")], {"n": "'f' always fails"}),
        ([{"id": "f", "type": "fail"}, noop("n", "f", trigger="none_failed")], {"n": "'f'"}),
        ([{"id": "f", "type": "fail"}, noop("n", "f", trigger="all_done")], {}),
        ([{"id": "f", "type": "fail"}, noop("n", "f", trigger="any_success")], {"n": "'f'"}),
        # Dead blocks make their all_success dependents dead too.
        (
            [{"id": "f", "type": "fail"}, noop("n", "f"), noop("m", "n")],
            {"n": "'f' always fails", "m": "'n' never runs"},
        ),
        # any_success runs if one need can complete.
        ([{"id": "f", "type": "fail"}, noop("a"), noop("n", "f", "a", trigger="any_success")], {}),
        # A successor of a condition that no branch names is always skipped.
        (
            [
                {"id": "c", "type": "condition", "config": {"if": "x", "then": ["t"]}},
                noop("t", "c"),
                noop("u", "c"),
                noop("v", "t", "u", trigger="none_failed"),
            ],
            {"u": "no branch of 'c' chooses it"},
        ),
    ],
)
def test_unreachable_blocks_are_warnings(
    blocks: list[dict[str, Any]], dead: dict[str, str]
) -> None:
    problems = validate_definition({"blocks": blocks})
    assert all(p.type is T.UNREACHABLE and p.severity == "warning" for p in problems)
    assert {p.block_id for p in problems} == set(dead)
    for problem in problems:
        assert problem.block_id is not None
        assert dead[problem.block_id] in problem.message


def test_parse_definition_raises_with_every_problem_but_not_for_warnings() -> None:
    raw = {"blocks": [noop("a", "ghost"), {"id": "b", "type": "sleep", "config": {}}]}
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(raw)
    assert [p.type for p in caught.value.problems] == [T.INVALID_CONFIG, T.UNKNOWN_NEEDS]
    error = caught.value.error()
    assert error.type.value == "VALIDATION_ERROR"
    assert [p["path"] for p in error.details["problems"]] == [
        "blocks[1].config.seconds",
        "blocks[0].needs[0]",
    ]

    warned = {"blocks": [{"id": "f", "type": "fail"}, noop("n", "f")]}
    assert [p.type for p in validate_definition(warned)] == [T.UNREACHABLE]
    assert parse_definition(warned).block("n").needs == ["f"]


@pytest.mark.parametrize("raw", [None, [], "x", {"blocks": {}}, {"blocks": []}])
def test_not_a_definition(raw: Any) -> None:
    assert [p.type for p in validate_definition(raw)] == [T.INVALID_FIELD]


def test_unknown_json_schema_dialect() -> None:
    raw = {"input_schema": {"$schema": "https://example.com/mine"}, "blocks": [noop("a")]}
    assert found(raw) == [(T.BAD_INPUT_SCHEMA, 'input_schema["$schema"]', None)]


def test_json_path() -> None:
    assert json_path("blocks", 2, "config", "if") == "blocks[2].config.if"
    assert json_path("blocks", 0, "config", "cases", "a b", 1) == 'blocks[0].config.cases["a b"][1]'


# ----- properties ------------------------------------------------------------------------------

TRIGGERS = ["all_success", "none_failed", "all_done", "any_success"]
CONFIGS: dict[str, dict[str, Any]] = {
    "noop": {},
    "set": {"values": {"v": "${input.v}"}},
    "transform": {"expression": "input.v"},
    "sleep": {"seconds": 1},
    "log": {"message": "at ${run.id}"},
    "http": {"url": "https://example.com"},
}


@st.composite
def dags(draw: st.DrawFn, max_size: int = 12) -> list[dict[str, Any]]:
    """Valid definitions' blocks: acyclic, every target a successor, every block reachable."""
    size = draw(st.integers(1, max_size))
    ids = [f"b{i}" for i in range(size)]
    blocks: list[dict[str, Any]] = []
    for i, block_id in enumerate(ids):
        needs = draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else []
        block_type = draw(st.sampled_from([*CONFIGS, "condition", "switch"]))
        trigger = draw(st.sampled_from(TRIGGERS))
        config = copy.deepcopy(CONFIGS.get(block_type, {}))
        blocks.append(
            {
                "id": block_id,
                "type": block_type,
                "needs": needs,
                "trigger": trigger,
                "config": config,
            }
        )
    for router in blocks:
        successors = [b["id"] for b in blocks if router["id"] in b["needs"]]
        # Every successor is named by at least one branch, so none is dead.
        named = [draw(st.sampled_from([[0], [1], [0, 1]])) for _ in successors]
        branches: list[list[str]] = [
            [s for s, n in zip(successors, named, strict=True) if k in n] for k in (0, 1)
        ]
        if router["type"] == "condition":
            router["config"] = {"if": "input.v > `1`", "then": branches[0], "else": branches[1]}
        elif router["type"] == "switch":
            router["config"] = {
                "value": "input.k",
                "cases": {"a": branches[0]},
                "default": branches[1],
            }
    return draw(st.permutations(blocks))


def needs_of(blocks: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {b["id"]: b["needs"] for b in blocks}


def ancestors(needs: dict[str, list[str]], block_id: str) -> set[str]:
    seen: set[str] = set()
    pending = [block_id]
    while pending:
        for need in needs[pending.pop()]:
            if need not in seen:
                seen.add(need)
                pending.append(need)
    return seen


@settings(max_examples=150, deadline=None)
@given(dags())
def test_any_generated_dag_validates_with_no_problems(blocks: list[dict[str, Any]]) -> None:
    assert validate_definition({"blocks": blocks}) == []


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_one_back_edge_reports_exactly_that_cycle(
    blocks: list[dict[str, Any]], data: st.DataObject
) -> None:
    needs = needs_of(blocks)
    late = data.draw(st.sampled_from([b for b in needs if needs[b]] or [None]))
    if late is None:
        return
    early = data.draw(st.sampled_from(sorted(ancestors(needs, late))))
    looped = copy.deepcopy(blocks)
    next(b for b in looped if b["id"] == early)["needs"].append(late)  # the back edge

    problems = validate_definition({"blocks": looped})
    assert [p.type for p in problems] == [T.CYCLE]
    cycle = problems[0].blocks
    new_needs = needs_of(looped)
    # It is a simple cycle of the graph, in execution order...
    assert len(set(cycle)) == len(cycle)
    for before, after in zip(cycle, cycle[1:] + cycle[:1], strict=True):
        assert before in new_needs[after]
    # ...through the back edge, of blocks that lie on a path from `early` to `late`.
    position = cycle.index(late)
    assert cycle[(position + 1) % len(cycle)] == early
    on_a_path = {b for b in ancestors(needs, late) if early in ancestors(needs, b)}
    assert set(cycle) <= on_a_path | {early, late}


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_removing_a_needed_block_reports_each_dangling_need(
    blocks: list[dict[str, Any]], data: st.DataObject
) -> None:
    needed = sorted({n for b in blocks for n in b["needs"]})
    if not needed:
        return
    gone = data.draw(st.sampled_from(needed))
    remaining = [b for b in blocks if b["id"] != gone]
    expected = {
        (b["id"], f"blocks[{i}].needs[{j}]")
        for i, b in enumerate(remaining)
        for j, need in enumerate(b["needs"])
        if need == gone
    }
    problems = validate_definition({"blocks": remaining})
    assert {(p.block_id, p.path) for p in problems if p.type is T.UNKNOWN_NEEDS} == expected
    # The only other problems: routers that chose the removed block.
    others = [p for p in problems if p.type is not T.UNKNOWN_NEEDS]
    assert all(p.type is T.BAD_TARGET and repr(gone) in p.message for p in others)


def test_problems_serialise_as_the_wire_shape() -> None:
    problem = Problem(path="blocks[0]", type=T.CYCLE, message="m", block_id="a", blocks=["a"])
    assert problem.model_dump(mode="json") == {
        "block_id": "a",
        "path": "blocks[0]",
        "type": "CYCLE",
        "message": "m",
        "severity": "error",
        "blocks": ["a"],
    }
