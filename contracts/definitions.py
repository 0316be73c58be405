"""Workflow definitions: the blocks, their typed configs, triggers, retries and run-level limits.

Each block type has one config model in `contracts/blocks/` (the wire shape) and, where it runs
on a worker, one executor module in `services/worker/blocks/`. `EXECUTION` says who settles a
block: `inline` (the command side, no I/O), `timer` (a durable JetStream message schedule) or
`task` (a worker).

`WorkflowDefinition.model_validate` rejects what would break the engine (bad fields, configs,
graph structure, targets, input schema); `contracts.validation.parse_definition` is the stricter
save-time check that also compiles every expression and reports every problem at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts.blocks import (
    BLOCK_MODELS,
    BLOCK_TYPES,
    Block,
    block_types_catalogue,
    execution_of,
    needs_context,
)
from contracts.blocks.base import (
    BLOCK_ID_PATTERN,
    MAX_SECONDS,
    NAME_PATTERN,
    BlockBase,
    BlockConfig,
    Execution,
    RetryPolicy,
    Strict,
    Trigger,
)
from contracts.blocks.basic import FailConfig, SetConfig, TransformConfig
from contracts.blocks.timing import SleepConfig

__all__ = [
    "BLOCK_ID_PATTERN",
    "BLOCK_MODELS",
    "BLOCK_TYPES",
    "MAX_BLOCKS",
    "MAX_DEFINITION_BYTES",
    "NAME_PATTERN",
    "Block",
    "BlockBase",
    "BlockConfig",
    "Concurrency",
    "DefinitionFields",
    "Execution",
    "FailConfig",
    "RetryPolicy",
    "SetConfig",
    "SleepConfig",
    "TransformConfig",
    "Trigger",
    "WorkflowDefinition",
    "block_types_catalogue",
    "execution_of",
    "needs_context",
]

MAX_BLOCKS = 1000
MAX_DEFINITION_BYTES = 1024 * 1024

TimeoutPolicy = Literal["fail", "cancel", "terminate"]


class Concurrency(Strict):
    """How many runs of the workflow may be active, and what a start does past that."""

    limit: int = Field(default=1, ge=1, le=100_000)
    # allow: start anyway · reject: 409 WORKFLOW_ALREADY_RUNNING · cancel_existing · queue
    on_active: Literal["allow", "reject", "cancel_existing", "queue"] = "allow"


class DefinitionFields(Strict):
    """A definition's run-level fields: everything but its blocks."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = None
    # A JSON Schema that a run's input must satisfy on start.
    input_schema: dict[str, Any] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    timeout_policy: TimeoutPolicy = "fail"
    concurrency: Concurrency | None = None
    output: Any = None


class WorkflowDefinition(DefinitionFields):
    """A workflow: a graph of blocks joined by `needs`."""

    blocks: list[Block] = Field(min_length=1, max_length=MAX_BLOCKS)

    @model_validator(mode="after")
    def _check_structure(self) -> WorkflowDefinition:
        from contracts.validation import structural_problems

        problems = structural_problems(self)
        if problems:
            raise PydanticCustomError(
                "definition_invalid",
                "{summary}",
                {
                    "summary": "; ".join(f"{p.path}: {p.message}" for p in problems),
                    "problems": [p.model_dump() for p in problems],
                },
            )
        return self

    def disabled_blocks(self) -> list[str]:
        """Ids of the blocks whose type cannot run yet (its config's `ENABLED` is false)."""
        return [block.id for block in self.blocks if not BLOCK_TYPES[block.type].ENABLED]

    def block(self, block_id: str) -> Block:
        for block in self.blocks:
            if block.id == block_id:
                return block
        raise KeyError(block_id)
