"""Structural checks of a definition's graph: duplicate ids, unknown needs, cycles."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.definitions import WorkflowDefinition


def graph_problems(definition: WorkflowDefinition) -> list[str]:
    problems: list[str] = []
    ids = [block.id for block in definition.blocks]
    seen: set[str] = set()
    for block_id in ids:
        if block_id in seen:
            problems.append(f"duplicate block id {block_id!r}")
        seen.add(block_id)
    for block in definition.blocks:
        for need in block.needs:
            if need not in seen:
                problems.append(f"block {block.id!r} needs unknown block {need!r}")
    if problems:
        return problems
    try:
        TopologicalSorter({b.id: set(b.needs) for b in definition.blocks}).prepare()
    except CycleError as exc:
        cycle = exc.args[1]
        problems.append(f"cycle between blocks {' -> '.join(cycle)}")
    return problems
