"""Small builders of definitions and commands shared by tests."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from contracts.definitions import WorkflowDefinition
from contracts.ids import pack


def diamond(sleep_seconds: float = 1.0) -> dict[str, Any]:
    """4 blocks: a set, then a sleep and a transform in parallel, joined by a noop."""
    return {
        "blocks": [
            {"id": "prepare", "type": "set", "config": {"values": {"n": "${input.n}"}}},
            {
                "id": "nap",
                "type": "sleep",
                "needs": ["prepare"],
                "config": {"seconds": sleep_seconds},
            },
            {
                "id": "double",
                "type": "transform",
                "needs": ["prepare"],
                "config": {"expression": "blocks.prepare.output.n"},
            },
            {
                "id": "join",
                "type": "set",
                "needs": ["nap", "double"],
                "config": {"values": {"n": "${blocks.double.output}"}},
            },
        ]
    }


def definition(raw: dict[str, Any]) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(raw)


def uuid7_hex(moment: datetime) -> str:
    """A UUIDv7 of a given time, in hex: as the command service gives run ids."""
    ms = int(moment.timestamp() * 1000)
    return f"{pack(ms, secrets.randbits(41), secrets.randbits(32)):032x}"
