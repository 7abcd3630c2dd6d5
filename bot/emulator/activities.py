"""Teams-shaped activities, as Teams sends them (see shared DESIGN.md §3), for the emulator and the tests."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Shape = Literal["personal", "groupChat", "channel"]
_counter = itertools.count(1)


def new_activity_id() -> str:
    """Return a Teams-like numeric activity id, unique in this process."""
    return f"{int(time.time() * 1000)}{next(_counter):03d}"


@dataclass
class TeamsChannel:
    """One simulated conversation: who speaks, where, and to which bot."""

    service_url: str
    shape: Shape = "personal"
    bot_id: str = "28:gateway-bot"
    bot_name: str = "Gateway"
    user_id: str = "29:1-emulator-user"
    user_name: str = "Alex Wilber"
    aad_object_id: str = "6f1c0e2a-0000-4000-8000-00000000e001"
    tenant_id: str = "72f988bf-0000-4000-8000-000000000001"
    base_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    thread_root: str = ""

    def conversation(self, activity_id: str) -> dict[str, Any]:
        """Return the `conversation` account of this shape (a channel conversation is one thread)."""
        if self.shape == "personal":
            return {"conversationType": "personal", "id": f"a:1{self.base_id}", "tenantId": self.tenant_id}
        if self.shape == "groupChat":
            return {
                "conversationType": "groupChat", "id": f"19:{self.base_id}@thread.v2",
                "tenantId": self.tenant_id, "isGroup": True,
            }  # fmt: skip
        self.thread_root = self.thread_root or activity_id
        return {
            "conversationType": "channel", "isGroup": True, "tenantId": self.tenant_id,
            "id": f"19:{self.base_id}@thread.tacv2;messageid={self.thread_root}",
        }  # fmt: skip

    def new_thread(self) -> None:
        """Start a new channel thread: the next message is a new post."""
        self.thread_root = ""

    def _base(self, activity_type: str) -> dict[str, Any]:
        activity_id = new_activity_id()
        channel_data: dict[str, Any] = {"tenant": {"id": self.tenant_id}}
        if self.shape == "channel":
            channel_data |= {
                "teamsTeamId": f"19:team{self.base_id}@thread.tacv2",
                "teamsChannelId": f"19:{self.base_id}@thread.tacv2",
                "team": {"id": f"19:team{self.base_id}@thread.tacv2"},
                "channel": {"id": f"19:{self.base_id}@thread.tacv2"},
            }
        return {
            "type": activity_type,
            "id": activity_id,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": self.user_id, "name": self.user_name, "aadObjectId": self.aad_object_id},
            "conversation": self.conversation(activity_id),
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "locale": "en-US",
            "entities": [
                {
                    "type": "clientInfo",
                    "locale": "en-US",
                    "country": "US",
                    "platform": "Web",
                    "timezone": "Europe/Berlin",
                }
            ],
            "channelData": channel_data,
        }

    def message(self, text: str) -> dict[str, Any]:
        """Return a message activity; in group chats and channels it @mentions the bot, as Teams requires."""
        activity = self._base("message")
        activity["textFormat"] = "plain"
        if self.shape == "personal":
            activity["text"] = text
        else:
            mention = f"<at>{self.bot_name}</at>"
            activity["text"] = f"{mention} {text}"
            activity["entities"].append(
                {"type": "mention", "text": mention, "mentioned": {"id": self.bot_id, "name": self.bot_name}}
            )
        return activity

    def with_file(self, activity: dict[str, Any], name: str, download_url: str) -> dict[str, Any]:
        """Return `activity` with a file attached as Teams attaches files in personal chats."""
        file_type = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        activity.setdefault("attachments", []).append(
            {
                "contentType": "application/vnd.microsoft.teams.file.download.info",
                "name": name,
                "content": {"downloadUrl": download_url, "uniqueId": new_activity_id(), "fileType": file_type},
            }
        )
        return activity

    def submit(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return the message an Action.Submit button sends: the card's data as `value`, no text."""
        activity = self._base("message")
        activity["value"] = data
        return activity

    def execute(self, verb: str, data: dict[str, Any], reply_to: str = "") -> dict[str, Any]:
        """Return the `adaptiveCard/action` invoke an Action.Execute button sends."""
        activity = self._base("invoke")
        activity["name"] = "adaptiveCard/action"
        activity["value"] = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
        if reply_to:
            activity["replyToId"] = reply_to
        return activity

    def feedback(self, reaction: str, reply_to: str, comment: str = "") -> dict[str, Any]:
        """Return the `message/submitAction` invoke Teams sends for its own 👍/👎 under a bot message
        (the optional comment is a JSON string, as Teams sends it)."""
        activity = self._base("invoke")
        activity["name"] = "message/submitAction"
        activity["replyToId"] = reply_to
        activity["value"] = {
            "actionName": "feedback",
            "actionValue": {"reaction": reaction, "feedback": json.dumps({"feedbackText": comment})},
        }
        return activity

    def bot_added(self) -> dict[str, Any]:
        """Return the conversationUpdate Teams sends when the bot is added."""
        activity = self._base("conversationUpdate")
        activity["membersAdded"] = [{"id": self.bot_id}]
        return activity
