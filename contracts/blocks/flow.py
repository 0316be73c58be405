"""Blocks that route or fan out: condition, switch, parallel, for_each, sub_workflow."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from contracts.blocks.base import (
    NAME_PATTERN,
    BlockBase,
    BlockConfig,
    Branch,
    Execution,
    Strict,
)

# Types that route between blocks of the graph, which makes no sense as a loop's body.
NOT_A_BODY = frozenset({"condition", "switch", "parallel"})


class ConditionConfig(BlockConfig):
    """Chooses the `then` successors if the JMESPath `if` is truthy, else the `else` ones.

    Truthy as in JMESPath: false, null, "", [] and {} are false; 0 is true. The output,
    `{"branch": "then" | "else", "chosen": [...]}`, records the choice. Every block needing
    this one that the chosen branch does not name ends skipped, whatever its trigger.
    """

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("if",)
    if_: str = Field(alias="if", min_length=1)
    then: list[str] = Field(default_factory=list)
    else_: list[str] = Field(alias="else", default_factory=list)

    def branches(self) -> list[Branch]:
        return [
            Branch("then", None, ("then",), self.then),
            Branch("else", None, ("else",), self.else_),
        ]


class SwitchConfig(BlockConfig):
    """Chooses the successors of the case whose key equals the JMESPath `value` (as text).

    As text: a string as it is, anything else as compact JSON (`1`, `true`, `null`). With
    no such case, `default`. The output, `{"branch": "case" | "default", "case": <key> |
    null, "value": <value>, "chosen": [...]}`, records the choice; the blocks needing this
    one that it does not choose end skipped, whatever their trigger.
    """

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("value",)
    value: str = Field(min_length=1)
    cases: dict[str, list[str]] = Field(min_length=1)
    default: list[str] = Field(default_factory=list)

    def branches(self) -> list[Branch]:
        cases = [Branch("case", key, ("cases", key), ids) for key, ids in self.cases.items()]
        return [*cases, Branch("case", None, ("default",), self.default)]


class ParallelConfig(BlockConfig):
    """Marks a fan-out: completes at once so the blocks that need it start together."""

    EXECUTION: ClassVar[Execution] = Execution.INLINE
    ENABLED: ClassVar[bool] = True


class ForEachBody(Strict):
    """The block run once per item: a type and its config (`${item}`, `${index}` allowed)."""

    type: str
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_type_and_config(self) -> ForEachBody:
        # The registry imports this module, so it is looked up when a body is checked.
        from contracts.blocks import BLOCK_TYPES

        config_type = BLOCK_TYPES.get(self.type)
        if config_type is None or self.type in NOT_A_BODY:
            allowed = ", ".join(sorted(set(BLOCK_TYPES) - NOT_A_BODY))
            raise ValueError(f"a loop body's type is one of {allowed}, not {self.type!r}")
        try:
            config_type.model_validate(self.config)
        except ValidationError as exc:
            details = "; ".join(
                ".".join(str(part) for part in ("config", *error["loc"])) + ": " + error["msg"]
                for error in exc.errors(include_url=False)
            )
            raise ValueError(f"invalid {self.type} body: {details}") from None
        return self


class ForEachConfig(BlockConfig):
    """Runs `block` once per element of the JMESPath `items`, at most `max_concurrency` at once."""

    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("items",)
    items: str = Field(min_length=1)
    block: ForEachBody
    max_concurrency: int = Field(default=10, ge=1, le=1000)


class SubWorkflowConfig(BlockConfig):
    """Starts a run of `workflow` with `input`; with `wait`, outputs that run's output."""

    workflow: str = Field(pattern=NAME_PATTERN)
    input: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


class ConditionBlock(BlockBase):
    type: Literal["condition"]
    config: ConditionConfig


class SwitchBlock(BlockBase):
    type: Literal["switch"]
    config: SwitchConfig


class ParallelBlock(BlockBase):
    type: Literal["parallel"]
    config: ParallelConfig = Field(default_factory=ParallelConfig)


class ForEachBlock(BlockBase):
    type: Literal["for_each"]
    config: ForEachConfig


class SubWorkflowBlock(BlockBase):
    type: Literal["sub_workflow"]
    config: SubWorkflowConfig
