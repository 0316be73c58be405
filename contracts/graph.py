"""A definition's graph: its drawing (nodes and typed edges), its cycles, its dead blocks.

Edges run in execution order: from a need to the block that needs it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

from contracts.blocks.base import Branch, Trigger

if TYPE_CHECKING:
    from contracts.definitions import WorkflowDefinition

COMPLETED, FAILED, SKIPPED = "completed", "failed", "skipped"
# What a block can end as once it runs; any type not named here may complete or fail.
_RUN_OUTCOMES: dict[str, frozenset[str]] = {
    "fail": frozenset({FAILED}),
    "noop": frozenset({COMPLETED}),
    "parallel": frozenset({COMPLETED}),
}
_ANY_RUN_OUTCOME = frozenset({COMPLETED, FAILED})


@dataclass(frozen=True)
class GraphNode:
    """What the graph checks know of a block: enough to judge even a block that failed parsing."""

    id: str
    type: str | None  # None when unknown
    needs: tuple[str, ...]
    trigger: Trigger = Trigger.ALL_SUCCESS
    branches: tuple[Branch, ...] | None = None  # a routing block's, when its config parsed


def definition_graph(definition: WorkflowDefinition) -> dict[str, list[dict[str, Any]]]:
    """`{"nodes": [{id, type}], "edges": [{from, to, kind}]}`; kind: needs, then, else, case.

    An edge from a condition or switch has one entry per branch naming its target (a case
    edge also carries its `case` key, None for the default); a successor that no branch
    names is a plain `needs` edge.
    """
    branches = {block.id: block.config.branches() for block in definition.blocks}
    edges: list[dict[str, Any]] = []
    for block in definition.blocks:
        for need in block.needs:
            naming = [b for b in branches.get(need) or [] if block.id in b.ids]
            if not naming:
                edges.append({"from": need, "to": block.id, "kind": "needs"})
            for branch in naming:
                edge: dict[str, Any] = {"from": need, "to": block.id, "kind": branch.kind}
                if branch.kind == "case":
                    edge["case"] = branch.case
                edges.append(edge)
    return {"nodes": [{"id": b.id, "type": b.type} for b in definition.blocks], "edges": edges}


def graph_problems(definition: WorkflowDefinition) -> list[str]:
    """The messages of the structural problems `WorkflowDefinition` itself rejects."""
    from contracts.validation import structural_problems

    return [problem.message for problem in structural_problems(definition)]


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, in execution order.

    Each starts at the component's first block in `needs`' order and is a shortest cycle
    through it. Needs naming unknown blocks are ignored.
    """
    order = {block: index for index, block in enumerate(needs)}
    successors: dict[str, list[str]] = {block: [] for block in needs}
    for block, its_needs in needs.items():
        for need in its_needs:
            if need in successors:
                successors[need].append(block)
    cycles = []
    for component in _components(successors):
        start = min(component, key=order.__getitem__)
        if len(component) > 1 or start in successors[start]:
            cycles.append(_shortest_cycle(start, component, successors))
    return sorted(cycles, key=lambda cycle: order[cycle[0]])


def _components(successors: Mapping[str, Sequence[str]]) -> list[set[str]]:
    """Strongly connected components (Kosaraju), iteratively: 1,000 blocks may form a chain."""
    finished: list[str] = []
    seen: set[str] = set()
    for root in successors:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                finished.append(node)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(successors[child])))
    predecessors: dict[str, list[str]] = {node: [] for node in successors}
    for node, nexts in successors.items():
        for child in nexts:
            predecessors[child].append(node)
    components: list[set[str]] = []
    assigned: set[str] = set()
    for root in reversed(finished):
        if root in assigned:
            continue
        component = {root}
        assigned.add(root)
        pending = [root]
        while pending:
            for parent in predecessors[pending.pop()]:
                if parent not in assigned:
                    assigned.add(parent)
                    component.add(parent)
                    pending.append(parent)
        components.append(component)
    return components


def _shortest_cycle(
    start: str, component: set[str], successors: Mapping[str, Sequence[str]]
) -> list[str]:
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if start in successors[node]:
            path = [node]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for child in successors[node]:
            if child in component and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise ValueError(f"{start!r} is on no cycle")  # pragma: no cover - a component has one


def never_run(nodes: Sequence[GraphNode]) -> dict[str, str]:
    """The blocks that can never start, each with why; the graph must be acyclic.

    A block can start if some combination of its needs' possible outcomes meets its trigger.
    A block's possible outcomes: if it can start, those of its type (`fail` always fails,
    `noop` and `parallel` always complete, any other type may complete or fail); if it can
    be skipped, also skipped. Seen through the edge from a condition or switch, a need
    counts as completed only if some branch names the block: a block no branch names is
    skipped whenever the router completes. Outcomes of different needs are taken as
    independent, so a block reported here is certainly dead, while one that can only run
    under an impossible combination (say, both branches of one condition) is not reported.
    """
    by_id = {node.id: node for node in nodes}
    sorter = TopologicalSorter({node.id: [n for n in node.needs if n in by_id] for node in nodes})
    outcomes: dict[str, frozenset[str]] = {}
    dead: dict[str, str] = {}
    for block in sorter.static_order():
        node = by_id[block]
        seen: dict[str, frozenset[str]] = {}
        unchosen: set[str] = set()  # routers that may complete, though no branch names it
        router_may_skip = False
        for need in node.needs:
            if need not in by_id:
                continue
            seen[need] = outcomes[need]
            router = by_id[need].branches
            if router is not None and COMPLETED in outcomes[need]:
                router_may_skip |= not all(node.id in branch.ids for branch in router)
                if not any(node.id in branch.ids for branch in router):
                    unchosen.add(need)
                    seen[need] = outcomes[need] - {COMPLETED}
        can_run = _can_start(node.trigger, list(seen.values()))
        can_skip = router_may_skip or _can_be_skipped(node.trigger, list(seen.values()))
        result: frozenset[str] = frozenset()
        if can_run:
            result = _RUN_OUTCOMES.get(node.type or "", _ANY_RUN_OUTCOME)
        else:
            dead[block] = _why_dead(node, seen, unchosen)
        outcomes[block] = result | {SKIPPED} if can_skip or not can_run else result
    return {node.id: dead[node.id] for node in nodes if node.id in dead}


def _can_start(trigger: Trigger, needs: list[frozenset[str]]) -> bool:
    if trigger is Trigger.ALL_SUCCESS:
        return all(COMPLETED in need for need in needs)
    if trigger is Trigger.NONE_FAILED:
        return all(need & {COMPLETED, SKIPPED} for need in needs)
    if trigger is Trigger.ALL_DONE:
        return True
    return not needs or any(COMPLETED in need for need in needs)


def _can_be_skipped(trigger: Trigger, needs: list[frozenset[str]]) -> bool:
    if trigger is Trigger.ALL_SUCCESS:
        return any(need & {FAILED, SKIPPED} for need in needs)
    if trigger is Trigger.NONE_FAILED:
        return any(FAILED in need for need in needs)
    if trigger is Trigger.ALL_DONE:
        return False
    return bool(needs) and all(need - {COMPLETED} for need in needs)


def _why_dead(node: GraphNode, seen: dict[str, frozenset[str]], unchosen: set[str]) -> str:
    wanted = {COMPLETED, SKIPPED} if node.trigger is Trigger.NONE_FAILED else {COMPLETED}
    reasons = []
    for need, possible in seen.items():
        if possible & wanted:
            continue
        if need in unchosen:
            reasons.append(f"no branch of {need!r} chooses it")
        elif possible == {FAILED}:
            reasons.append(f"{need!r} always fails")
        elif possible == {SKIPPED}:
            reasons.append(f"{need!r} never runs")
        else:
            reasons.append(f"{need!r} never completes")
    because = "; ".join(reasons)
    return f"block {node.id!r} can never run (trigger {node.trigger.value}): {because}"
