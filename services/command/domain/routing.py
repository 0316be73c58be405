"""Routing blocks (condition, switch): which successors they choose, and which they veto.

A router's choice is its output, recorded in its `BlockCompleted`:
condition `{"branch": "then" | "else", "chosen": [...]}`, switch `{"branch": "case" |
"default", "case": <key> | null, "value": <value>, "chosen": [...]}`. The vetoes are derived
from those recorded outputs, never by evaluating again, so a run rebuilt from its events
decides exactly as the original did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from contracts.blocks.flow import ConditionConfig, SwitchConfig
from contracts.definitions import WorkflowDefinition
from contracts.expressions import evaluate
from services.command.domain.scheduling import COMPLETED

ROUTERS = frozenset({"condition", "switch"})


def truthy(value: Any) -> bool:
    """JMESPath truth: false, null, "", [] and {} are false; everything else (0 too) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def as_text(value: Any) -> str:
    """How a switch compares its value with case keys: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def route_condition(config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Evaluate `if`; raises ExpressionError when it does not compile or evaluate."""
    condition = ConditionConfig.model_validate(config)
    if truthy(evaluate(condition.if_, context)):
        return {"branch": "then", "chosen": list(condition.then)}
    return {"branch": "else", "chosen": list(condition.else_)}


def route_switch(config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Evaluate `value`, pick the case whose key equals it as text, else `default`."""
    switch = SwitchConfig.model_validate(config)
    value = evaluate(switch.value, context)
    key = as_text(value)
    if key in switch.cases:
        return {"branch": "case", "case": key, "value": value, "chosen": switch.cases[key]}
    return {"branch": "default", "case": None, "value": value, "chosen": list(switch.default)}


def route(block_type: str, config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    if block_type == "condition":
        return route_condition(config, context)
    return route_switch(config, context)


def vetoes(
    definition: WorkflowDefinition, blocks: Mapping[str, Mapping[str, Any]]
) -> frozenset[tuple[str, str]]:
    """(router, successor) pairs: a completed router's successors that it did not choose.

    A successor is a block that needs the router; one that no branch names is never chosen.
    """
    routers = {b.id for b in definition.blocks if b.type in ROUTERS}
    pairs = set()
    for block in definition.blocks:
        for need in block.needs:
            if need not in routers or blocks[need]["status"] != COMPLETED:
                continue
            output = blocks[need]["output"]
            chosen = output.get("chosen", []) if isinstance(output, dict) else []
            if block.id not in chosen:
                pairs.add((need, block.id))
    return frozenset(pairs)
