"""Human output of the `flowledger` client commands: rich tables, one line per streamed event."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts.api import (
    BlockAttemptView,
    RunAccepted,
    RunEventView,
    RunSummary,
    RunView,
    ValidationReport,
    WorkflowSaved,
    WorkflowView,
)
from services.client.client import StreamEnd

STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "running": "cyan",
    "queued": "blue",
    "pending": "blue",
    "waiting": "yellow",
    "paused": "magenta",
    "blocked": "magenta",
    "skipped": "dim",
    "cancelled": "dim",
    "terminated": "dim",
}
ACTIVE = ("queued", "running", "waiting", "paused", "blocked")
SUMMARY_WIDTH = 100
PIPED_WIDTH = 200
# Fields of a streamed event that the line already says, or that are too big for one line.
QUIET = {"at", "tenant", "run_id", "workflow", "definition", "config", "context", "logs"}


def console() -> Console:
    # No highlighting: ids and payloads are shown as they are, never guessed at.
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPED_WIDTH  # Piped to a file or a program: no need to fold lines.
    return out


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


def text(value: Any) -> Text:
    """A cell shown literally: text from the server is never read as rich markup."""
    return Text("" if value is None else str(value))


def compact(value: Any, width: int = SUMMARY_WIDTH) -> str:
    shown = json.dumps(value, separators=(",", ":"), default=str)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def when(value: str | None) -> Text:
    """An RFC 3339 time to the second, shorter in a table (the full value is in --json)."""
    return text(value[:19].replace("T", " ") if value else "")


def duration(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.3f}s" if seconds < 10 else f"{seconds:.1f}s"


def table(*columns: str) -> Table:
    grid = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in columns:
        # Ids and names are folded, never cut: they are what the next command takes.
        grid.add_column(column, overflow="fold")
    return grid


def fields(out: Console, rows: Iterable[tuple[str, Any]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, value if isinstance(value, Text) else text(value))
    out.print(grid)


def saved(out: Console, saved: WorkflowSaved) -> None:
    if saved.created:
        what = "created"
    elif saved.changed:
        what = "saved"
    else:
        what = "unchanged at"
    out.print(Text(f"workflow {saved.name}: {what} version {saved.version}"))


def workflows(out: Console, items: list[WorkflowView]) -> None:
    grid = table("NAME", "VERSION", "ACTIVE", "COMPLETED", "FAILED", "UPDATED")
    for w in items:
        active = sum(w.run_counts.get(s, 0) for s in ACTIVE)
        counts = (active, w.run_counts.get("completed", 0), w.run_counts.get("failed", 0))
        grid.add_row(text(w.name), text(w.version), *map(text, counts), when(w.updated_at))
    out.print(grid)


def workflow(out: Console, w: WorkflowView) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in w.run_counts.items() if v) or "none"
    fields(
        out,
        [
            ("name", w.name),
            ("version", w.version),
            ("description", w.description or ""),
            ("runs", counts),
            ("created", w.created_at),
            ("updated", w.updated_at),
        ],
    )
    out.print(Text("definition", style="bold"))
    out.print_json(data=w.definition)


def started(out: Console, run: RunAccepted) -> None:
    line = Text(f"run {run.id} of {run.workflow} v{run.version}: ")
    out.print(line.append_text(status(run.status)))


def runs(out: Console, items: list[RunSummary], total: int | None) -> None:
    grid = table("ID", "WORKFLOW", "VERSION", "STATUS", "CREATED", "DURATION")
    for r in items:
        grid.add_row(
            text(r.id),
            text(r.workflow),
            text(r.version),
            status(r.status),
            when(r.created_at),
            text(duration(r.created_at, r.ended_at)),
        )
    out.print(grid)
    if total is not None and total > len(items):
        out.print(Text(f"{len(items)} of {total} runs", style="dim"))


def run(out: Console, r: RunView) -> None:
    rows: list[tuple[str, Any]] = [
        ("id", r.id),
        ("workflow", f"{r.workflow} v{r.version}"),
        ("status", status(r.status)),
        ("created", r.created_at),
        ("ended", r.ended_at or ""),
        ("duration", duration(r.created_at, r.ended_at)),
        ("input", compact(r.input)),
    ]
    if r.metadata:
        rows.append(("metadata", compact(r.metadata)))
    if r.output is not None:
        rows.append(("output", compact(r.output)))
    if r.error:
        rows.append(("error", compact(r.error)))
    fields(out, rows)
    if r.blocks:
        grid = table("BLOCK", "TYPE", "STATUS", "ATTEMPTS", "DURATION", "ERROR")
        for b in r.blocks:
            error = f"{b.error.get('type', '')}: {b.error.get('message', '')}" if b.error else ""
            grid.add_row(
                text(b.id),
                text(b.type),
                status(b.status),
                text(b.attempts),
                text(duration(b.started_at, b.ended_at)),
                text(error),
            )
        out.print(grid)


def deleted(out: Console, _: dict[str, Any], name: str) -> None:
    out.print(Text(f"workflow {name}: deleted"))


def validation(out: Console, report: ValidationReport) -> None:
    for p in report.problems:
        style = "red" if p.severity == "error" else "yellow"
        line = Text(f"{p.severity} {p.type.value}", style=style)
        out.print(line.append(f" at {p.path}: {p.message}", style=""))
    out.print(Text("valid", style="green") if report.valid else Text("invalid", style="red"))


def control(out: Console, answer: dict[str, Any], action: str) -> None:
    line = Text(f"run {answer.get('id')}: {action} accepted, now ")
    out.print(line.append_text(status(str(answer.get("status")))))


def event_sent(out: Console, answer: dict[str, Any], event_type: str) -> None:
    to = answer.get("delivered_to")
    where = f"delivered to block {to}" if to else "kept until a block waits for it"
    out.print(Text(f"run {answer.get('id')}: event {event_type} {where}"))


def stream_item(out: Console, item: RunEventView | StreamEnd) -> None:
    if isinstance(item, StreamEnd):
        out.print(Text("run ended: ").append_text(status(item.status)))
        return
    data = {k: v for k, v in item.data.items() if k not in QUIET and v is not None}
    block = data.pop("block", None)
    line = Text(f"{when(item.occurred_at)}  {item.position:>6}  ")
    line.append(item.type, style="bold")
    if block is not None:
        line.append(f"  {block}")
        if "attempt" in data:
            line.append(f"#{data.pop('attempt')}")
    if "status" in data:
        line.append("  ").append_text(status(str(data.pop("status"))))
    if data:
        line.append("  " + compact(data), style="dim")
    out.print(line)


def logs(out: Console, items: list[BlockAttemptView]) -> None:
    grid = table("BLOCK", "ATTEMPT", "STATUS", "WORKER", "STARTED", "DURATION", "LOGS")
    for a in items:
        lines = list(a.logs)
        if a.error:
            lines.append(f"{a.error.get('type', '')}: {a.error.get('message', '')}")
        grid.add_row(
            text(a.block),
            text(a.attempt),
            status(a.status),
            text(a.worker or ""),
            when(a.started_at),
            text("" if a.duration_ms is None else f"{a.duration_ms} ms"),
            text("\n".join(lines)),
        )
    out.print(grid)
