"""Which pending blocks of a run are ready, and which can never run (to be skipped).

Pure: statuses and the routers' vetoes in, decisions out. A veto `(router, block)` says a
completed condition or switch did not choose `block`: that block is skipped whatever its
trigger, while the router itself stays completed for its other successors.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from contracts.definitions import Trigger

PENDING = "pending"
COMPLETED = "completed"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"
TERMINAL_BLOCK_STATUSES = frozenset({COMPLETED, FAILED, SKIPPED, CANCELLED})


@dataclass(frozen=True)
class Node:
    id: str
    needs: tuple[str, ...]
    trigger: Trigger


@dataclass
class Steps:
    ready: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)


def _decide(
    node: Node, statuses: Mapping[str, str], vetoed: Collection[tuple[str, str]]
) -> str | None:
    """'ready', 'skip' or None (not yet decidable) for one pending block."""
    if any((need, node.id) in vetoed for need in node.needs):
        return "skip"
    needs = [statuses[n] for n in node.needs]
    done = all(s in TERMINAL_BLOCK_STATUSES for s in needs)
    if node.trigger is Trigger.ALL_SUCCESS:
        if any(s in (FAILED, SKIPPED, CANCELLED) for s in needs):
            return "skip"
        return "ready" if all(s == COMPLETED for s in needs) else None
    if node.trigger is Trigger.NONE_FAILED:
        if any(s in (FAILED, CANCELLED) for s in needs):
            return "skip"
        return "ready" if done else None
    if node.trigger is Trigger.ALL_DONE:
        return "ready" if done else None
    # ANY_SUCCESS: a block with no needs is trivially ready.
    if not needs or any(s == COMPLETED for s in needs):
        return "ready"
    return "skip" if done else None


def next_steps(
    nodes: Iterable[Node],
    statuses: Mapping[str, str],
    vetoed: Collection[tuple[str, str]] = frozenset(),
) -> Steps:
    """Decide every pending block whose needs allow it, skips cascading to a fixpoint.

    Ready blocks are returned in definition order, so parallel branches start together.
    """
    nodes = list(nodes)
    current = dict(statuses)
    steps = Steps()
    while True:
        # A pass that skips nothing saw the final statuses: its ready blocks are the answer.
        changed = False
        ready = []
        for node in nodes:
            if current[node.id] != PENDING:
                continue
            decision = _decide(node, current, vetoed)
            if decision == "skip":
                current[node.id] = SKIPPED
                steps.skip.append(node.id)
                changed = True
            elif decision == "ready":
                ready.append(node.id)
        if not changed:
            steps.ready = ready
            return steps


def with_needs(nodes: Iterable[Node], wanted: Iterable[str]) -> set[str]:
    """The wanted blocks and, transitively, every block they need."""
    needs = {node.id: node.needs for node in nodes}
    found: set[str] = set()
    todo = list(wanted)
    while todo:
        block = todo.pop()
        if block not in found:
            found.add(block)
            todo.extend(needs[block])
    return found
