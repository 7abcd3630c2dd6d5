"""The Lambda adapter of the ingress: an API Gateway HTTP API (payload 2.0) event in, its response out.

Like slack_bolt's Lambda adapter: the event becomes the neutral `HttpRequest`, `Gateway.handle` answers,
and the neutral `HttpResponse` becomes the dict Lambda returns. (Powertools' APIGatewayProxyEventV2 decodes
a base64 body to `str` and raises on bytes that are not UTF-8; the edge needs the raw bytes and a 400.)
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from bot.gateway import HttpRequest, HttpResponse, error


def to_request(event: dict[str, Any]) -> HttpRequest | HttpResponse:
    """Return the request in an HTTP API v2 event, or the 400 response when its body cannot be decoded."""
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = str(http.get("method") or "") if isinstance(http, dict) else ""
    headers = event.get("headers")
    headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    body = event.get("body") or ""
    if not isinstance(body, str):  # API Gateway sends a string; anything else is a malformed event, not a 500
        return error(400, "BadRequest", "The event's body is not a string.")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return error(400, "BadRequest", "The body is not valid base64.")
    else:
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
    return HttpRequest(method, headers, data)


def to_event_response(response: HttpResponse) -> dict[str, Any]:
    """Return the dict an HTTP API integration expects for `response`."""
    headers = dict(response.headers)
    result: dict[str, Any] = {"statusCode": response.status, "headers": headers, "isBase64Encoded": False}
    if response.body is not None:
        headers["Content-Type"] = "application/json"
        result["body"] = json.dumps(response.body)
    return result
