"""IngressFunction: HTTP API → the ingress (authenticate, filter, claim, queue to SQS) → 200 in milliseconds.

One event loop per container, made at import and reused by every invocation: the ingress's clients are
bound to the loop that created them (`asyncio.run` per invocation would close it). The settings, the app
password (Secrets Manager) and the ingress are built once, at the first invocation of a container.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.gateway import Gateway, HttpResponse
from bot.lambda_http import to_event_response, to_request
from entrypoints.wiring import build_ingress, resolve_secrets
from services.settings import load_settings

LOOP = asyncio.new_event_loop()
_ingress: Gateway | None = None


def ingress() -> Gateway:
    """Return this container's ingress, built on first use."""
    global _ingress
    if _ingress is None:
        _ingress = build_ingress(resolve_secrets(load_settings()))
    return _ingress


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Answer one HTTP API v2 event (POST /api/messages)."""
    request = to_request(event)
    if isinstance(request, HttpResponse):
        return to_event_response(request)
    return to_event_response(LOOP.run_until_complete(ingress().handle(request)))
