"""The reference for bench/load.py: Microsoft's echo bot sample (botbuilder 4.17.1, CloudAdapter) on PORT.

The shape of samples/python/02.echo-bot: an ActivityHandler that echoes each message, a CloudAdapter built
from ConfigurationBotFrameworkAuthentication, and an aiohttp route that awaits `adapter.process`. With no
app id it runs unauthenticated, as our bot does in the benchmark. It answers inside the HTTP request (the
reply is sent before the request is acknowledged), as the sample does.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


def main() -> None:
    config = SimpleNamespace(APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None, access_log=None)


if __name__ == "__main__":
    main()
