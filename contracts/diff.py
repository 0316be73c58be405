"""The difference between two definitions: blocks added, removed and changed, as JSON Patch.

Patches are RFC 6902, made by `jsonpatch`: a block's patch has paths relative to the block
(`/config/seconds`), the whole patch turns the old definition into the new one.
"""

from __future__ import annotations

from typing import Any

import jsonpatch


def diff_definitions(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`{"added": [ids], "removed": [ids], "changed": [{"id", "patch"}], "patch": [ops]}`.

    Blocks are matched by id; `added` is in the new definition's order, `removed` and
    `changed` in the old one's. A block that only moved in the list is not `changed`
    (the whole `patch` still records the move).
    """
    before = _blocks_by_id(old)
    after = _blocks_by_id(new)
    changed = [
        {"id": block_id, "patch": jsonpatch.make_patch(block, after[block_id]).patch}
        for block_id, block in before.items()
        if block_id in after and block != after[block_id]
    ]
    return {
        "added": [block_id for block_id in after if block_id not in before],
        "removed": [block_id for block_id in before if block_id not in after],
        "changed": changed,
        "patch": jsonpatch.make_patch(old, new).patch,
    }


def apply_patch(document: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """`document` with an RFC 6902 `patch` applied; the input is left unchanged."""
    result: dict[str, Any] = jsonpatch.apply_patch(document, patch)
    return result


def _blocks_by_id(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = definition.get("blocks") or []
    by_id: dict[str, dict[str, Any]] = {}
    for block in blocks:
        if isinstance(block, dict) and isinstance(block.get("id"), str):
            by_id.setdefault(block["id"], block)
    return by_id
