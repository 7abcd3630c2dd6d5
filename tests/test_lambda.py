"""The Lambda entries with real event JSON, and the deployed path end to end over real HTTP:
ingress (HTTP API v2 event) → SQS FIFO (moto's server on loopback) → worker → the fake Bot Connector,
with DynamoDB (moto) holding idempotency records and conversation state."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pandas as pd
import pytest

from bot.emulator.activities import TeamsChannel
from tests.aws import aws_environment, create_fifo_queues, create_table, moto_server, poll_once, sqs_event
from tests.conftest import DOCS, card_of, card_text


def http_event(activity: dict | bytes | str, *, base64_body: bool = False, headers: dict | None = None) -> dict:
    """Return an API Gateway HTTP API (payload 2.0) event as Lambda receives it."""
    body = activity if isinstance(activity, bytes | str) else json.dumps(activity)
    raw = body.encode() if isinstance(body, str) else body
    return {
        "version": "2.0", "routeKey": "POST /api/messages", "rawPath": "/api/messages", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.eu-west-1.amazonaws.com",
                    **(headers or {})},
        "requestContext": {"http": {"method": "POST", "path": "/api/messages", "protocol": "HTTP/1.1",
                                    "sourceIp": "52.112.0.1", "userAgent": "Microsoft-SkypeBotApi"},
                           "requestId": uuid.uuid4().hex, "stage": "$default", "timeEpoch": 1700000000000},
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace"),
        "isBase64Encoded": base64_body,
    }  # fmt: skip


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def deployed(moto_url, monkeypatch, tmp_path, connector):
    """The deployed shape's settings and AWS resources; the Lambda modules' per-container state is reset."""
    import boto3

    import entrypoints.lambda_ingress as ingress_module
    import entrypoints.lambda_worker as worker_module

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    prefix = uuid.uuid4().hex[:8]
    chat, chat_dlq = create_fifo_queues(sqs, f"chat-{prefix}")
    analytics, analytics_dlq = create_fifo_queues(sqs, f"analytics-{prefix}")
    table = create_table(dynamodb)
    settings = {
        "STORE": "dynamodb", "DYNAMODB_TABLE": table, "QUEUE": "sqs", "CHAT_QUEUE_URL": chat,
        "ANALYTICS_QUEUE_URL": analytics, "BACKEND": "local", "KNOWLEDGE_DIR": str(DOCS),
        "STATE_DB": str(tmp_path / "state.db"), "JOB_MAX_RECEIVES": "3",
        "DOWNLOAD_ALLOWED_HOSTS": "http://127.0.0.1", "TURN_TIMEOUT_SECONDS": "20",
        "BOT_SERVICE_HOSTS": "http://127.0.0.1",  # the fake connector (no AWS_LAMBDA_FUNCTION_NAME here)
    }  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(ingress_module, "_ingress", None)
    monkeypatch.setattr(worker_module, "_worker", None)
    yield {"sqs": sqs, "chat": chat, "chat_dlq": chat_dlq, "analytics": analytics, "analytics_dlq": analytics_dlq,
           "ingress": ingress_module, "worker": worker_module, "connector": connector}  # fmt: skip
    for module in (ingress_module, worker_module):
        if module.__dict__.get("_ingress") or module.__dict__.get("_worker"):
            closer = module._ingress.close() if module.__dict__.get("_ingress") else module._worker.close()
            module.LOOP.run_until_complete(closer)


async def call(function, event: dict) -> dict:
    """Call a Lambda handler as Lambda does: in its own thread (it runs its own event loop)."""
    return await asyncio.to_thread(function, event)


async def drain(aws: dict, queue: str, function=None, rounds: int = 10) -> int:
    """Run the worker over `queue` until it is empty; return how many messages it handled."""
    handled = 0
    for _ in range(rounds):
        count, _ = await asyncio.to_thread(poll_once, aws["sqs"], aws[queue], function or aws["worker"].handler)
        if not count:
            break
        handled += count
    return handled


@pytest.mark.parametrize("shape", ["personal", "groupChat", "channel"])
async def test_a_chat_question_goes_ingress_sqs_worker_teams(deployed, shape):
    aws, connector = deployed, deployed["connector"]
    activity = TeamsChannel(connector.url, shape=shape).message("how long are dedupe markers kept?")
    response = await call(aws["ingress"].handler, http_event(activity, base64_body=shape == "channel"))
    assert response["statusCode"] == 200 and connector.calls == []  # acknowledged; nothing answered yet
    assert await drain(aws, "chat") == 1
    final = connector.messages()[-1]
    text = final.body.get("text") or card_text(card_of(final))
    assert "DEDUPE_TTL_SECONDS" in text
    assert all(c.conversation_id == activity["conversation"]["id"] for c in connector.calls)


async def test_a_redelivered_activity_and_a_duplicate_sqs_message_are_answered_once(deployed):
    aws, connector = deployed, deployed["connector"]
    activity = TeamsChannel(connector.url).message("how long are dedupe markers kept?")
    for _ in range(3):  # Teams re-delivers
        assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    assert await drain(aws, "chat") == 1  # FIFO deduplication dropped the copies within 5 minutes
    job = aws["sqs"]  # an SQS at-least-once duplicate of the same job, delivered after the answer
    job.send_message(
        QueueUrl=aws["chat"], MessageBody=_last_job(connector, activity), MessageGroupId="g", MessageDeduplicationId="x"
    )
    assert await drain(aws, "chat") == 1
    assert len([m for m in connector.messages() if m.type == "message"]) == 1


def _last_job(connector, activity) -> str:
    from handlers.jobs import ConversationRef, job_for
    from handlers.models import Conversation, Turn, User

    conversation = activity["conversation"]
    turn = Turn(id=activity["id"], kind="message", text="how long are dedupe markers kept?", user=User(id="29:u"),
                conversation=Conversation(id=conversation["id"], type="personal", key=conversation["id"]))  # fmt: skip
    key = f"activity|{conversation['id']}|{activity['id']}"
    return job_for(turn, ConversationRef(connector.url, conversation["id"], activity["id"]), key).to_json()


async def test_an_analytics_request_with_an_attachment_goes_to_the_analytics_queue(deployed):
    aws, connector = deployed, deployed["connector"]
    channel = TeamsChannel(connector.url)
    frame = pd.DataFrame({"label": [0, 1] * 300, "p": [0.2, 0.7, 0.4, 0.9, 0.1, 0.6] * 100})
    activity = channel.with_file(
        channel.message("metrics y_true=label y_score=p"),
        "p.csv",
        connector.serve_file("p.csv", frame.to_csv().encode()),
    )
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    assert await drain(aws, "chat") == 0 and await drain(aws, "analytics") == 1
    body = json.loads(
        aws["sqs"].receive_message(QueueUrl=aws["analytics_dlq"]).get("Messages", [{}])[0].get("Body", "{}")
    )
    assert body == {}  # nothing dead-lettered
    assert card_text(card_of(connector.messages()[-1])).startswith("Binary classifier: 600 rows from p.csv")


async def test_bad_bodies_and_bad_tokens_are_4xx(deployed, monkeypatch):
    aws = deployed
    bad_json = await call(aws["ingress"].handler, http_event(b"{not json"))
    assert bad_json["statusCode"] == 400 and "not valid JSON" in json.loads(bad_json["body"])["error"]["message"]
    bad_b64 = http_event("{}") | {"body": "%%%not-base64", "isBase64Encoded": True}
    assert (await call(aws["ingress"].handler, bad_b64))["statusCode"] == 400
    not_utf8 = await call(aws["ingress"].handler, http_event(b"\xff\xfe{}", base64_body=True))
    assert not_utf8["statusCode"] == 400
    monkeypatch.setenv("MICROSOFT_APP_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    monkeypatch.setattr(aws["ingress"], "_ingress", None)
    activity = TeamsChannel(aws["connector"].url).message("hello")
    for header in ({}, {"authorization": "Bearer not-a-token"}):
        response = await call(aws["ingress"].handler, http_event(activity, headers=header))
        assert response["statusCode"] == 401 and "secret" not in response["body"]
    assert aws["sqs"].receive_message(QueueUrl=aws["chat"]).get("Messages") is None


async def test_several_records_in_one_batch_are_answered_in_order(deployed):
    aws, connector = deployed, deployed["connector"]
    channel = TeamsChannel(connector.url)
    questions = ["help", "how long are dedupe markers kept?", "new"]
    activities = [channel.message(q) for q in questions]
    for activity in activities:
        assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], aws["worker"].handler, 10)
    assert count == 3 and answer == {"batchItemFailures": []}
    replied = [m.body["replyToId"] for m in connector.messages() if m.type == "message"]
    assert replied == [a["id"] for a in activities]


async def test_a_poison_job_fails_partially_then_the_user_is_told_once(deployed, monkeypatch):
    aws, connector = deployed, deployed["connector"]
    monkeypatch.setenv("TURN_TIMEOUT_SECONDS", "0.5")
    worker = aws["worker"]

    class Hanging:
        name, status_text, max_input_chars = "hanging", "Thinking…", 1000

        async def answer(self, question):
            await asyncio.sleep(3600)
            yield

    from entrypoints.wiring import build_worker, resolve_secrets
    from services.settings import load_settings

    monkeypatch.setattr(worker, "_worker", build_worker(resolve_secrets(load_settings()), backend=Hanging()))
    activity = TeamsChannel(connector.url).message("a question that always times out")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    failures = []
    for _ in range(3):
        count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], worker.handler)
        assert count == 1
        failures.append(len(answer["batchItemFailures"]))
    assert failures == [1, 1, 1]  # the last attempt told the user and still failed, so SQS dead-letters it
    told = [m.body["text"] for m in connector.messages() if "reference" in m.body.get("text", "")]
    assert len(told) == 1 and "too long" in told[0]
    assert await drain(aws, "chat") == 0
    dead = aws["sqs"].receive_message(QueueUrl=aws["chat_dlq"], AttributeNames=["All"])["Messages"]
    assert len(dead) == 1
    assert await call(worker.dead_letter_handler, sqs_event(dead)) == {"batchItemFailures": []}
    assert len([m for m in connector.messages() if "reference" in m.body.get("text", "")]) == 1  # not twice


async def test_a_worker_killed_without_a_word_is_reported_from_the_dead_letter_queue(deployed):
    aws, connector = deployed, deployed["connector"]
    activity = TeamsChannel(connector.url).message("hello")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    message = aws["sqs"].receive_message(QueueUrl=aws["chat"], AttributeNames=["All"])["Messages"]
    # the worker was killed (Lambda timeout) on its last attempt: SQS moved the job to the DLQ
    assert await call(aws["worker"].dead_letter_handler, sqs_event(message)) == {"batchItemFailures": []}
    (told,) = connector.messages()
    assert "failed several times" in told.body["text"] and "reference" in told.body["text"]
    assert await call(aws["worker"].dead_letter_handler, sqs_event(message)) == {"batchItemFailures": []}
    assert len(connector.messages()) == 1


async def test_a_malformed_queue_message_is_a_partial_failure_not_a_crash(deployed):
    aws = deployed
    event = sqs_event([{"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{\"version\": 7}", "MD5OfBody": "x",
                        "Attributes": {"ApproximateReceiveCount": "1"}}])  # fmt: skip
    assert aws["worker"].handler(event) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert aws["worker"].dead_letter_handler(event) == {"batchItemFailures": []}


async def test_the_worker_stops_a_turn_before_lambda_would_kill_it(deployed, monkeypatch):
    """With 10.6 s left of the function's time, the turn gets 0.6 s: the user is told, not left waiting."""
    aws, connector, worker = deployed, deployed["connector"], deployed["worker"]

    class Hanging:
        name, status_text, max_input_chars = "hanging", "Thinking…", 1000

        async def answer(self, question):
            await asyncio.sleep(3600)
            yield

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 10_600

    from entrypoints.wiring import build_worker, resolve_secrets
    from services.settings import load_settings

    monkeypatch.setattr(worker, "_worker", build_worker(resolve_secrets(load_settings()), backend=Hanging()))
    activity = TeamsChannel(connector.url).message("slow")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    message = aws["sqs"].receive_message(QueueUrl=aws["chat"], AttributeNames=["All"])["Messages"]
    message[0]["Attributes"]["ApproximateReceiveCount"] = "3"  # the last attempt
    started = asyncio.get_running_loop().time()
    answer = await asyncio.to_thread(worker.handler, sqs_event(message), Context())
    assert asyncio.get_running_loop().time() - started < 5 and len(answer["batchItemFailures"]) == 1
    assert "too long" in connector.messages()[-1].body["text"]


def _fast_connector_worker(worker_module, monkeypatch):
    """Install a worker whose connector client gives up within about 3 s (the default budget is 60 s)."""
    from bot.auth import ChannelAuth
    from bot.connector import BotConnector
    from entrypoints.wiring import build_worker, resolve_secrets
    from services.settings import load_settings

    settings = resolve_secrets(load_settings())
    fast = BotConnector(ChannelAuth(settings), timeout_seconds=0.5, budget_seconds=3.0, base_delay=0.05)
    monkeypatch.setattr(worker_module, "_worker", build_worker(settings, connector=fast))


async def test_teams_unavailable_fails_the_job_and_the_sqs_retry_answers_once(deployed, monkeypatch):
    aws, connector, worker = deployed, deployed["connector"], deployed["worker"]
    _fast_connector_worker(worker, monkeypatch)
    activity = TeamsChannel(connector.url, shape="groupChat").message("how long are dedupe markers kept?")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    connector.fail_next(503, times=1000)  # the Bot Connector is down for the whole first attempt
    count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], worker.handler)
    assert count == 1 and len(answer["batchItemFailures"]) == 1  # not swallowed: SQS delivers it again
    connector._failures.clear()
    assert await drain(aws, "chat") == 1
    answers = [m for m in connector.messages() if "DEDUPE_TTL_SECONDS" in json.dumps(m.body)]
    assert len(answers) == 1


async def test_teams_unavailable_on_every_attempt_the_dead_letter_function_tells_the_user(deployed, monkeypatch):
    aws, connector, worker = deployed, deployed["connector"], deployed["worker"]
    _fast_connector_worker(worker, monkeypatch)
    activity = TeamsChannel(connector.url).message("hello")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    connector.fail_next(503, times=10_000)
    for _ in range(3):  # JOB_MAX_RECEIVES
        count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], worker.handler)
        assert count == 1 and len(answer["batchItemFailures"]) == 1
    assert await drain(aws, "chat") == 0  # moved to the dead-letter queue
    dead = aws["sqs"].receive_message(QueueUrl=aws["chat_dlq"], AttributeNames=["All"])["Messages"]
    assert len(dead) == 1
    # Teams still down: the dead-letter function could not tell the user and asks for the message again
    assert len((await call(worker.dead_letter_handler, sqs_event(dead)))["batchItemFailures"]) == 1
    connector._failures.clear()
    assert await call(worker.dead_letter_handler, sqs_event(dead)) == {"batchItemFailures": []}
    assert await call(worker.dead_letter_handler, sqs_event(dead)) == {"batchItemFailures": []}
    told = [m.body["text"] for m in connector.messages()]
    assert len(told) == 1 and "failed several times" in told[0] and "reference" in told[0]


@pytest.mark.parametrize(
    ("function", "timeout", "queue", "visibility"),
    [("ChatWorkerFunction", "ChatWorkerTimeout", "ChatQueue", "ChatQueueVisibilityTimeout"),
     ("AnalyticsWorkerFunction", "AnalyticsWorkerTimeout", "AnalyticsQueue", "AnalyticsQueueVisibilityTimeout")],
)  # fmt: skip
def test_the_template_gives_each_worker_its_time_limit_and_its_queue_visibility(function, timeout, queue, visibility):
    from tests.cfn import resource

    worker_function = resource(function)
    assert worker_function["Timeout"] == {"Ref": timeout}
    env = worker_function["Environment"]["Variables"]
    assert env["TURN_TIMEOUT_SECONDS"] == {"Ref": timeout}  # not the 300 s default: AnalyticsWorkerTimeout works
    assert resource(queue)["VisibilityTimeout"] == {"Ref": visibility}
    assert env["QUEUE_VISIBILITY_TIMEOUT_SECONDS"] == {"Ref": visibility}
    events = worker_function["Events"]["Jobs"]["Properties"]
    assert events["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}


async def test_a_worker_whose_queue_visibility_is_below_its_time_limit_refuses_to_start(deployed, monkeypatch, caplog):
    aws, connector, worker = deployed, deployed["connector"], deployed["worker"]
    monkeypatch.setenv("TURN_TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "300")
    activity = TeamsChannel(connector.url).message("hello")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], worker.handler)
    assert count == 1 and len(answer["batchItemFailures"]) == 1 and worker._worker is None
    assert any(r.levelname == "ERROR" and "refusing to start" in r.getMessage() for r in caplog.records)
    assert connector.calls == []

    class Context:  # the function's own timeout is longer than the queue's visibility, whatever the env says
        def get_remaining_time_in_millis(self) -> int:
            return 900_000

    monkeypatch.setenv("TURN_TIMEOUT_SECONDS", "120")
    with pytest.raises(worker.MisconfiguredQueue):
        worker.worker(Context())
    monkeypatch.setenv("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "900")
    assert await drain(aws, "chat") == 1 and len(connector.messages()) == 1  # consistent: it starts and answers


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("s3cr3t-plain", "s3cr3t-plain"), ('{"password": "s3cr3t-json", "other": 1}', "s3cr3t-json"),
     ('["not", "an", "object"]', '["not", "an", "object"]')],
    ids=["plain", "json", "json-not-an-object"],
)  # fmt: skip
def test_the_app_password_is_read_from_secrets_manager(moto_url, monkeypatch, make_settings, stored, expected):
    import boto3

    from entrypoints.wiring import resolve_secrets

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    arn = boto3.client("secretsmanager").create_secret(Name=f"app-{uuid.uuid4().hex[:8]}", SecretString=stored)["ARN"]
    settings = resolve_secrets(make_settings(app_password_secret_arn=arn))
    assert settings.microsoft_app_password.get_secret_value() == expected
    assert expected not in repr(settings) and expected not in str(settings.model_dump())  # SecretStr, not logged
    # a password set directly wins, and no ARN means no call (an unreachable endpoint proves it)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    direct = make_settings(app_password_secret_arn=arn, microsoft_app_password="given")
    assert resolve_secrets(direct).microsoft_app_password.get_secret_value() == "given"
    assert resolve_secrets(make_settings()).microsoft_app_password.get_secret_value() == ""


async def test_a_redelivery_meeting_a_live_lease_fails_its_item_and_the_retry_closes_the_placeholder(deployed):
    """Worker A holds the job `running` (its "…" on screen) when SQS delivers the job again: the delivery is a
    batch item failure, not a "duplicate" SQS deletes. A died; its lease ran out; the retry ends A's "…" with
    "interrupted; retrying…" and answers once."""
    import aiohttp

    from bot.worker import PLACEHOLDER_PREFIX
    from handlers.jobs import Job
    from services.store import ACCEPTING, QUEUED, RUNNING

    aws, connector = deployed, deployed["connector"]
    activity = TeamsChannel(connector.url, shape="groupChat").message("how long are dedupe markers kept?")
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    waiting = aws["sqs"].receive_message(QueueUrl=aws["chat"], AttributeNames=["All"])["Messages"]
    job = Job.from_json(waiting[0]["Body"])
    aws["sqs"].change_message_visibility(QueueUrl=aws["chat"], ReceiptHandle=waiting[0]["ReceiptHandle"],
                                         VisibilityTimeout=0)  # fmt: skip
    store = aws["worker"].worker().store  # worker A, mid-turn: its lease and its "…"
    held = await store.acquire(job.idempotency_key, RUNNING, 600, take_over=(ACCEPTING, QUEUED))
    assert held.ok
    path = f"{connector.url}v3/conversations/{job.ref.conversation_id}/activities"
    async with aiohttp.ClientSession() as http, http.post(path, json={"type": "message", "text": "…"}) as posted:
        placeholder = (await posted.json())["id"]
    await store.put_value(PLACEHOLDER_PREFIX + job.idempotency_key, {"kind": "message", "id": placeholder}, 600)

    count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], aws["worker"].handler)
    assert count == 1 and len(answer["batchItemFailures"]) == 1  # kept in SQS, not deleted as a duplicate
    assert [c.body.get("text") for c in connector.calls] == ["…"]

    await store.release(job.idempotency_key, held.owner)  # worker A died: its lease is over
    assert await drain(aws, "chat") == 1
    edits = [c for c in connector.calls if c.method == "PUT" and c.activity_id == placeholder]
    assert len(edits) == 1 and "interrupted" in edits[0].body["text"]
    answers = [c for c in connector.calls if "DEDUPE_TTL_SECONDS" in json.dumps(c.body)]
    assert len({c.body.get("id") or c.activity_id for c in answers}) == 1
    assert await store.get_value(PLACEHOLDER_PREFIX + job.idempotency_key) is None


@pytest.mark.parametrize(
    ("timeout", "visibility"),
    [
        ("ChatWorkerTimeout", "ChatQueueVisibilityTimeout"),
        ("AnalyticsWorkerTimeout", "AnalyticsQueueVisibilityTimeout"),
    ],
)
def test_the_template_parameters_cannot_give_a_visibility_below_the_running_lease(timeout, visibility):
    """One rule, lease <= visibility, for every value CloudFormation accepts: the smallest visibility covers
    the running lease of the longest worker timeout."""
    from bot.worker import running_lease_seconds
    from tests.cfn import load_template as template

    parameters = template()["Parameters"]
    assert parameters[visibility]["MinValue"] >= running_lease_seconds(parameters[timeout]["MaxValue"])
    assert parameters[visibility]["Default"] >= running_lease_seconds(parameters[timeout]["Default"])


def test_the_worker_refuses_a_visibility_equal_to_its_time_limit(make_settings, caplog):
    """Equal is not enough: the running lease is the time limit plus a margin."""
    from entrypoints.lambda_worker import MisconfiguredQueue, check_queue_timing

    with pytest.raises(MisconfiguredQueue):
        check_queue_timing(make_settings(turn_timeout_seconds=300, queue_visibility_timeout_seconds=300))
    assert any("running lease" in r.getMessage() for r in caplog.records)
    check_queue_timing(make_settings(turn_timeout_seconds=300, queue_visibility_timeout_seconds=330))


async def test_a_message_whose_job_is_over_the_sqs_limit_gets_413_not_a_retried_503(deployed):
    """A job over SQS's 256 KB cannot be queued however often the channel delivers it: 413, not 503."""
    aws, connector = deployed, deployed["connector"]
    activity = TeamsChannel(connector.url).message("q " * 150_000)  # 300 KB of text, under the 1 MiB body cap
    response = await call(aws["ingress"].handler, http_event(activity))
    assert response["statusCode"] == 413 and "too large" in json.loads(response["body"])["error"]["message"]
    small = TeamsChannel(connector.url).message("how long are dedupe markers kept?")
    assert (await call(aws["ingress"].handler, http_event(small)))["statusCode"] == 200


@pytest.mark.parametrize(
    "change",
    [{"body": {"a": 1}, "isBase64Encoded": True}, {"body": 42}, {"headers": ["a"]}, {"requestContext": "x"}],
)
def test_a_malformed_http_event_gets_a_4xx_not_a_crash(change):
    from bot.lambda_http import to_request

    event = {**http_event(TeamsChannel("http://127.0.0.1:1/").message("hi")), **change}
    request = to_request(event)  # raised TypeError / AttributeError before: a function error, a 500
    status = getattr(request, "status", None)
    assert status == 400 or request.method in ("", "POST")


async def test_a_stalled_store_gets_a_503_before_the_channel_gives_up(deployed, monkeypatch):
    """A DynamoDB endpoint that accepts and never answers held the ingress for minutes (boto3's 60 s timeouts
    and 10 attempts); Teams gives up after 15 s. Now: 503 + Retry-After well within that."""
    import socket
    import threading
    import time

    server, held = socket.socket(), []
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in range(16)], daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{server.getsockname()[1]}")
    started = time.monotonic()
    try:
        event = http_event(TeamsChannel(deployed["connector"].url).message("hi"))
        response = await asyncio.wait_for(call(deployed["ingress"].handler, event), 40)
    finally:
        server.close()
    assert response["statusCode"] == 503 and time.monotonic() - started < 15
