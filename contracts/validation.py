"""Validation of a workflow definition: every problem at once, each with block id, path and type.

`validate_definition` parses block by block, so one bad block hides no other problem, and
reports problems of these stable types:

- INVALID_FIELD: a run-level or block field (not `config`) of the wrong shape; unknown fields.
- TOO_MANY_BLOCKS: over `MAX_BLOCKS`; the blocks are then not checked one by one.
- UNKNOWN_TYPE: a block `type` not in the catalogue.
- INVALID_CONFIG: a `config` its type's model rejects.
- DUPLICATE_ID: a block id used twice (reported at the second use).
- UNKNOWN_NEEDS: a `needs` entry naming no block.
- CYCLE: blocks that need each other; one problem per cycle, naming its blocks in order.
- BAD_TARGET: a condition's or switch's branch naming a block that does not need it.
- BAD_EXPRESSION: a JMESPath that does not compile: a type's bare expression field
  (transform `expression`, condition `if`, switch `value`, for_each `items`, data.* `rows`,
  `where`, `from`, `left`, `right`) or any `${…}` in any config or in `output`.
- BAD_INPUT_SCHEMA: an `input_schema` that is not a valid JSON Schema (its `$schema`'s draft,
  2020-12 by default).
- UNREACHABLE (a warning): a block that can never start, whatever its needs' outcomes — see
  `contracts.graph.never_run`; e.g. a block needing a `fail` block under `all_success`, or a
  successor of a condition that no branch names. Checked only once the graph is well formed
  (no duplicate id, unknown need or cycle).

Everything but UNREACHABLE is an error. `WorkflowDefinition.model_validate` rejects the same
errors except BAD_EXPRESSION: a definition pinned by a run before this check existed must
still load, and an expression that fails at run time fails its block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from jsonschema import Draft202012Validator, validators
from pydantic import BaseModel, Field, ValidationError

from contracts.blocks import BLOCK_MODELS, BLOCK_TYPES
from contracts.blocks.base import BlockBase, BlockConfig, Trigger, is_template
from contracts.definitions import MAX_BLOCKS, DefinitionFields, WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError
from contracts.expressions import _INNER as TEMPLATE
from contracts.expressions import ExpressionError, compile_expression
from contracts.graph import GraphNode, find_cycles, never_run

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProblemType(StrEnum):
    """The stable kinds of problem; clients may branch on them."""

    DUPLICATE_ID = "DUPLICATE_ID"
    UNKNOWN_NEEDS = "UNKNOWN_NEEDS"
    CYCLE = "CYCLE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    INVALID_CONFIG = "INVALID_CONFIG"
    UNREACHABLE = "UNREACHABLE"
    BAD_EXPRESSION = "BAD_EXPRESSION"
    BAD_TARGET = "BAD_TARGET"
    BAD_INPUT_SCHEMA = "BAD_INPUT_SCHEMA"
    TOO_MANY_BLOCKS = "TOO_MANY_BLOCKS"
    INVALID_FIELD = "INVALID_FIELD"


class Problem(BaseModel):
    """One problem in a definition: where (block id, JSON path), what (type), and why."""

    block_id: str | None = None
    path: str
    type: ProblemType
    message: str
    severity: Literal["error", "warning"] = "error"
    # The blocks concerned, in order: for a CYCLE, the blocks on it in execution order.
    blocks: list[str] = Field(default_factory=list)


class DefinitionInvalid(ValueError):
    """A definition with at least one error; `problems` holds every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        first = f": {errors[0].path or 'definition'}: {errors[0].message}" if errors else ""
        super().__init__(f"invalid workflow definition, {len(errors)} error(s){first}")

    def error(self) -> FlowledgerError:
        """The API's VALIDATION_ERROR, with every problem in `details.problems`."""
        return FlowledgerError(
            ErrorType.VALIDATION_ERROR,
            str(self),
            problems=[p.model_dump(mode="json") for p in self.problems],
        )


def parse_definition(raw: Any) -> WorkflowDefinition:
    """The definition, or DefinitionInvalid carrying every problem (warnings do not raise)."""
    problems = validate_definition(raw)
    if any(p.severity == "error" for p in problems):
        raise DefinitionInvalid(problems)
    try:
        return WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:  # pragma: no cover - validate_definition is the stricter
        raise DefinitionInvalid(
            [*problems, *_from_pydantic(exc, (), None, ProblemType.INVALID_FIELD)]
        ) from exc


def _problem(
    kind: ProblemType, at: tuple[str | int, ...], message: str, block_id: str | None = None
) -> Problem:
    return Problem(block_id=block_id, path=json_path(*at), type=kind, message=message)


def json_path(*parts: str | int) -> str:
    """`("blocks", 2, "config", "if")` -> `blocks[2].config.if`; odd keys as `["a b"]`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


@dataclass
class _Entry:
    """One block as far as it could be read: its graph facts, its model if it parsed."""

    index: int
    node: GraphNode | None
    need_slots: tuple[int, ...] = ()  # each need's index in the raw `needs`
    type: str | None = None  # when known
    config: BlockConfig | None = None  # when the block parsed and its type is known
    problems: list[Problem] = field(default_factory=list)


def validate_definition(raw: Any) -> list[Problem]:
    """Every problem of a definition as sent (parsed JSON or YAML); [] when it is valid."""
    if not isinstance(raw, dict):
        return [_problem(ProblemType.INVALID_FIELD, (), "must be an object")]
    problems = _field_problems(raw)
    blocks = raw.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        message = "must be a non-empty list of blocks"
        return [*problems, _problem(ProblemType.INVALID_FIELD, ("blocks",), message)]
    if len(blocks) > MAX_BLOCKS:
        message = f"{len(blocks)} blocks, over the limit of {MAX_BLOCKS}"
        return [*problems, _problem(ProblemType.TOO_MANY_BLOCKS, ("blocks",), message)]
    entries = [_read_block(index, block) for index, block in enumerate(blocks)]
    for entry in entries:
        problems.extend(entry.problems)
    graph = _graph_problems(entries)
    problems.extend(graph)
    problems.extend(_expression_problems(raw, blocks, entries))
    if not any(p.type in _MALFORMED_GRAPH for p in graph):
        problems.extend(_unreachable(entries))
    return problems


def structural_problems(definition: WorkflowDefinition) -> list[Problem]:
    """The graph and input-schema errors of a parsed definition (what its model rejects)."""
    entries = [
        _Entry(
            index=index,
            node=_node(block.id, block.type, block.needs, block.trigger, block.config),
            need_slots=tuple(range(len(block.needs))),
            type=block.type,
            config=block.config,
        )
        for index, block in enumerate(definition.blocks)
    ]
    problems = _graph_problems(entries)
    if definition.input_schema is not None:
        problems.extend(_input_schema_problems(definition.input_schema))
    return problems


# ----- fields and blocks, one by one ---------------------------------------------------------


def _field_problems(raw: dict[str, Any]) -> list[Problem]:
    fields = {key: value for key, value in raw.items() if key != "blocks"}
    problems = []
    try:
        DefinitionFields.model_validate(fields)
    except ValidationError as exc:
        problems = _from_pydantic(exc, (), None, ProblemType.INVALID_FIELD)
        for problem in problems:
            if problem.path.startswith("input_schema"):
                problem.type = ProblemType.BAD_INPUT_SCHEMA
    schema = raw.get("input_schema")
    if isinstance(schema, dict):
        problems.extend(_input_schema_problems(schema))
    return problems


def _input_schema_problems(schema: dict[str, Any]) -> list[Problem]:
    validator = validators.validator_for(schema, default=Draft202012Validator)
    dialect = schema.get("$schema")
    if dialect is not None and validators.validator_for(schema, default=None) is None:  # type: ignore[arg-type]
        message = f"unknown JSON Schema dialect {dialect!r}"
        return [_problem(ProblemType.BAD_INPUT_SCHEMA, ("input_schema", "$schema"), message)]
    errors = validator(validator.META_SCHEMA).iter_errors(schema)
    return [
        _problem(
            ProblemType.BAD_INPUT_SCHEMA, ("input_schema", *error.absolute_path), error.message
        )
        for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
    ]


class _AnyTypeBlock(BlockBase):
    """A block of an unknown type: its common fields can still be checked."""

    type: Any
    config: Any = None


def _read_block(index: int, raw: Any) -> _Entry:
    if not isinstance(raw, dict):
        problem = _problem(ProblemType.INVALID_FIELD, ("blocks", index), "must be an object")
        return _Entry(index=index, node=None, problems=[problem])
    block_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    raw_needs = raw.get("needs", [])
    slots = tuple(
        slot
        for slot, need in enumerate(raw_needs if isinstance(raw_needs, list) else [])
        if isinstance(need, str)
    )
    needs = [raw_needs[slot] for slot in slots]
    try:
        trigger = Trigger(raw.get("trigger", Trigger.ALL_SUCCESS))
    except ValueError:
        trigger = Trigger.ALL_SUCCESS
    block_type = raw.get("type")
    model = BLOCK_MODELS.get(block_type) if isinstance(block_type, str) else None
    problems: list[Problem] = []
    at_type = ("blocks", index, "type")
    if model is None and isinstance(block_type, str):
        message = f"unknown block type {block_type!r}; known: {', '.join(BLOCK_MODELS)}"
        problems.append(_problem(ProblemType.UNKNOWN_TYPE, at_type, message, block_id))
    elif "type" in raw and not isinstance(block_type, str):
        problems.append(_problem(ProblemType.INVALID_FIELD, at_type, "must be a string", block_id))
    config: BlockConfig | None = None
    try:
        block = (model or _AnyTypeBlock).model_validate(raw)
    except ValidationError as exc:
        problems.extend(_from_pydantic(exc, ("blocks", index), block_id, None))
    else:
        # An unknown type's config stays raw: only a known type's is a BlockConfig.
        parsed = getattr(block, "config", None)
        config = parsed if isinstance(parsed, BlockConfig) else None
    known = block_type if model is not None else None
    node = _node(block_id, known, needs, trigger, config)
    return _Entry(index, node, slots, type=known, config=config, problems=problems)


def _node(
    block_id: str | None,
    block_type: str | None,
    needs: Sequence[str],
    trigger: Trigger,
    config: BlockConfig | None,
) -> GraphNode | None:
    if block_id is None:
        return None
    branches = config.branches() if config is not None else None
    return GraphNode(
        id=block_id,
        type=block_type,
        needs=tuple(needs),
        trigger=trigger,
        branches=tuple(branches) if branches is not None else None,
    )


def _from_pydantic(
    exc: ValidationError,
    prefix: tuple[str | int, ...],
    block_id: str | None,
    kind: ProblemType | None,
) -> list[Problem]:
    """One problem per pydantic error; under a block, `config` errors are INVALID_CONFIG."""
    problems = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = tuple(error["loc"])
        if kind is None:
            in_config = bool(loc) and loc[0] == "config"
            kind_here = ProblemType.INVALID_CONFIG if in_config else ProblemType.INVALID_FIELD
        else:
            kind_here = kind
        message = error["msg"].removeprefix("Value error, ")
        problems.append(_problem(kind_here, (*prefix, *loc), message, block_id))
    return problems


# ----- the graph -------------------------------------------------------------------------------

_MALFORMED_GRAPH = frozenset(
    {ProblemType.DUPLICATE_ID, ProblemType.UNKNOWN_NEEDS, ProblemType.CYCLE}
)


def _graph_problems(entries: Sequence[_Entry]) -> list[Problem]:
    """Duplicate ids, unknown needs, cycles and bad branch targets."""
    problems: list[Problem] = []
    first: dict[str, _Entry] = {}
    for entry in entries:
        if entry.node is None:
            continue
        block_id = entry.node.id
        if block_id in first:
            message = f"id {block_id!r} is already used by blocks[{first[block_id].index}]"
            at = ("blocks", entry.index, "id")
            problems.append(_problem(ProblemType.DUPLICATE_ID, at, message, block_id))
        else:
            first[block_id] = entry
    for entry in entries:
        if entry.node is None:
            continue
        for need, slot in zip(entry.node.needs, entry.need_slots, strict=True):
            if need not in first:
                message = f"needs {need!r}, which is no block of this definition"
                slot_at = ("blocks", entry.index, "needs", slot)
                problems.append(
                    _problem(ProblemType.UNKNOWN_NEEDS, slot_at, message, entry.node.id)
                )
    problems.extend(_cycle_problems(first))
    problems.extend(_target_problems(first))
    return problems


def _cycle_problems(entries: dict[str, _Entry]) -> list[Problem]:
    needs = {block_id: e.node.needs for block_id, e in entries.items() if e.node is not None}
    problems = []
    for cycle in find_cycles(needs):
        head = entries[cycle[0]]
        assert head.node is not None
        closing = head.node.needs.index(cycle[-1])
        if len(cycle) == 1:
            message = f"block {cycle[0]!r} needs itself"
        else:
            message = "blocks form a cycle: " + " -> ".join([*cycle, cycle[0]])
        at = ("blocks", head.index, "needs", head.need_slots[closing])
        problem = _problem(ProblemType.CYCLE, at, message, cycle[0])
        problems.append(problem.model_copy(update={"blocks": cycle}))
    return problems


def _target_problems(entries: dict[str, _Entry]) -> list[Problem]:
    successors: dict[str, set[str]] = {block_id: set() for block_id in entries}
    for block_id, entry in entries.items():
        for need in entry.node.needs if entry.node else ():
            if need in successors:
                successors[need].add(block_id)
    problems = []
    for block_id, entry in entries.items():
        branches = entry.node.branches if entry.node is not None else None
        for branch in branches or ():
            for position, target in enumerate(branch.ids):
                if target not in entries:
                    why = f"chooses {target!r}, which is no block of this definition"
                elif target not in successors[block_id]:
                    why = f"chooses {target!r}, which does not need {block_id!r}"
                else:
                    continue
                at: tuple[str | int, ...] = (
                    "blocks",
                    entry.index,
                    "config",
                    *branch.path,
                    position,
                )
                problems.append(_problem(ProblemType.BAD_TARGET, at, why, block_id))
    return problems


def _unreachable(entries: Sequence[_Entry]) -> list[Problem]:
    located = {e.node.id: e for e in entries if e.node is not None}
    dead = never_run([e.node for e in located.values() if e.node is not None])
    return [
        _problem(
            ProblemType.UNREACHABLE, ("blocks", located[block_id].index), why, block_id
        ).model_copy(update={"severity": "warning"})
        for block_id, why in dead.items()
    ]


# ----- expressions -----------------------------------------------------------------------------


def _expression_problems(
    raw: dict[str, Any], blocks: list[Any], entries: Sequence[_Entry]
) -> list[Problem]:
    problems = []
    for entry, raw_block in zip(entries, blocks, strict=True):
        config = raw_block.get("config") if isinstance(raw_block, dict) else None
        if not isinstance(config, dict):
            continue
        block_id = entry.node.id if entry.node else None
        prefix = ("blocks", entry.index, "config")
        # Checked even when the rest of the config is invalid, to report every problem.
        bare = BLOCK_TYPES[entry.type].EXPRESSION_FIELDS if entry.type is not None else ()
        for name in bare:
            value = config.get(name)
            if isinstance(value, str) and not is_template(value):
                problems.extend(_compile(value, (*prefix, name), block_id))
        for path, text in _strings(config, prefix):
            for match in TEMPLATE.finditer(text):
                problems.extend(_compile(match.group(1), path, block_id))
    for path, text in _strings(raw.get("output"), ("output",)):
        for match in TEMPLATE.finditer(text):
            problems.extend(_compile(match.group(1), path, None))
    return problems


def _strings(
    value: Any, path: tuple[str | int, ...]
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every string inside a JSON value, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings(item, (*path, position))


def _compile(expression: str, path: tuple[str | int, ...], block_id: str | None) -> list[Problem]:
    try:
        compile_expression(expression.strip())
    except ExpressionError as exc:
        return [_problem(ProblemType.BAD_EXPRESSION, path, str(exc), block_id)]
    return []
