"""Blocks for tabular work on rows (lists of objects): data.source, filter, aggregate, join, sort.

`rows` is a JMESPath expression over the run's context giving the rows; when omitted, the rows
are the output of the block's only need (with no or several needs, the block fails with
INVALID_CONFIG). Each block outputs its rows as a list of objects.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from contracts.blocks.base import BlockBase, BlockConfig, Strict

Column = Annotated[str, Field(min_length=1, max_length=256)]
Expression = Annotated[str, Field(min_length=1)]


class _RowsConfig(BlockConfig):
    PURE: ClassVar[bool] = True
    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("rows",)
    rows: Expression | None = None


class DataSourceConfig(BlockConfig):
    """Outputs rows: the literal `rows`, or those the JMESPath `from` gives.

    The output is the list of rows itself; `from` giving anything but a list of objects
    fails with INVALID_ROWS.
    """

    ENABLED: ClassVar[bool] = True
    PURE: ClassVar[bool] = True
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
    """Keeps the rows for which the JMESPath `where`, evaluated on each row, is truthy.

    `where` sees the row alone, e.g. `price > `10``; truthy as in JMESPath (0 is true).
    """

    ENABLED: ClassVar[bool] = True
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
    """Groups rows by `group_by` columns and outputs one row per group with `aggregates`.

    As in SQL: groups in order of first appearance; no `group_by` gives exactly one row,
    even from no rows. `count` counts rows (with a `field`: its non-null values); `sum`,
    `avg`, `min`, `max` skip nulls and give null when none is left; `first`/`last` take the
    field of the group's first/last row. `sum`/`avg` need numbers, `min`/`max` one kind of
    value; anything else fails with INVALID_ROWS.
    """

    ENABLED: ClassVar[bool] = True
    group_by: list[Column] = Field(default_factory=list)
    aggregates: dict[Column, Aggregate] = Field(min_length=1)


class DataJoinConfig(BlockConfig):
    """Joins the rows of JMESPath `left` and `right` on equal `on` columns (`how`: inner…).

    As in SQL: `left`, `right` and `outer` keep that side's unmatched rows, with null in
    the other side's columns; a null `on` value matches nothing. A matched pair is one row,
    the right's value winning a column both have. Order: left rows in order, each with its
    matches in right order, then (right, outer) the unmatched right rows.
    """

    ENABLED: ClassVar[bool] = True
    NEEDS_CONTEXT: ClassVar[bool] = True
    EXPRESSION_FIELDS: ClassVar[tuple[str, ...]] = ("left", "right")
    left: Expression
    right: Expression
    on: list[Column] = Field(min_length=1)
    how: Literal["inner", "left", "right", "outer"] = "inner"


class DataSortConfig(_RowsConfig):
    """Sorts rows by the `by` columns, ascending unless `descending`.

    Stable; `descending` applies to every column; null or missing values sort last either
    way. A column mixing numbers, strings and booleans fails with INVALID_ROWS.
    """

    ENABLED: ClassVar[bool] = True
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
