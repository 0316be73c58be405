"""Say a process is ready: `flowledger dev` (and the tests) wait for this file."""

from __future__ import annotations

import os
from pathlib import Path

READY_FILE_ENV = "FL_READY_FILE"


def write_whole(path: Path, text: str) -> None:
    """Write a file that others poll for: they see it whole or not at all (a plain
    write lets a reader find it there but still empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def mark_ready(detail: str | None = None) -> None:
    """Write the ready file named by FL_READY_FILE (the query service writes its port)."""
    path = os.environ.get(READY_FILE_ENV)
    if path:
        write_whole(Path(path), detail if detail is not None else str(os.getpid()))


def clear_ready() -> None:
    """At start: a ready file left by an earlier run of this container must not count."""
    path = os.environ.get(READY_FILE_ENV)
    if path:
        Path(path).unlink(missing_ok=True)
