"""IngressFunction: HTTP API → the ingress (authenticate, filter, claim, queue to SQS) → 200 in milliseconds.

One event loop per container, made at import and reused by every invocation: the ingress's clients are
bound to the loop that created them (`asyncio.run` per invocation would close it). The settings, the app
password (Secrets Manager) and the ingress are built once, at the first invocation of a container.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.gateway import Gateway, HttpResponse
from bot.lambda_http import to_event_response, to_request
from entrypoints.wiring import build_ingress, resolve_secrets
from services.observability import register_secrets
from services.observability.start import process_metrics, start_at_cold_start
from services.settings import load_settings

LOOP = asyncio.new_event_loop()
_ingress: Gateway | None = None
start_at_cold_start("ingress")


def ingress() -> Gateway:
    """Return this container's ingress, built on first use."""
    global _ingress
    if _ingress is None:
        settings = resolve_secrets(load_settings())
        register_secrets(settings.microsoft_app_password.get_secret_value())
        _ingress = build_ingress(settings)
    return _ingress


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Answer one HTTP API v2 event (POST /api/messages)."""
    started = time.perf_counter()
    request = to_request(event)
    if isinstance(request, HttpResponse):
        response = request
    else:
        response = LOOP.run_until_complete(ingress().handle(request))
    process_metrics().record_ack(time.perf_counter() - started, response.status)
    return to_event_response(response)
