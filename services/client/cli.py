"""`flowledger workflows …` and `flowledger runs …`: the REST API from a shell.

Human tables by default, `--json` for scripts. An error prints its type and message on
stderr and exits 1; so do `runs start --wait` and `runs watch` when the run did not complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.client import commands
from services.client.client import FlowledgerClient
from services.client.errors import FlowledgerAPIError, FlowledgerClientError
from services.client.runs import CONTROLS
from services.client.transport import DEFAULT_URL

Handler = Callable[[FlowledgerClient, argparse.Namespace], int]


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Accepted before the sub-command and after it; a value after it wins."""
    # On the sub-commands, SUPPRESS keeps an absent option from hiding one given before.
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--url",
        default=default,
        help="server URL (default: $FL_URL, else the url in $FL_HOME/dev.json, "
        f"else {DEFAULT_URL})",
    )
    group.add_argument("--api-key", default=default, help="API key (default: $FL_API_KEY)")
    group.add_argument("--tenant", default=default, help="tenant (default: $FL_TENANT)")
    group.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="machine output: JSON (one object per line for `runs watch`)",
    )


def add_commands(sub: Any) -> None:
    """Add `workflows` and `runs` to the `flowledger` sub-parsers."""

    def leaf(parent: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        add_global_options(parser, top=False)
        parser.set_defaults(handler=handler)
        return parser

    workflows = sub.add_parser("workflows", help="put, list, get, delete and validate workflows")
    w = workflows.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(w, "put", commands.put_workflow, "create a workflow, or save a new version")
    p.add_argument("name")
    p.add_argument("file", help="the definition, JSON or YAML ('-': standard input)")
    p.add_argument("--if-match", type=int, help="refuse the save unless at this version")
    p = leaf(w, "list", commands.list_workflows, "every workflow, with its run counts")
    p.add_argument("--name", help="only names containing this")
    p = leaf(w, "get", commands.get_workflow, "a workflow: version, run counts, definition")
    p.add_argument("name")
    p = leaf(w, "delete", commands.delete_workflow, "delete a workflow (started runs go on)")
    p.add_argument("name")
    p = leaf(w, "validate", commands.validate, "check a definition without saving it")
    p.add_argument("file", help="the definition, JSON or YAML ('-': standard input)")

    runs = sub.add_parser("runs", help="start, list, inspect, steer and watch runs")
    r = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(r, "start", commands.start_run, "start a run of a workflow")
    p.add_argument("workflow")
    p.add_argument("--input", help="the input: a JSON object, or @FILE")
    p.add_argument("--id", help="the run id (default: chosen by the server)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--idempotency-key", help="a repeat with this key starts no second run")
    p.add_argument(
        "--wait", action="store_true", help="wait until it ends; exit 1 unless completed"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits (300)")
    p = leaf(r, "list", commands.list_runs, "runs, newest first")
    p.add_argument("--workflow")
    p.add_argument("--status", action="append", help="repeat, or comma-separate, for several")
    p.add_argument("--limit", type=int, default=20, help="how many (20)")
    p.add_argument("--all", action="store_true", help="every matching run, page after page")
    p = leaf(r, "get", commands.get_run, "a run: status, input, output, its blocks")
    p.add_argument("id")
    for action in CONTROLS:
        p = leaf(r, action, commands.control, f"{action} a run")
        p.add_argument("id")
        p.add_argument("--reason")
    p = leaf(r, "event", commands.send_event, "deliver an event to a run")
    p.add_argument("id")
    p.add_argument("type")
    p.add_argument("--payload", help="the payload: JSON, or @FILE")
    p = leaf(r, "watch", commands.watch, "print each event as it happens; exit 0 if it completes")
    p.add_argument("id")
    p = leaf(r, "logs", commands.logs, "the execution log: one entry per block attempt")
    p.add_argument("id")


def run(args: argparse.Namespace) -> int:
    """Run one client command; its exit code."""
    try:
        with connect(args) as client:
            return int(args.handler(client, args))
    except FlowledgerAPIError as exc:
        return _fail(exc.type, exc.message, exc.details)
    except FlowledgerClientError as exc:
        return _fail(getattr(exc, "type", "CLIENT_ERROR"), str(exc))
    except TimeoutError as exc:
        return _fail("TIMEOUT", str(exc))
    except commands.BadArgument as exc:
        return _fail("BAD_ARGUMENT", str(exc))
    except KeyboardInterrupt:
        return 130


def connect(args: argparse.Namespace) -> FlowledgerClient:
    """The flags, else the environment, else what `flowledger dev` wrote in dev.json."""
    url = args.url or os.environ.get("FL_URL")
    api_key = args.api_key or os.environ.get("FL_API_KEY")
    if not url:
        dev = _dev_json()
        url = dev.get("url") or DEFAULT_URL
        # The dev server's key is for the dev server only, never for a URL given elsewhere.
        api_key = api_key or dev.get("api_key")
    tenant = args.tenant or os.environ.get("FL_TENANT")
    return FlowledgerClient(url, api_key=api_key, tenant=tenant)


def _dev_json() -> dict[str, Any]:
    path = Path(os.environ.get("FL_HOME", ".flowledger")) / "dev.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _fail(type_: str, message: str, details: dict[str, Any] | None = None) -> int:
    print(f"error {type_}: {message}", file=sys.stderr)
    rest = dict(details or {})
    # Problems and validation errors, one line each, with where they are.
    for key in ("problems", "errors"):
        items = rest.pop(key, None)
        for item in items if isinstance(items, list) else []:
            where, why = (
                (item.get("path"), item.get("message")) if isinstance(item, dict) else ("", item)
            )
            print(f"  {where}: {why}", file=sys.stderr)
    if rest:
        print(f"  {json.dumps(rest, default=str)}", file=sys.stderr)
    return 1
