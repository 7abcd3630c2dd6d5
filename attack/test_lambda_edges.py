# ruff: noqa: F811, BLE001
"""Items 2 and 4 on the deployed shape (moto on loopback): extreme fields through the Lambda ingress, malformed
events, poisoned SQS bodies for the worker and the dead-letter function.
Run: .venv/bin/python -m pytest attack/test_lambda_edges.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import json
import time

from bot.emulator.activities import TeamsChannel
from tests.aws import sqs_event
from tests.test_lambda import call, deployed, drain, http_event, moto_url  # noqa: F401


def webchat(activity, **fields):
    return {**activity, "channelId": "webchat", **fields}


async def _post(aws, activity, **kw):
    started = time.perf_counter()
    response = await call(aws["ingress"].handler, http_event(activity, **kw))
    return response["statusCode"], round(time.perf_counter() - started, 2), (response.get("body") or "")[:160]


async def test_extreme_fields_via_the_ingress(deployed, monkeypatch):
    aws, connector = deployed, deployed["connector"]
    monkeypatch.setenv("ALLOWED_CHANNELS", "msteams,webchat")
    chat = TeamsChannel(connector.url)
    base = chat.message("hello")
    cases = {
        "webchat from.id 3 KB": webchat(base, **{"from": {"id": "u" * 3000, "name": "x"}}),
        "teams conversation.id 3 KB": {**base, "conversation": {**base["conversation"], "id": "a:" + "c" * 3000}},
        "teams conversation.id 100 KB": {**base, "conversation": {**base["conversation"], "id": "a:" + "c" * 100_000}},
        "teams from.id 100 KB": {**base, "from": {**base["from"], "id": "29:" + "u" * 100_000}},
        "webchat text 300 KB": webchat(chat.message("q " * 150_000)),
        "teams text 300 KB": chat.message("q " * 150_000),
        "5 x ;messageid=": {
            **TeamsChannel(connector.url, shape="channel").message("hi"),
            "conversation": {
                "id": "19:a@thread.tacv2" + ";messageid=1" * 5,
                "conversationType": "channel",
                "isGroup": True,
            },
        },
        "10,000 entities": {**base, "entities": [{"type": "mention", "text": "x", "mentioned": {"id": "b"}}] * 10_000},
        "10,000 file attachments": {
            **base,
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.teams.file.download.info",
                    "name": f"f{i}.csv",
                    "content": {"downloadUrl": f"{connector.url}f{i}", "fileType": "csv"},
                }
                for i in range(3_000)
            ],
        },
        "card press value nested 60": {**chat.message(""), "value": json.loads('{"a":' * 60 + "1" + "}" * 60)},
    }
    for name, activity in cases.items():
        body = json.dumps(activity).encode()
        print(f"\n{name}: {len(body)} bytes ->", await _post(aws, activity))
    print("jobs handled by the worker:", await drain(aws, "chat", rounds=20))
    print("connector calls:", len(connector.calls))


async def test_malformed_events(deployed):
    aws = deployed
    good = TeamsChannel(deployed["connector"].url).message("hello")
    events = {
        "no body": {k: v for k, v in http_event(good).items() if k != "body"},
        "base64 garbage": {**http_event(good), "body": "!!!not base64@@@", "isBase64Encoded": True},
        "body is a dict": {**http_event(good), "body": {"a": 1}},
        "body is a dict, base64": {**http_event(good), "body": {"a": 1}, "isBase64Encoded": True},
        "headers a list": {**http_event(good), "headers": ["a"]},
        "huge header 1 MB": http_event(good, headers={"x-big": "a" * 1_000_000}),
        "no requestContext": {k: v for k, v in http_event(good).items() if k != "requestContext"},
        "requestContext a string": {**http_event(good), "requestContext": "x"},
        "empty event": {},
    }
    for name, event in events.items():
        try:
            response = await call(aws["ingress"].handler, event)
            print(f"\n{name}:", response["statusCode"], (response.get("body") or "")[:120])
        except Exception as error:  # a crash of the container's handler
            print(f"\n{name}: RAISED {type(error).__name__}: {str(error)[:120]}")


def _record(body, message_id="m1", receives="1"):
    return sqs_event(
        [
            {
                "MessageId": message_id,
                "ReceiptHandle": "r",
                "Body": body,
                "MD5OfBody": "x",
                "Attributes": {
                    "ApproximateReceiveCount": receives,
                    "MessageGroupId": "g",
                    "SentTimestamp": "1",
                    "SequenceNumber": "1",
                    "MessageDeduplicationId": "d",
                },
            }
        ]
    )


def _job_body(connector, service_url):
    from handlers.jobs import ConversationRef, job_for
    from handlers.models import Conversation, Turn, User

    turn = Turn(
        id="t1",
        kind="message",
        text="hi",
        user=User(id="29:u"),
        conversation=Conversation(id="a:1", type="personal", key="a:1", tenant_id="t"),
    )
    return job_for(turn, ConversationRef(service_url, "a:1", "t1"), "k|poison").to_json()


async def test_poisoned_sqs_bodies(deployed):
    aws, connector = deployed, deployed["connector"]
    bodies = {
        "not json": "hello",
        "wrong version": json.dumps({"version": 99}),
        "missing fields": json.dumps({"version": 1}),
        "foreign serviceUrl": _job_body(connector, "https://evil.example/"),
        "serviceUrl userinfo": _job_body(connector, "https://smba.trafficmanager.net@evil.example/"),
        "deep": "[" * 100_000 + "]" * 100_000,
    }
    for name, body in bodies.items():
        for function in ("handler", "dead_letter_handler"):
            for receives in ("1", "3", "10"):
                try:
                    answer = await call(getattr(aws["worker"], function), _record(body, receives=receives))
                    result = answer
                except Exception as error:
                    result = f"RAISED {type(error).__name__}: {str(error)[:100]}"
                print(f"\n{name} / {function} / receive {receives}:", result)
    print("connector calls (should be 0):", len(connector.calls))
