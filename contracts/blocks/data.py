"""Blocks for tabular work on rows (lists of objects): data.source, filter, aggregate, join, sort.

`rows` is a JMESPath expression over the run's context giving the rows; when omitted, the rows
are the output of the block's only need.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from contracts.blocks.base import BlockBase, BlockConfig, Strict

Column = Annotated[str, Field(min_length=1, max_length=256)]
Expression = Annotated[str, Field(min_length=1)]


class _RowsConfig(BlockConfig):
    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("rows",)
    rows: Expression | None = None


class DataSourceConfig(BlockConfig):
    """Outputs rows: the literal `rows`, or those the JMESPath `from` gives."""

    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("from",)
    rows: list[dict[str, Any]] | None = None
    from_: Expression | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _one_source(self) -> DataSourceConfig:
        if (self.rows is None) == (self.from_ is None):
            raise ValueError("give exactly one of `rows` and `from`")
        return self


class DataFilterConfig(_RowsConfig):
    """Keeps the rows for which the JMESPath `where`, evaluated on each row, is truthy."""

    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("rows", "where")
    where: Expression


class Aggregate(Strict):
    """One output column of data.aggregate: `op` over `field` in each group."""

    op: Literal["count", "sum", "avg", "min", "max", "first", "last"]
    field: Column | None = None

    @model_validator(mode="after")
    def _field_unless_count(self) -> Aggregate:
        if self.field is None and self.op != "count":
            raise ValueError(f"`{self.op}` needs a `field`")
        return self


class DataAggregateConfig(_RowsConfig):
    """Groups rows by `group_by` columns and outputs one row per group with `aggregates`."""

    group_by: list[Column] = Field(default_factory=list)
    aggregates: dict[Column, Aggregate] = Field(min_length=1)


class DataJoinConfig(BlockConfig):
    """Joins the rows of JMESPath `left` and `right` on equal `on` columns (`how`: inner…)."""

    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("left", "right")
    left: Expression
    right: Expression
    on: list[Column] = Field(min_length=1)
    how: Literal["inner", "left", "right", "outer"] = "inner"


class DataSortConfig(_RowsConfig):
    """Sorts rows by the `by` columns, ascending unless `descending`."""

    by: list[Column] = Field(min_length=1)
    descending: bool = False


class DataSourceBlock(BlockBase):
    type: Literal["data.source"]
    config: DataSourceConfig


class DataFilterBlock(BlockBase):
    type: Literal["data.filter"]
    config: DataFilterConfig


class DataAggregateBlock(BlockBase):
    type: Literal["data.aggregate"]
    config: DataAggregateConfig


class DataJoinBlock(BlockBase):
    type: Literal["data.join"]
    config: DataJoinConfig


class DataSortBlock(BlockBase):
    type: Literal["data.sort"]
    config: DataSortConfig
