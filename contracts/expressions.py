"""The expression rules of definitions (API.md): JMESPath over the run's context.

A string that is wholly `${expr}` becomes the expression's value, keeping its type;
`${expr}` inside a longer string is interpolated as text. Never `eval`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

_WHOLE = re.compile(r"^\$\{([^{}]+)\}$")
_INNER = re.compile(r"\$\{([^{}]+)\}")


class ExpressionError(ValueError):
    """An expression that does not compile or cannot be evaluated."""


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> ParsedResult:
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise ExpressionError(f"bad expression {expression!r}: {exc}") from exc


# One interpreter for every evaluation: `ParsedResult.search` builds a new one per call,
# and an interpreter is a reference cycle (it caches its own bound methods). Six objects
# of cyclic garbage per evaluation made the command service's young collections take
# 20-30 ms every couple of seconds: its p99 latency. The interpreter keeps no state
# between evaluations but that cache of its own methods.
_INTERPRETER = TreeInterpreter()


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    try:
        return _INTERPRETER.visit(compile_expression(expression.strip()).parsed, context)
    except JMESPathError as exc:
        raise ExpressionError(f"cannot evaluate {expression!r}: {exc}") from exc


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def resolve(value: Any, context: dict[str, Any]) -> Any:
    """Resolve every `${…}` in a config value, recursively through lists and objects."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return evaluate(whole.group(1), context)
        if "${" in value:
            return _INNER.sub(lambda m: _as_text(evaluate(m.group(1), context)), value)
        return value
    if isinstance(value, dict):
        return {key: resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context) for item in value]
    return value


def references_context(value: Any) -> bool:
    """Whether a config value holds any `${…}` (so it must be resolved at schedule time)."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(references_context(item) for item in value.values())
    if isinstance(value, list):
        return any(references_context(item) for item in value)
    return False
