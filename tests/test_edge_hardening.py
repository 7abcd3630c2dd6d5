"""The edge's smaller holes (issue 19): store throttling at the Lambda ingress, a missing tenant allow-list,
the data folder's listing, and the serviceUrl a queued job names."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from bot.emulator.activities import TeamsChannel
from handlers.jobs import ConversationRef, job_for
from handlers.models import Conversation, Turn, User
from tests import test_lambda
from tests.test_lambda import call, drain, http_event

moto_url, deployed = test_lambda.moto_url, test_lambda.deployed  # the deployed shape's fixtures

# --- item 13: DynamoDB throttling at the Lambda ingress is a 503 with Retry-After, not a 500 -----------------


class _Throttled:
    """A DynamoDB client whose writes are throttled (or fail otherwise) until `healthy` is set."""

    def __init__(self, client, code: str) -> None:
        self._client, self.code, self.healthy, self.calls = client, code, False, 0

    def __getattr__(self, name: str):
        method = getattr(self._client, name)
        if name not in ("put_item", "get_item", "delete_item") or self.healthy:
            return method

        def refused(**kwargs):
            self.calls += 1
            raise ClientError({"Error": {"Code": self.code, "Message": "Rate of requests exceeds the limit"}}, name)

        return refused


async def _throttled_then_healthy(aws, code: str) -> None:
    ingress = aws["ingress"]
    channel = TeamsChannel(aws["connector"].url)
    assert (await call(ingress.handler, http_event(channel.message("warm up"))))["statusCode"] == 200
    store = ingress.ingress().store
    store._client = throttled = _Throttled(store._client, code)
    activity = channel.message("what is the travel policy?")
    response = await call(ingress.handler, http_event(activity))
    assert response["statusCode"] == 503, response
    assert response["headers"]["Retry-After"] == "2" and throttled.calls >= 1
    assert "Rate of requests" not in response["body"] and "retry" in json.loads(response["body"])["error"]["message"]
    throttled.healthy = True  # the channel's re-delivery of the same activity is accepted and answered once
    assert (await call(ingress.handler, http_event(activity)))["statusCode"] == 200
    await drain(aws, "chat")
    answers = [c for c in aws["connector"].messages() if c.body.get("replyToId") == activity["id"]]
    assert len(answers) >= 1


async def test_dynamodb_throughput_exceeded_at_the_ingress_is_503_with_retry_after(deployed):
    await _throttled_then_healthy(deployed, "ProvisionedThroughputExceededException")


async def test_dynamodb_throttling_at_the_ingress_is_503_with_retry_after(deployed):
    await _throttled_then_healthy(deployed, "ThrottlingException")


# --- item 14: no tenant allow-list is said at start-up; the data folder is listed to admins only -------------


def test_an_empty_tenant_allow_list_is_a_start_up_warning(make_settings, caplog):
    from entrypoints.wiring import build_local

    with caplog.at_level(logging.WARNING, logger="bot.gateway"):
        build_local(make_settings())
    assert any("ALLOWED_TENANTS is empty" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.gateway"):
        build_local(make_settings(allowed_tenants="72f988bf-0000-4000-8000-000000000001"))
    assert not any("ALLOWED_TENANTS" in r.getMessage() for r in caplog.records)


async def test_a_missing_file_lists_the_data_folder_to_admins_only(start_bot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "salaries-2026.csv").write_text("label,p\n1,0.5\n")
    admin = "6f1c0e2a-0000-4000-8000-0000000000ad"
    bot = await start_bot(data_dir=data, admin_users=admin)
    texts = {}
    for who, aad in (("member", TeamsChannel.aad_object_id), ("admin", admin)):
        channel = TeamsChannel(bot.connector.url, aad_object_id=aad)
        assert (await bot.post(channel.message("metrics y_true=label y_score=p missing.csv"))).status == 200
        await bot.settle()
        texts[who] = bot.connector.messages()[-1].body["text"]
    assert "no file missing.csv" in texts["member"] and "salaries-2026" not in texts["member"]
    assert "no file missing.csv" in texts["admin"] and "salaries-2026.csv" in texts["admin"]


# --- item 16: the worker sends the bot's token only to Bot Framework service hosts ---------------------------


def _job(service_url: str, text: str = "hello"):
    turn = Turn(
        kind="message", text=text, id="1700000000777", user=User(id="29:1", name="Alex Wilber"),
        conversation=Conversation(id="a:1xyz", type="personal", key="a:1xyz", tenant_id="t"),
    )  # fmt: skip
    return job_for(turn, ConversationRef(service_url, "a:1xyz", "1700000000777", "aud"), "k|1700000000777")


async def test_the_worker_refuses_a_job_naming_a_foreign_service_url(start_bot, caplog):
    from tests.test_auth import FixedTokenFactory

    bot = await start_bot(credentials_factory=FixedTokenFactory())
    worker = bot.gateway.queue._run.__self__  # the in-process queue runs the worker's `run`
    # 127.0.0.2 stands in for attacker.example: on the old code the token went there, and nothing leaves the machine.
    hostile = _job(bot.connector.url.replace("127.0.0.1", "127.0.0.2"))
    with caplog.at_level(logging.WARNING):
        assert await worker.run(hostile) is None
        assert await worker.give_up(hostile, None) is True  # the dead-letter path sends nothing either
    assert bot.connector.calls == []
    assert any("not in BOT_SERVICE_HOSTS" in r.getMessage() for r in caplog.records)
    refused = [
        "https://attacker.example/", "https://smba.trafficmanager.net.attacker.example/", "https://10.0.0.1/",
        "http://smba.trafficmanager.net/", "https://user:pw@smba.trafficmanager.net/", "ftp://smba.trafficmanager.net/",
    ]  # fmt: skip
    for url in refused:
        assert worker._refuses_service_url(_job(url)), url
    for url in ("https://smba.trafficmanager.net/emea/", "https://webchat.botframework.com/"):
        assert not worker._refuses_service_url(_job(url)), url
    # A job for the allowed (loopback emulator) host is answered as usual, with the token.
    report = await worker.run(_job(bot.connector.url).model_copy(update={"idempotency_key": "k|other"}))
    assert report is not None and bot.connector.messages()


def test_the_service_hosts_setting_has_the_documented_defaults(make_settings):
    settings = make_settings()
    assert (
        "smba.trafficmanager.net" in settings.bot_service_hosts and "*.botframework.com" in settings.bot_service_hosts
    )
    assert make_settings(bot_service_hosts="smba.trafficmanager.net").bot_service_hosts == ["smba.trafficmanager.net"]


async def test_loopback_service_hosts_only_in_local_development(start_bot, monkeypatch, tmp_path):
    # The default list has no loopback (before: http://127.0.0.1 and http://localhost everywhere, Lambda too).
    from services.settings import BOT_SERVICE_HOSTS, SettingsError, load_settings
    from tests.test_auth import FixedTokenFactory

    monkeypatch.delenv("BOT_SERVICE_HOSTS", raising=False)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    assert not [h for h in load_settings(_env_file=None).bot_service_hosts if h.startswith("http://")]
    from entrypoints.local import _dev_defaults

    assert "http://127.0.0.1" in _dev_defaults()["bot_service_hosts"]  # serve --dev: the emulator
    # With the default list a job naming the (loopback) connector is refused and nothing is sent.
    bot = await start_bot(credentials_factory=FixedTokenFactory(), bot_service_hosts=",".join(BOT_SERVICE_HOSTS))
    worker = bot.gateway.queue._run.__self__
    assert await worker.run(_job(bot.connector.url)) is None and bot.connector.calls == []
    # On Lambda a loopback entry is a start-up error.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gateway-chat-worker")
    with pytest.raises(SettingsError, match="never on Lambda"):
        load_settings(_env_file=None, bot_service_hosts="smba.trafficmanager.net,http://127.0.0.1")
    assert load_settings(_env_file=None).bot_service_hosts == list(BOT_SERVICE_HOSTS)


# --- item 1 on Lambda: the ingress function refuses an unauthenticated megabyte in milliseconds ---------------


async def test_the_lambda_ingress_refuses_an_unauthenticated_megabyte_quickly(deployed, monkeypatch):
    import time

    aws = deployed
    monkeypatch.setenv("MICROSOFT_APP_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    activity = TeamsChannel(aws["connector"].url).message("x")
    activity["text"] = "\n".join(f"line {i:05d} of this" for i in range(46_000))  # before: 25.7 s, past 10 s
    await call(aws["ingress"].handler, http_event(TeamsChannel(aws["connector"].url).message("warm up")))
    started = time.process_time()
    response = await call(aws["ingress"].handler, http_event(activity, headers={"authorization": "Bearer a.b.c"}))
    assert response["statusCode"] == 401
    assert time.process_time() - started < 1.5
