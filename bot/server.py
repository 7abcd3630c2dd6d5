"""The aiohttp adapter of the ingress: POST /api/messages, GET /healthz and GET /metrics, wired to one Gateway."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import HttpVersion11, web

from bot.gateway import MAX_BODY_BYTES, Admitted, Gateway, HttpRequest, HttpResponse, error
from services.observability.start import process_metrics

log = logging.getLogger(__name__)
BODY_TIMEOUT_SECONDS = 20.0  # to send the body once the head is in (1 MB at 50 KB/s); slower is a slow-POST attack
GATEWAY = web.AppKey("gateway", Gateway)
ADMITTED = web.RequestKey("admitted", Admitted)  # the Admitted of a head that `_expect` checked already


async def _messages(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    started, received_at = time.perf_counter(), time.time()
    try:
        if (request.content_length or 0) > MAX_BODY_BYTES:  # announced too large: no need to wait for it
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
        if request.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity"):
            return _compressed()
        # The head first: a request without a valid token is refused before its body is read (aiohttp then
        # discards the unread body in chunks after the response is sent, within its lingering time).
        admitted = request.get(ADMITTED) or await gateway.admit(request.method, request.headers)
        if isinstance(admitted, HttpResponse):
            process_metrics().record_ack(time.perf_counter() - started, admitted.status)
            return _to_web(admitted)
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        response = error(413, "PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.")
        response.headers["Connection"] = "close"
    except ConnectionResetError:  # the client left mid-body: nobody to answer, and no ERROR traceback for it
        log.info("a client closed its connection before sending the whole body")
        return web.Response(status=400)
    except TimeoutError:
        log.warning("refused a request whose body took longer than %g s", BODY_TIMEOUT_SECONDS)
        response = error(408, "RequestTimeout", f"The body was not received within {BODY_TIMEOUT_SECONDS:g} seconds.")
        response.headers["Connection"] = "close"
    else:
        response = await gateway.handle_admitted(
            HttpRequest(request.method, request.headers, body, received_at), admitted
        )
    process_metrics().record_ack(time.perf_counter() - started, response.status)
    return _to_web(response)


async def _expect(request: web.Request) -> web.StreamResponse | None:
    """Answer `Expect: 100-continue` only for a head the gateway admits: aiohttp's default handler said
    "100 Continue" to any request, inviting a client without a token to send its body. Otherwise the refusal
    (401, 415, 413) is the answer and no body is asked for."""
    if request.version != HttpVersion11:
        return None
    if request.headers.get("Expect", "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text="Only Expect: 100-continue is supported.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _to_web(error(413, "PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes."))
    if request.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity"):
        return _compressed()
    admitted = await request.app[GATEWAY].admit(request.method, request.headers)
    if isinstance(admitted, HttpResponse):
        return _to_web(admitted)
    request[ADMITTED] = admitted
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # as aiohttp's own handler: the main response has not started
    return None


def _to_web(response: HttpResponse) -> web.Response:
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    return web.json_response(response.body, status=response.status, headers=response.headers)


def _compressed() -> web.Response:
    """Return the 415 for a compressed body, unread: the Bot Connector posts plain JSON, and inflating is work
    out of proportion to the bytes sent (the server runs with aiohttp's auto_decompress off: bot/edge_http.py)."""
    response = error(415, "UnsupportedMediaType", "The body must not be compressed (no Content-Encoding).")
    return web.json_response(response.body, status=415, headers={"Connection": "close"})


async def _health(request: web.Request) -> web.Response:
    queue = request.app[GATEWAY].queue
    return web.json_response({"status": "ok", "pending_turns": getattr(queue, "pending", 0)})


async def _metrics(request: web.Request) -> web.Response:
    text, content_type = process_metrics().prometheus_text()
    mime, _, charset = content_type.partition("; charset=")
    return web.Response(body=text, content_type=mime, charset=charset or None)


def create_app(gateway: Gateway) -> web.Application:
    """Return the aiohttp application serving `gateway`; shutting it down drains running turns."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app[GATEWAY] = gateway
    app.router.add_route("*", "/api/messages", _messages, expect_handler=_expect)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)  # Prometheus text; nothing a user wrote is ever a label

    async def startup(app: web.Application) -> None:
        await gateway.start()  # resumes the turns a killed server had acknowledged but not answered

    async def shutdown(app: web.Application) -> None:
        await gateway.close()

    async def start_background(app: web.Application) -> None:
        for task in gateway.background:
            await task.start()

    app.on_startup.append(startup)
    app.on_startup.append(start_background)
    app.on_cleanup.append(shutdown)
    return app
