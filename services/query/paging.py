"""List conventions of the API: `limit` + `cursor` (keyset), `page`/`page_size`, `offset`, `sort`.

A cursor holds the sort keys of the last row returned, so the next page starts right after
it however many rows were inserted meanwhile; `id` always breaks ties.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_

from contracts.errors import ErrorType, FlowledgerError

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    cursor: list[Any] | None
    sort: list[tuple[str, bool]]  # (field, descending), ending with the tie-breaking id.


def parse_sort(sort: str | None, allowed: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
    keys: list[tuple[str, bool]] = []
    for part in (sort or default).split(","):
        name = part.strip()
        if not name:
            continue
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if name not in allowed:
            raise FlowledgerError(
                ErrorType.BAD_REQUEST,
                f"cannot sort by {name!r}; sortable: {', '.join(allowed)}",
                sortable=list(allowed),
            )
        keys.append((name, descending))
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", keys[-1][1] if keys else False))
    return keys


def make_page(
    *,
    limit: int | None,
    cursor: str | None,
    page: int | None,
    page_size: int | None,
    offset: int | None,
    sort: list[tuple[str, bool]],
) -> Page:
    if cursor and (page or offset):
        raise FlowledgerError(ErrorType.BAD_REQUEST, "use either cursor, page or offset")
    size = page_size or limit or 20
    if not 1 <= size <= MAX_LIMIT:
        raise FlowledgerError(ErrorType.BAD_REQUEST, f"limit must be 1 to {MAX_LIMIT}")
    start = (page - 1) * size if page else (offset or 0)
    if start < 0:
        raise FlowledgerError(ErrorType.BAD_REQUEST, "page and offset start at 1 and 0")
    decoded = decode_cursor(cursor, len(sort)) if cursor else None
    return Page(limit=size, offset=start, cursor=decoded, sort=sort)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_cursor(cursor: str, keys: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise FlowledgerError(ErrorType.BAD_REQUEST, "malformed cursor") from exc
    if not isinstance(values, list) or len(values) != keys:
        raise FlowledgerError(ErrorType.BAD_REQUEST, "the cursor belongs to another sort")
    return values


def order_by(table: Table, page: Page) -> list[Any]:
    return [table.c[name].desc() if desc else table.c[name].asc() for name, desc in page.sort]


def after_cursor(table: Table, page: Page) -> ColumnElement[bool] | None:
    """Rows strictly after the cursor in the sort order (a lexicographic keyset condition)."""
    if page.cursor is None:
        return None
    alternatives = []
    for i, (name, desc) in enumerate(page.sort):
        equal = [table.c[n] == page.cursor[j] for j, (n, _) in enumerate(page.sort[:i])]
        column = table.c[name]
        beyond = column < page.cursor[i] if desc else column > page.cursor[i]
        alternatives.append(and_(*equal, beyond))
    return or_(*alternatives)


def next_cursor(rows: list[Any], page: Page) -> str | None:
    return encode_cursor([rows[-1][name] for name, _ in page.sort]) if rows else None
