"""`flowledger dev|command|worker|projector|query`: one command, a sub-command per role.

`flowledger workflows …` and `flowledger runs …` are the command-line client of the API.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from services.client import cli as client_cli
from services.readiness import clear_ready, write_whole
from services.settings import Settings, load_settings

Role = Callable[[Settings, asyncio.Event], Awaitable[None]]
ROLES = {
    "dev": "start NATS and every service on this machine, print the URL",
    "command": "the command service",
    "worker": "a worker",
    "projector": "the projector of the read models",
    "query": "the REST API",
}


def _role(name: str) -> Role:
    # Imported on demand, so each process loads only its own service.
    if name == "command":
        from services.command.bootstrap import run_command_service

        return run_command_service
    if name == "worker":
        from services.worker.bootstrap import run_worker

        return run_worker
    if name == "projector":
        from projections.bootstrap import run_projector

        return run_projector
    from services.query.bootstrap import run_query_service

    return run_query_service


async def _serve(role: Role, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await role(settings, stop)


def run_role(name: str) -> None:
    clear_ready()
    logging.basicConfig(
        level=os.environ.get("FL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    role = _role(name)
    loop_factory = event_loop_factory()
    tune_garbage_collector()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(role, load_settings()))


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (everywhere but Windows), else asyncio's own loop.

    Measured in the running stack, alternating trials on one host: at 16 starts in flight,
    4-8 % less command-service CPU per start and ~4 % more starts/s; at 64, and for
    completed runs on PostgreSQL, no change beyond the trials' spread. On another host,
    ~8 % more completed runs/s on SQLite. (bench/README.md has the numbers.)"""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections on the hot paths (they were 6-9 % of a service's CPU).

    Everything imported so far lives as long as the process: frozen, full collections
    skip it. A larger first threshold collects the many short-lived objects of each
    message (dicts, events, futures) less often; cycles among them are still found."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def run_dev() -> int:
    """Start NATS (from the wheel), the four services; print the URL; Ctrl-C stops all."""
    from services import devserver

    settings = load_settings()
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dev.json").unlink(missing_ok=True)
    nats_port = devserver.free_port()
    nats = devserver.start_nats(home / "nats", nats_port, sys.stdout)
    nats_url = f"nats://127.0.0.1:{nats_port}"
    env = {**os.environ, "FL_HOME": str(home), "FL_NATS_URL": nats_url}
    env["FL_HTTP_PORT"] = str(settings.http_port)
    processes = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in devserver.SERVICES:
            ready = home / "run" / f"{service}.ready"
            processes[ready] = devserver.start_service(service, env, ready, sys.stdout)
        found = devserver.wait_ready(processes)
        port = int(found[home / "run" / "query.ready"])
        url = f"http://{settings.http_host}:{port}"
        info = {"url": url, "nats_url": nats_url, "api_key": None}
        # Scripts and tests poll for it: written whole, never seen empty.
        write_whole(home / "dev.json", json.dumps(info, indent=2))
        print(f"\nFlowledger is ready at {url}  (NATS {nats_url}; data in {home})", flush=True)
        print("API key: none needed until API keys are enabled. Ctrl-C stops.", flush=True)
        while not stopping:
            dead = [p for p in processes.values() if not p.alive()]
            if dead:
                print(f"{dead[0].name} exited; stopping", flush=True)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        # Stop the edge first and NATS last, so nothing in flight is cut off.
        for process in reversed(list(processes.values())):
            process.stop()
        nats.stop()
        (home / "dev.json").unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client_cli.add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="role", required=True, metavar="COMMAND")
    for role, help in ROLES.items():
        sub.add_parser(role, help=help, description=help)
    client_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.role == "dev":
        sys.exit(run_dev())
    if args.role in ROLES:
        run_role(args.role)
        return
    sys.exit(client_cli.run(args))


if __name__ == "__main__":
    main()
