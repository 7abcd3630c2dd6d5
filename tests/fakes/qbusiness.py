"""A loopback stand-in for Amazon Q Business's REST-JSON API (ChatSync, PutFeedback), for the real boto3 client
pointed at it with AWS_ENDPOINT_URL_QBUSINESS.

It keeps conversations (id → system message ids), answers as the user whose access key signed the request
(keys issued by tests/fakes/sts.py name their user), and can expire conversations, inject errors, report
failed attachments and ask for a plugin action review.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer
from tests.fakes.bedrock import Failure

PLUGIN = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
_KEY = re.compile(r"Credential=([A-Z0-9]+)/")


def user_of_key(access_key: str) -> str:
    """Return the user named in an access key issued by FakeSts ('' for any other key)."""
    match = re.fullmatch(r"ASIA([A-Z0-9]+)X\d+", access_key)
    return match.group(1).lower() if match else ""


@dataclass
class FakeQBusiness(LoopbackServer):
    """Scripted Q Business. `sources` are returned with every answer; `review` once, with the next answer."""

    answer: str = "Q says hello."
    sources: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # seconds before answering, one per request
    failed_attachments: dict[str, str] = field(default_factory=dict)  # file name → error code
    review: dict[str, Any] | None = None
    auth_challenge_url: str = ""
    conversations: dict[str, list[str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    client_max_size: int = 64 * 1024 * 1024
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/applications/{app}/conversations", self._chat)
        app.router.add_post("/applications/{app}/conversations/{conv}/messages/{msg}/feedback", self._feedback)

    def expire(self, conversation_id: str) -> None:
        """Forget a conversation, as Q does when it expires."""
        self.conversations.pop(conversation_id, None)

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": code})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (_KEY.search(request.headers.get("Authorization", "")) or [None, ""])[1]
        record = {**body, "applicationId": request.match_info["app"], "access_key": key, "user": user_of_key(key)}
        for attachment in record.get("attachments") or []:
            attachment["size"] = len(base64.b64decode(attachment.pop("data", "")))
        self.requests.append(record)
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        if self.failures:
            failure = self.failures.pop(0)
            return self._error(failure.status, failure.code, failure.message)
        conversation = body.get("conversationId")
        if conversation:
            messages = self.conversations.get(conversation)
            if messages is None:
                return self._error(404, "ResourceNotFoundException", "Conversation not found or expired.")
            if body.get("parentMessageId") != messages[-1]:
                return self._error(400, "ValidationException", "parentMessageId is not the latest message.")
        else:
            conversation = str(uuid.uuid4())
            self.conversations[conversation] = []
        system_id = str(uuid.uuid4())
        self.conversations[conversation].append(system_id)
        turn = len(self.conversations[conversation])
        who = record["user"] or "anonymous"
        if body.get("actionExecution"):
            text = f"Done: {body['actionExecution']['pluginId']} ran for {who}."
        else:
            text = f"{self.answer} (turn {turn}, for {who})"
        response: dict[str, Any] = {
            "conversationId": conversation,
            "systemMessage": text,
            "systemMessageId": system_id,
            "userMessageId": str(uuid.uuid4()),
            "sourceAttributions": self.sources,
            "failedAttachments": [
                {"name": a["name"], "status": "FAILED", "error": {"errorCode": self.failed_attachments[a["name"]],
                                                                  "errorMessage": "internal detail"}}
                for a in body.get("attachments") or [] if a["name"] in self.failed_attachments
            ],
        }  # fmt: skip
        if self.review is not None and not body.get("actionExecution"):
            response["actionReview"], self.review = self.review, None
        if self.auth_challenge_url:
            response["authChallengeRequest"] = {"authorizationUrl": self.auth_challenge_url}
        return web.json_response(response)

    async def _feedback(self, request: web.Request) -> web.Response:
        key = (_KEY.search(request.headers.get("Authorization", "")) or [None, ""])[1]
        self.feedback.append(
            {**request.match_info, **(await request.json()), "user": user_of_key(key), "access_key": key}
        )
        return web.json_response({})


def source(title: str, url: str, snippet: str, number: int, end: int | None = None) -> dict[str, Any]:
    """Return one sourceAttribution as Q Business returns it (`end`: where the passage it supports ends)."""
    segments = [{"beginOffset": 0, "endOffset": end}] if end is not None else []
    return {"title": title, "url": url, "snippet": snippet, "citationNumber": number, "textMessageSegments": segments}


def ticket_review() -> dict[str, Any]:
    """Return an actionReview for a ticket plugin: an editable title, a fixed project, a priority to choose."""
    return {
        "pluginId": PLUGIN,
        "pluginType": "JIRA",
        "payloadFieldNameSeparator": ".",
        "payload": {
            "title": {"displayName": "Title", "displayOrder": 1, "type": "STRING", "value": {"value": "VPN broken"},
                      "required": True},
            "project": {"displayName": "Project", "displayOrder": 2, "type": "STRING", "value": {"value": "IT"},
                        "allowedValues": [{"value": {"value": "IT"}, "displayValue": {"value": "IT support"}}]},
            "priority": {"displayName": "Priority", "displayOrder": 3, "type": "STRING", "value": {"value": "Low"},
                         "allowedValues": [{"value": {"value": "Low"}, "displayValue": {"value": "Low"}},
                                           {"value": {"value": "High"}, "displayValue": {"value": "High"}}]},
        },
    }  # fmt: skip


def plain_review() -> dict[str, Any]:
    """Return an actionReview whose values are plain JSON (no {"value": x} wrapper), as the API's document type
    allows: no separator, a number, a boolean, allowed values without display values, and an ARRAY field with
    nested items."""
    return {
        "pluginId": PLUGIN,
        "pluginType": "CUSTOM",
        "payload": {
            "summary": {"displayName": "Summary", "displayOrder": 1, "type": "STRING", "value": "Laptop broken",
                        "required": True},
            "hours": {"displayName": "Hours", "displayOrder": 2, "type": "NUMBER", "value": "8"},
            "urgent": {"displayName": "Urgent", "displayOrder": 3, "type": "BOOLEAN", "value": "false"},
            "size": {"displayName": "Size", "displayOrder": 4, "type": "NUMBER", "value": 2,
                     "allowedValues": [{"value": 1, "displayValue": "Small"}, {"value": 2, "displayValue": "Large"}]},
            "team": {"displayName": "Team", "displayOrder": 5, "type": "STRING",
                     "allowedValues": [{"value": "IT"}, {"value": "HR"}]},
            "items": {"displayName": "Items", "displayOrder": 6, "type": "ARRAY", "required": True,
                      "value": [{"sku": "X1", "qty": 1}],
                      "arrayItemJsonSchema": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        },
    }  # fmt: skip
