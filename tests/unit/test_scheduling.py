"""next_steps: which pending blocks are ready, which are skipped, on a diamond and by trigger."""

from __future__ import annotations

import pytest

from contracts.definitions import Trigger
from services.command.domain.scheduling import Node, next_steps

P, R, W = "pending", "running", "waiting"
OK, KO, SK, CX = "completed", "failed", "skipped", "cancelled"


def diamond(join: Trigger = Trigger.ALL_SUCCESS) -> list[Node]:
    """a -> b, a -> c, (b, c) -> d."""
    return [
        Node("a", (), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("c", ("a",), Trigger.ALL_SUCCESS),
        Node("d", ("b", "c"), join),
    ]


def steps(nodes: list[Node], **statuses: str) -> tuple[list[str], list[str]]:
    result = next_steps(nodes, statuses)
    return result.ready, result.skip


@pytest.mark.parametrize(
    ("statuses", "ready"),
    [
        ({"a": P, "b": P, "c": P, "d": P}, ["a"]),
        ({"a": R, "b": P, "c": P, "d": P}, []),
        ({"a": W, "b": P, "c": P, "d": P}, []),
        # Both branches start together, in definition order.
        ({"a": OK, "b": P, "c": P, "d": P}, ["b", "c"]),
        ({"a": OK, "b": R, "c": P, "d": P}, ["c"]),
        ({"a": OK, "b": OK, "c": R, "d": P}, []),
        ({"a": OK, "b": R, "c": OK, "d": P}, []),
        ({"a": OK, "b": OK, "c": OK, "d": P}, ["d"]),
        ({"a": OK, "b": OK, "c": OK, "d": R}, []),
        ({"a": OK, "b": OK, "c": OK, "d": OK}, []),
    ],
)
def test_diamond_stages(statuses: dict[str, str], ready: list[str]) -> None:
    assert steps(diamond(), **statuses) == (ready, [])


def test_ready_order_follows_definition_order_not_mapping_order() -> None:
    nodes = [Node("z", (), Trigger.ALL_SUCCESS), Node("a", (), Trigger.ALL_SUCCESS)]
    assert next_steps(nodes, {"a": P, "z": P}).ready == ["z", "a"]


def test_a_failed_root_skips_everything_downstream() -> None:
    assert steps(diamond(), a=KO, b=P, c=P, d=P) == ([], ["b", "c", "d"])


def test_skips_cascade_through_a_chain_defined_in_reverse_order() -> None:
    # The fixpoint must not depend on definition order.
    nodes = [
        Node("e", ("d",), Trigger.ALL_SUCCESS),
        Node("d", ("c",), Trigger.NONE_FAILED),
        Node("c", ("b",), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("a", (), Trigger.ALL_SUCCESS),
    ]
    # c is skipped, d (none_failed) accepts a skipped need and is ready; e waits on d.
    assert steps(nodes, a=OK, b=KO, c=P, d=P, e=P) == (["d"], ["c"])
    # With an all_success d, the skip runs to the end of the chain, in cascade order.
    strict = [Node(n.id, n.needs, Trigger.ALL_SUCCESS) for n in nodes]
    assert steps(strict, a=OK, b=KO, c=P, d=P, e=P) == ([], ["c", "d", "e"])


def test_skips_cascade_to_the_end_of_an_all_success_chain() -> None:
    nodes = [
        Node("a", (), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("c", ("b",), Trigger.ALL_SUCCESS),
        Node("d", ("c",), Trigger.ALL_SUCCESS),
    ]
    assert steps(nodes, a=KO, b=P, c=P, d=P) == ([], ["b", "c", "d"])


def test_one_failed_branch_skips_an_all_success_join_while_the_other_runs() -> None:
    assert steps(diamond(), a=OK, b=KO, c=R, d=P) == ([], ["d"])


@pytest.mark.parametrize(
    ("trigger", "b", "c", "expected"),
    [
        # all_success: every need completed.
        (Trigger.ALL_SUCCESS, OK, OK, "ready"),
        (Trigger.ALL_SUCCESS, OK, R, None),
        (Trigger.ALL_SUCCESS, KO, R, "skip"),
        (Trigger.ALL_SUCCESS, SK, OK, "skip"),
        (Trigger.ALL_SUCCESS, CX, OK, "skip"),
        # none_failed: every need completed or skipped.
        (Trigger.NONE_FAILED, OK, OK, "ready"),
        (Trigger.NONE_FAILED, SK, OK, "ready"),
        (Trigger.NONE_FAILED, SK, SK, "ready"),
        (Trigger.NONE_FAILED, SK, R, None),
        (Trigger.NONE_FAILED, KO, R, "skip"),
        (Trigger.NONE_FAILED, OK, KO, "skip"),
        (Trigger.NONE_FAILED, CX, OK, "skip"),
        # all_done: every need settled, whatever the outcome.
        (Trigger.ALL_DONE, KO, SK, "ready"),
        (Trigger.ALL_DONE, KO, KO, "ready"),
        (Trigger.ALL_DONE, OK, CX, "ready"),
        (Trigger.ALL_DONE, KO, W, None),
        (Trigger.ALL_DONE, R, OK, None),
        # any_success: one completed need is enough, even before the others settle.
        (Trigger.ANY_SUCCESS, OK, R, "ready"),
        (Trigger.ANY_SUCCESS, KO, OK, "ready"),
        (Trigger.ANY_SUCCESS, SK, OK, "ready"),
        (Trigger.ANY_SUCCESS, KO, R, None),
        (Trigger.ANY_SUCCESS, KO, SK, "skip"),
        (Trigger.ANY_SUCCESS, KO, KO, "skip"),
        (Trigger.ANY_SUCCESS, SK, SK, "skip"),
    ],
)
def test_join_trigger(trigger: Trigger, b: str, c: str, expected: str | None) -> None:
    ready, skip = steps(diamond(trigger), a=OK, b=b, c=c, d=P)
    assert ready == (["d"] if expected == "ready" else [])
    assert skip == (["d"] if expected == "skip" else [])


@pytest.mark.parametrize("trigger", list(Trigger), ids=lambda t: t.value)
def test_a_block_with_no_needs_is_ready_whatever_its_trigger(trigger: Trigger) -> None:
    assert steps([Node("solo", (), trigger)], solo=P) == (["solo"], [])


def test_a_skip_cascades_into_a_none_failed_join_which_then_runs() -> None:
    # a fails -> b (all_success) is skipped -> d (none_failed, needs b and c) may run.
    nodes = [
        Node("a", (), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("c", (), Trigger.ALL_SUCCESS),
        Node("d", ("b", "c"), Trigger.NONE_FAILED),
    ]
    assert steps(nodes, a=KO, b=P, c=OK, d=P) == (["d"], ["b"])


def test_an_all_done_handler_runs_after_a_failure_that_skipped_its_sibling() -> None:
    nodes = [
        Node("a", (), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("cleanup", ("a", "b"), Trigger.ALL_DONE),
    ]
    assert steps(nodes, a=KO, b=P, cleanup=P) == (["cleanup"], ["b"])


def test_an_any_success_join_is_skipped_once_every_branch_is_skipped() -> None:
    nodes = [
        Node("a", (), Trigger.ALL_SUCCESS),
        Node("b", ("a",), Trigger.ALL_SUCCESS),
        Node("c", ("a",), Trigger.ALL_SUCCESS),
        Node("d", ("b", "c"), Trigger.ANY_SUCCESS),
        Node("e", ("d",), Trigger.ALL_DONE),
    ]
    # e (all_done) is ready once d is skipped.
    assert steps(nodes, a=KO, b=P, c=P, d=P, e=P) == (["e"], ["b", "c", "d"])


def test_input_statuses_are_not_mutated() -> None:
    statuses = {"a": KO, "b": P, "c": P, "d": P}
    next_steps(diamond(), statuses)
    assert statuses == {"a": KO, "b": P, "c": P, "d": P}


# ----- vetoes of routers (condition, switch) ------------------------------------------------


def routed() -> list[Node]:
    """route -> yes, route -> no; after_yes needs yes; join (none_failed) needs yes and no."""
    return [
        Node("route", (), Trigger.ALL_SUCCESS),
        Node("yes", ("route",), Trigger.ALL_SUCCESS),
        Node("no", ("route",), Trigger.NONE_FAILED),
        Node("after_no", ("no",), Trigger.ALL_SUCCESS),
        Node("join", ("yes", "no"), Trigger.NONE_FAILED),
    ]


def test_a_vetoed_successor_is_skipped_and_the_chosen_one_is_ready() -> None:
    statuses = {"route": OK, "yes": P, "no": P, "after_no": P, "join": P}
    result = next_steps(routed(), statuses, {("route", "no")})
    # `no` is skipped though its none_failed trigger would accept its completed need;
    # the skip cascades to after_no (all_success), and join (none_failed) waits on `yes`.
    assert (result.ready, result.skip) == (["yes"], ["no", "after_no"])


def test_a_veto_is_per_edge_not_a_status_of_the_router() -> None:
    nodes = [
        Node("route", (), Trigger.ALL_SUCCESS),
        Node("a", ("route",), Trigger.ALL_SUCCESS),
        Node("b", ("route", "a"), Trigger.ANY_SUCCESS),
    ]
    # b is vetoed by route: skipped even though its any_success trigger is met through a.
    assert next_steps(nodes, {"route": OK, "a": OK, "b": P}, {("route", "b")}).skip == ["b"]
    # A veto naming another router, or another block, changes nothing for b.
    assert next_steps(nodes, {"route": OK, "a": OK, "b": P}, {("x", "b")}).ready == ["b"]
    # b (any_success) may start on route alone when route chose it.
    assert next_steps(nodes, {"route": OK, "a": P, "b": P}, {("route", "z")}).ready == ["a", "b"]


def test_a_vetoed_block_is_skipped_whatever_its_trigger() -> None:
    for trigger in Trigger:
        nodes = [Node("route", (), Trigger.ALL_SUCCESS), Node("b", ("route",), trigger)]
        result = next_steps(nodes, {"route": OK, "b": P}, {("route", "b")})
        assert (result.ready, result.skip) == ([], ["b"]), trigger


def test_the_join_of_both_branches_runs_once_the_chosen_branch_completes() -> None:
    statuses = {"route": OK, "yes": OK, "no": SK, "after_no": SK, "join": P}
    assert next_steps(routed(), statuses, {("route", "no")}).ready == ["join"]


def test_without_vetoes_next_steps_is_unchanged() -> None:
    statuses = {"route": OK, "yes": P, "no": P, "after_no": P, "join": P}
    assert next_steps(routed(), statuses).ready == ["yes", "no"]
