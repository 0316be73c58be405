"""The Python client of the Flowledger REST API, and the `flowledger workflows|runs` commands.

from services.client import FlowledgerClient

with FlowledgerClient("http://127.0.0.1:8080") as fl:
    fl.put_workflow("hello", {"blocks": [{"id": "a", "type": "noop"}]})
    run = fl.start_run("hello", {"name": "ada"})
    print(fl.wait(run.id).status)  # sees its own start: read-your-writes
"""

from services.client.client import TERMINAL_STATUSES, FlowledgerClient, StreamEnd
from services.client.errors import (
    FlowledgerAPIError,
    FlowledgerClientError,
    FlowledgerConnectionError,
)

__all__ = [
    "TERMINAL_STATUSES",
    "FlowledgerAPIError",
    "FlowledgerClient",
    "FlowledgerClientError",
    "FlowledgerConnectionError",
    "StreamEnd",
]
