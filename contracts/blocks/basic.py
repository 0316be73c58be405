"""Blocks that shape data or end a branch, without I/O: noop, fail, set, log, transform, code."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from contracts.blocks.base import BlockBase, BlockConfig, Execution


class NoopConfig(BlockConfig):
    """Does nothing; completes at once."""

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True


class FailConfig(BlockConfig):
    """Fails the block with a message and an error type."""

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True
    message: str = "failed by a fail block"
    error_type: str = "FAILED"


class SetConfig(BlockConfig):
    """Outputs `values`, with `${…}` expressions resolved."""

    ENABLED: ClassVar[bool] = True
    PURE: ClassVar[bool] = True
    values: dict[str, Any]


class LogConfig(BlockConfig):
    """Writes `message` (with `${…}` resolved) to the run's log at `level`.

    The message becomes one line of the block's log; the output is `{"level", "message"}`.
    """

    ENABLED: ClassVar[bool] = True
    PURE: ClassVar[bool] = True
    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


class TransformConfig(BlockConfig):
    """Outputs the JMESPath `expression` evaluated over the run's context."""

    ENABLED: ClassVar[bool] = True
    PURE: ClassVar[bool] = True
    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("expression",)
    expression: str = Field(min_length=1)


class CodeConfig(BlockConfig):
    """Calls `handler`, a function registered by user code in a worker, with `args`."""

    handler: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    args: dict[str, Any] = Field(default_factory=dict)


class NoopBlock(BlockBase):
    type: Literal["noop"]
    config: NoopConfig = Field(default_factory=NoopConfig)


class FailBlock(BlockBase):
    type: Literal["fail"]
    config: FailConfig = Field(default_factory=FailConfig)


class SetBlock(BlockBase):
    type: Literal["set"]
    config: SetConfig


class LogBlock(BlockBase):
    type: Literal["log"]
    config: LogConfig


class TransformBlock(BlockBase):
    type: Literal["transform"]
    config: TransformConfig


class CodeBlock(BlockBase):
    type: Literal["code"]
    config: CodeConfig
