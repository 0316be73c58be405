"""Where a run stands once no more blocks can start now: done (and how), or still going."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.definitions import WorkflowDefinition
from contracts.expressions import ExpressionError, resolve
from services.command.domain.scheduling import COMPLETED, FAILED, TERMINAL_BLOCK_STATUSES
from services.command.domain.status import RunStatus

RUNNING_BLOCK = "running"


@dataclass(frozen=True)
class Finished:
    """Every block ended: failed (with the first failed block's error) or completed."""

    error: dict[str, Any] | None = None
    output: Any = None


def run_outcome(
    definition: WorkflowDefinition, blocks: dict[str, dict[str, Any]], context: dict[str, Any]
) -> Finished | RunStatus:
    """`Finished`, or the status the run has while blocks are open: running or waiting."""
    statuses = {bid: b["status"] for bid, b in blocks.items()}
    if not all(s in TERMINAL_BLOCK_STATUSES for s in statuses.values()):
        running = any(s == RUNNING_BLOCK for s in statuses.values())
        return RunStatus.RUNNING if running else RunStatus.WAITING
    failed = [bid for bid, s in statuses.items() if s == FAILED]
    if failed:
        error = blocks[failed[0]]["error"]
        return Finished(
            error={"type": error["type"], "message": error["message"], "block": failed[0]}
        )
    return Finished(output=run_output(definition, blocks, context))


def run_output(
    definition: WorkflowDefinition, blocks: dict[str, dict[str, Any]], context: dict[str, Any]
) -> Any:
    """The definition's `output` resolved, else the terminal blocks' outputs by id."""
    if definition.output is not None:
        try:
            return resolve(definition.output, context)
        except ExpressionError as exc:
            return {"error": str(exc)}
    needed = {n for b in definition.blocks for n in b.needs}
    return {
        b.id: blocks[b.id]["output"]
        for b in definition.blocks
        if b.id not in needed and blocks[b.id]["status"] == COMPLETED
    }
