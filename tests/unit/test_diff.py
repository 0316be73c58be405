"""diff_definitions: added, removed and changed blocks, and patches that round-trip."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.diff import apply_patch, diff_definitions


def block(block_id: str, seconds: float = 1, *needs: str) -> dict[str, Any]:
    return {"id": block_id, "type": "sleep", "needs": list(needs), "config": {"seconds": seconds}}


def test_added_removed_and_changed_blocks() -> None:
    old = {"name": "wf", "blocks": [block("a"), block("b", 1, "a"), block("c", 1, "b")]}
    new = {
        "name": "wf",
        "description": "now described",
        "blocks": [block("a", 5), block("c", 1, "a"), block("d", 2, "c")],
    }
    diff = diff_definitions(old, new)
    assert diff["added"] == ["d"]
    assert diff["removed"] == ["b"]
    assert diff["changed"] == [
        {"id": "a", "patch": [{"op": "replace", "path": "/config/seconds", "value": 5}]},
        {"id": "c", "patch": [{"op": "replace", "path": "/needs/0", "value": "a"}]},
    ]
    assert apply_patch(old, diff["patch"]) == new


def test_identical_definitions_have_an_empty_diff() -> None:
    definition = {"blocks": [block("a")]}
    assert diff_definitions(definition, copy.deepcopy(definition)) == {
        "added": [],
        "removed": [],
        "changed": [],
        "patch": [],
    }


def test_a_block_that_only_moved_is_not_changed() -> None:
    old = {"blocks": [block("a"), block("b")]}
    new = {"blocks": [block("b"), block("a")]}
    diff = diff_definitions(old, new)
    assert (diff["added"], diff["removed"], diff["changed"]) == ([], [], [])
    assert apply_patch(old, diff["patch"]) == new


# ----- random edits round-trip -------------------------------------------------------------

IDS = [f"b{i}" for i in range(8)]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def blocks(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": draw(st.sampled_from(IDS)),
        "type": draw(st.sampled_from(["noop", "set", "sleep"])),
        "needs": draw(st.lists(st.sampled_from(IDS), max_size=3, unique=True)),
        "config": draw(
            st.dictionaries(st.sampled_from(["values", "seconds", "x"]), JSON, max_size=3)
        ),
    }


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(blocks(), max_size=6, unique_by=lambda b: b["id"]))
    definition: dict[str, Any] = {"name": draw(st.sampled_from(["wf", "other"])), "blocks": chosen}
    if draw(st.booleans()):
        definition["output"] = draw(JSON)
    return definition


@st.composite
def edited(draw: st.DrawFn, definition: dict[str, Any]) -> dict[str, Any]:
    """`definition` after a few random edits: add, remove, change, reorder, run-level fields."""
    new = copy.deepcopy(definition)
    for _ in range(draw(st.integers(0, 5))):
        edit = draw(st.sampled_from(["add", "remove", "config", "needs", "move", "field"]))
        present = new["blocks"]
        if edit == "add":
            fresh = draw(blocks())
            if all(b["id"] != fresh["id"] for b in present):
                present.insert(draw(st.integers(0, len(present))), fresh)
        elif edit == "field":
            new[draw(st.sampled_from(["name", "description", "output"]))] = draw(JSON)
        elif present:
            target = present[draw(st.integers(0, len(present) - 1))]
            if edit == "remove":
                present.remove(target)
            elif edit == "config":
                target["config"][draw(st.sampled_from(["values", "seconds", "y"]))] = draw(JSON)
            elif edit == "needs":
                target["needs"] = draw(st.lists(st.sampled_from(IDS), max_size=3, unique=True))
            else:
                present.remove(target)
                present.insert(draw(st.integers(0, len(present))), target)
    return new


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_edits_round_trip(data: st.DataObject) -> None:
    old = data.draw(definitions())
    new = data.draw(edited(old))
    frozen = copy.deepcopy(old)

    diff = diff_definitions(old, new)

    assert old == frozen  # the inputs are left alone
    assert apply_patch(old, diff["patch"]) == new
    old_blocks = {b["id"]: b for b in old["blocks"]}
    new_blocks = {b["id"]: b for b in new["blocks"]}
    assert set(diff["added"]) == new_blocks.keys() - old_blocks.keys()
    assert set(diff["removed"]) == old_blocks.keys() - new_blocks.keys()
    assert {c["id"] for c in diff["changed"]} == {
        i for i in old_blocks.keys() & new_blocks.keys() if old_blocks[i] != new_blocks[i]
    }
    for change in diff["changed"]:
        assert apply_patch(old_blocks[change["id"]], change["patch"]) == new_blocks[change["id"]]
