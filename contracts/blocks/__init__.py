"""The block catalogue: every block type, its config model and the `Block` union over them.

Adding a type: its config and block models in the module of its family, and one line in
`Block` below.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import Field

from contracts.blocks.base import BlockBase, BlockConfig, Execution
from contracts.blocks.basic import (
    CodeBlock,
    FailBlock,
    LogBlock,
    NoopBlock,
    SetBlock,
    TransformBlock,
)
from contracts.blocks.data import (
    DataAggregateBlock,
    DataFilterBlock,
    DataJoinBlock,
    DataSortBlock,
    DataSourceBlock,
)
from contracts.blocks.external import EmitEventBlock, HttpBlock, WebhookBlock
from contracts.blocks.flow import (
    ConditionBlock,
    ForEachBlock,
    ParallelBlock,
    SubWorkflowBlock,
    SwitchBlock,
)
from contracts.blocks.timing import ApprovalBlock, SleepBlock, SleepUntilBlock, WaitForEventBlock

Block = Annotated[
    HttpBlock
    | TransformBlock
    | CodeBlock
    | SleepBlock
    | SleepUntilBlock
    | WaitForEventBlock
    | ApprovalBlock
    | ConditionBlock
    | SwitchBlock
    | ForEachBlock
    | ParallelBlock
    | SubWorkflowBlock
    | EmitEventBlock
    | WebhookBlock
    | SetBlock
    | LogBlock
    | FailBlock
    | NoopBlock
    | DataSourceBlock
    | DataFilterBlock
    | DataAggregateBlock
    | DataJoinBlock
    | DataSortBlock,
    Field(discriminator="type"),
]


def _type_name(model: type[BlockBase]) -> str:
    (name,) = get_args(model.model_fields["type"].annotation)
    return str(name)


def _config_type(model: type[BlockBase]) -> type[BlockConfig]:
    config: type[BlockConfig] = model.model_fields["config"].annotation  # type: ignore[assignment]
    return config


# Block type name -> its block model, and -> its config model; in the order of `Block`.
BLOCK_MODELS: dict[str, type[BlockBase]] = {
    _type_name(model): model for model in get_args(get_args(Block)[0])
}
BLOCK_TYPES: dict[str, type[BlockConfig]] = {
    name: _config_type(model) for name, model in BLOCK_MODELS.items()
}


def execution_of(block_type: str) -> Execution:
    """Who settles a block of this type: inline, timer or task."""
    return BLOCK_TYPES[block_type].EXECUTION


def needs_context(block_type: str) -> bool:
    """Whether a worker executing this type needs the run's context."""
    return BLOCK_TYPES[block_type].NEEDS_CONTEXT


def is_pure(block_type: str) -> bool:
    """Whether a worker may run this type without claiming the attempt first."""
    return BLOCK_TYPES[block_type].PURE


def describe(config: type[BlockConfig]) -> str:
    """The one-line description of a block type: its config's docstring's first line."""
    return (config.__doc__ or "").strip().splitlines()[0]


def block_types_catalogue() -> list[dict[str, Any]]:
    """`GET /v1/block-types`: every type with its description, status and config schema."""
    return [
        {
            "type": name,
            "description": describe(config),
            "enabled": config.ENABLED,
            "execution": config.EXECUTION.value,
            "config_schema": config.model_json_schema(),
        }
        for name, config in sorted(BLOCK_TYPES.items())
    ]
