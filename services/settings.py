"""The one Settings object, read from `FL_` environment variables in one place."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.command.aggregate_cache import DEFAULT_SIZE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FL_", extra="ignore")

    home: Path = Path(".flowledger")
    nats_url: str = "nats://127.0.0.1:4222"
    event_store: str | None = None
    read_store: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    max_body_bytes: int = 1024 * 1024
    # How long a read with X-Flowledger-Min-Position may wait for the projections.
    min_position_wait_seconds: float = 5.0
    command_timeout_seconds: float = 10.0

    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    worker_queues: list[str] = ["default"]
    worker_concurrency: int = 64
    # A task not acknowledged within this is redelivered to another worker.
    task_ack_wait_seconds: float = 30.0

    command_batch_max: int = 512
    # Aggregates the command service keeps in memory between commands (0: none).
    aggregate_cache_size: int = DEFAULT_SIZE
    # Commands one command service holds waiting for a commit (they share group commits);
    # past this it stops taking more off the bus until a batch is saved.
    command_max_in_flight: int = 4096
    lease_ttl_seconds: float = 6.0
    relay_poll_seconds: float = 0.05

    @property
    def event_store_url(self) -> str:
        return self.event_store or f"sqlite:///{self.home / 'events.db'}"

    @property
    def read_store_url(self) -> str:
        return self.read_store or f"sqlite:///{self.home / 'read.db'}"


def load_settings() -> Settings:
    return Settings()
