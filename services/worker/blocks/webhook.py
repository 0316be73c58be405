"""`webhook`: POSTs its payload as JSON, signed when a secret is set; outputs like `http`.

The signature lets the receiver check the body came from this workflow:
`X-Flowledger-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from contracts.blocks.external import WebhookConfig
from services.worker.blocks.base import BlockContext, parse_config
from services.worker.blocks.http import SUCCESS, send

SIGNATURE_HEADER = "X-Flowledger-Signature"


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def execute(config: dict[str, Any], ctx: BlockContext) -> Any:
    webhook = parse_config(WebhookConfig, config)
    # Serialised once here, so the bytes signed are the bytes sent.
    body = json.dumps(webhook.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if webhook.secret is not None:
        headers[SIGNATURE_HEADER] = signature(webhook.secret, body)
    return await send("POST", webhook.url, headers, body, webhook.timeout_seconds, SUCCESS)
