"""The handlers of `flowledger workflows …` and `flowledger runs …`: one per sub-command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from services.client import render
from services.client.client import FlowledgerClient, StreamEnd


class BadArgument(Exception):
    """A value given on the command line that cannot be used."""


def _show(args: argparse.Namespace, data: Any, human: Callable[..., None], *extra: Any) -> None:
    """`data` as JSON with `--json`, else as `human(console, data, *extra)` renders it."""
    if not args.json:
        human(render.console(), data, *extra)
        return
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    print(json.dumps(data, indent=2), flush=True)


def _load(text: str, what: str) -> Any:
    """A JSON (or YAML) value given inline, or `@FILE`, or `-` for standard input."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = _read_file(text[1:])
    try:
        return json.loads(text)
    except ValueError as not_json:
        try:
            return yaml.safe_load(text)  # Handy for short inline values: {name: ada}
        except yaml.YAMLError:
            raise BadArgument(f"{what} is not valid JSON: {not_json}") from not_json


def _read_file(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise BadArgument(f"cannot read {path}: {exc.strerror}") from exc


def _definition(path: str) -> dict[str, Any]:
    text = _read_file(path)
    try:
        found = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadArgument(
            f"{path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(found, dict):
        raise BadArgument(f"{path}: a definition is an object (mapping)")
    return found


def _object(text: str | None, what: str) -> dict[str, Any]:
    if text is None:
        return {}
    found = _load(text, what)
    if not isinstance(found, dict):
        raise BadArgument(f"{what} must be a JSON object")
    return found


# ----- workflows -------------------------------------------------------------------------


def put_workflow(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    saved = fl.put_workflow(args.name, _definition(args.file), expected_version=args.if_match)
    _show(args, saved, render.saved)
    return 0


def list_workflows(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    items = list(fl.iter_workflows(args.name))
    _show(args, items, render.workflows)
    return 0


def get_workflow(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    found = fl.get_workflow(args.name)
    _show(args, found, render.workflow)
    return 0


def delete_workflow(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    _show(args, fl.delete_workflow(args.name), render.deleted, args.name)
    return 0


def validate(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    report = fl.validate(_definition(args.file))
    _show(args, report, render.validation)
    return 0 if report.valid else 1


# ----- runs ------------------------------------------------------------------------------


def start_run(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    metadata = {}
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep:
            raise BadArgument(f"--metadata {pair!r}: expected KEY=VALUE")
        metadata[key] = value
    accepted = fl.start_run(
        args.workflow,
        _object(args.input, "--input"),
        id=args.id,
        metadata=metadata,
        idempotency_key=args.idempotency_key,
    )
    if not args.wait:
        _show(args, accepted, render.started)
        return 0
    ended = fl.wait(accepted.id, timeout=args.timeout)
    _show(args, ended, render.run)
    return 0 if ended.status == "completed" else 1


def list_runs(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    statuses = [s for item in args.status or [] for s in item.split(",") if s] or None
    if args.all:
        items, total = list(fl.iter_runs(args.workflow, statuses)), None
    else:
        if not 1 <= args.limit <= 1000:
            raise BadArgument("--limit must be from 1 to 1000 (or use --all)")
        page = fl.list_runs(args.workflow, statuses, limit=args.limit)
        items, total = page.items, page.total
    _show(args, items, render.runs, total)
    return 0


def get_run(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    found = fl.get_run(args.id)
    _show(args, found, render.run)
    return 0


def control(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    answer = fl.control(args.id, args.action, reason=args.reason)
    _show(args, answer, render.control, args.action)
    return 0


def send_event(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    payload = None if args.payload is None else _load(args.payload, "--payload")
    answer = fl.send_event(args.id, args.type, payload)
    _show(args, answer, render.event_sent, args.type)
    return 0


def watch(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    out = render.console()
    final = None
    for item in fl.watch(args.id):
        if args.json:
            line = item.model_dump(mode="json")
            if isinstance(item, StreamEnd):
                line = {"type": "end", **line}
            print(json.dumps(line), flush=True)
        else:
            render.stream_item(out, item)
            out.file.flush()
        if isinstance(item, StreamEnd):
            final = item.status
    return 0 if final == "completed" else 1


def logs(fl: FlowledgerClient, args: argparse.Namespace) -> int:
    page = fl.logs(args.id)
    _show(args, page.items, render.logs)
    return 0
