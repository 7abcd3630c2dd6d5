"""Amazon Q Business end to end through /api/messages: Teams-shaped activities in, the real boto3 clients against
the loopback fakes of Q Business, IAM Identity Center and STS, the fake token service, the fake Bot Connector."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.emulator.activities import TeamsChannel
from handlers.qbusiness import ARRAY_NOTE
from handlers.signin import FEEDBACK_PASSED, FEEDBACK_SIGN_IN
from services.backends.qbusiness import CONVERSATION_RESET
from tests.conftest import card_of, card_text
from tests.fakes.qbusiness import PLUGIN, plain_review, source, ticket_review
from tests.fakes.sso_oauth import FakeSsoOauth
from tests.fakes.sts import FakeSts
from tests.fakes.token_service import FakeTokenService
from tests.test_qbusiness import APP, aws  # noqa: F401 - the fixture

OAUTH = "application/vnd.microsoft.card.oauth"
Q = "Amazon Q Business"


@pytest.fixture
async def token_service():
    async with FakeTokenService() as fake:
        yield fake


@pytest.fixture
def start_q(start_bot, aws, token_service):  # noqa: F811
    async def start(identity: str = "idc", **overrides):
        values = {
            "backend": "qbusiness", "qbusiness_application_id": APP, "qbusiness_region": "us-east-1",
            "qbusiness_identity": identity, "qbusiness_oauth_connection": "entra",
            "qbusiness_idc_application_arn": FakeSsoOauth.client_id, "qbusiness_role_arn": FakeSts.role_arn,
            "credentials_key": Fernet.generate_key().decode(), "bot_token_service_url": token_service.url,
            "stream_interval_seconds": 0.05, "download_allowed_hosts": "*.sharepoint.com,http://127.0.0.1", **overrides,
        }  # fmt: skip
        return await start_bot(**values)

    return start


def person(bot, name: str) -> TeamsChannel:
    """A personal chat with `name`, whose Teams id, Entra object id and tokens all name them."""
    return bot.channel("personal", user_id=f"29:{name}", user_name=name.title(), aad_object_id=f"{name}-oid")


def invoke(channel: TeamsChannel, name: str, value: dict) -> dict:
    activity = channel._base("invoke")
    activity.update(name=name, value=value)
    return activity


def final_text(bot) -> str:
    return bot.connector.messages()[-1].body.get("text", "")


async def ask(bot, channel, text: str, **extra):
    activity = channel.message(text)
    activity.update(extra)
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    return activity


async def test_anonymous_continuity_across_three_turns_and_expired_conversation_recovery(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    qbusiness.sources = [source("VPN guide", "https://wiki.example.com/vpn", "Connect first.", 1, end=13)]
    bot = await start_q("anonymous")
    channel = person(bot, "alice")
    for text in ("one", "two", "three"):
        await ask(bot, channel, text)
    assert "turn 3" in final_text(bot) and "[1]" in final_text(bot)
    first, second, third = qbusiness.requests
    conversation = second["conversationId"]
    assert "conversationId" not in first and third["conversationId"] == conversation
    final = bot.connector.messages()[-1]  # one bubble in personal chat: the sources are the message's citations
    citations = [e for e in final.body["entities"] if e.get("citation")][0]["citation"]
    assert citations[0]["appearance"]["name"].startswith("VPN guide") and "attachments" not in final.body
    qbusiness.expire(conversation)
    await ask(bot, channel, "four")
    assert CONVERSATION_RESET in final_text(bot) and "turn 1" in final_text(bot)


async def test_a_channel_thread_keeps_its_own_conversation(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q("anonymous")
    channel = bot.channel("channel")
    await ask(bot, channel, "first in thread A")
    await ask(bot, channel, "second in thread A")
    channel.new_thread()
    await ask(bot, channel, "first in thread B")
    a1, a2, b1 = qbusiness.requests
    assert "conversationId" not in a1 and a2["conversationId"] and "conversationId" not in b1


async def test_sign_in_card_when_no_token_then_sso_exchange_answers_the_question(start_q, aws, token_service):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q()
    channel = person(bot, "alice")
    await ask(bot, channel, "what is our VPN?")
    card = bot.connector.messages()[-1].body["attachments"][0]
    assert card["contentType"] == OAUTH and card["content"]["connectionName"] == "entra"
    assert card["content"]["tokenExchangeResource"]["uri"] == "api://botid-gateway"
    assert card["content"]["buttons"][0]["type"] == "signin"
    assert token_service.states[0]["conversation"]["user"]["id"] == "29:alice"
    assert "sign in first" in bot.connector.calls[-2].body.get("text", "")
    assert not qbusiness.requests

    token_service.sso_tokens["teams-sso-alice"] = "entra-alice"
    exchange = {"id": "x-1", "connectionName": "entra", "token": "teams-sso-alice"}
    response = await bot.post(invoke(channel, "signin/tokenExchange", exchange))
    assert response.status == 200
    again = await bot.post(invoke(channel, "signin/tokenExchange", exchange))  # Teams' second client
    assert again.status == 200
    await bot.settle()
    assert [r["userMessage"] for r in qbusiness.requests] == ["what is our VPN?"]
    assert "for alice" in final_text(bot)


async def test_failed_token_exchange_answers_412_so_teams_shows_the_card(start_q):
    bot = await start_q()
    channel = person(bot, "alice")
    response = await bot.post(invoke(channel, "signin/tokenExchange", {"id": "x-9", "connectionName": "entra",
                                                                        "token": "not-a-token"}))  # fmt: skip
    assert response.status == 412
    assert await response.json() == {
        "id": "x-9", "connectionName": "entra",
        "failureDetail": "The bot could not exchange the token: sign in with the card.",
    }  # fmt: skip
    await bot.settle()
    assert not bot.connector.messages()  # Teams shows the sign-in card itself: no message from the bot


async def test_verify_state_with_the_magic_code_signs_in(start_q, aws, token_service):  # noqa: F811
    bot = await start_q()
    channel = person(bot, "alice")
    token_service.magic_codes["123456"] = "entra-alice"
    assert (await bot.post(invoke(channel, "signin/verifyState", {"state": "000000"}))).status == 404
    await bot.settle()
    assert "did not complete" in final_text(bot)
    assert (await bot.post(invoke(channel, "signin/verifyState", {"state": "123456"}))).status == 200
    await bot.settle()
    assert final_text(bot).startswith("You are signed in")
    await ask(bot, channel, "hello")
    assert "for alice" in final_text(bot)


async def test_two_users_each_get_their_own_credentials_and_signout_forgets(start_q, aws, token_service):  # noqa: F811
    qbusiness, oidc, sts = aws
    token_service.tokens = {"29:alice": "entra-alice", "29:bob": "entra-bob"}
    bot = await start_q()
    alice, bob = person(bot, "alice"), person(bot, "bob")
    await ask(bot, alice, "hello")
    await ask(bot, bob, "hello")
    await ask(bot, alice, "again")
    assert [(r["user"], r["access_key"]) for r in qbusiness.requests] == [
        ("alice", "ASIAALICEX1"), ("bob", "ASIABOBX2"), ("alice", "ASIAALICEX1"),
    ]  # fmt: skip
    assert [r["assertion"] for r in oidc.requests] == ["entra-alice", "entra-bob"]
    await ask(bot, alice, "signout")
    assert final_text(bot).startswith("Signed out")
    assert "29:alice" not in token_service.tokens and "29:bob" in token_service.tokens
    await ask(bot, alice, "hello?")
    assert bot.connector.messages()[-1].body["attachments"][0]["contentType"] == OAUTH


async def test_attachments_passed_through_refused_host_and_failed_attachments(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    qbusiness.failed_attachments = {"scan.pdf": "INVALID_FILE_TYPE"}
    bot = await start_q("anonymous")
    channel = person(bot, "alice")
    activity = channel.message("summarise these")
    channel.with_file(activity, "notes.txt", bot.connector.serve_file("notes.txt", b"meeting notes"))
    channel.with_file(activity, "scan.pdf", bot.connector.serve_file("scan.pdf", b"%PDF-1.4"))
    channel.with_file(activity, "evil.txt", "https://files.evil.example.com/evil.txt")
    channel.with_file(activity, "movie.mp4", bot.connector.serve_file("movie.mp4", b"x"))
    await bot.post(activity)
    await bot.settle()
    (request,) = qbusiness.requests
    assert [(a["name"], a["size"]) for a in request["attachments"]] == [("notes.txt", 13), ("scan.pdf", 8)]
    text = final_text(bot)
    assert "I cannot download evil.txt: its link is not on a file host this gateway accepts." in text
    assert "I skipped movie.mp4: Amazon Q Business does not read .mp4 files." in text
    assert "I could not use scan.pdf: Amazon Q Business does not read this type of file." in text


async def review_asked(start_q, qbusiness, review, question: str):
    """Return (bot, alice's channel, the review card, its inputs by id) after `question` made Q ask for `review`
    (an anonymous application)."""
    qbusiness.review = review
    bot = await start_q("anonymous")
    channel = person(bot, "alice")
    await ask(bot, channel, question)
    card = card_of(bot.connector.messages()[-1])
    return bot, channel, card, {e["id"]: e for e in card["body"] if e["type"].startswith("Input.")}


async def test_plugin_action_review_confirmed_with_an_edit_and_another_cancelled(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    bot, channel, review, inputs = await review_asked(start_q, qbusiness, ticket_review(), "open a ticket: VPN broken")
    assert inputs["field_title"]["value"] == "VPN broken" and inputs["field_title"]["isRequired"]
    assert [c["value"] for c in inputs["field_priority"]["choices"]] == ["Low", "High"]
    assert "field_project" not in inputs  # one allowed value: shown, not editable
    confirm = review["actions"][0]
    assert confirm["verb"] == "qbusiness_confirm"
    data = {**confirm["data"], "field_title": "VPN down", "field_priority": "High"}
    response = await bot.post(channel.execute("qbusiness_confirm", data))
    assert (await response.json())["value"] == "Running the action…"
    await bot.settle()
    execution = qbusiness.requests[-1]["actionExecution"]
    assert execution == {
        "pluginId": PLUGIN, "payloadFieldNameSeparator": ".",
        "payload": {"title": {"value": "VPN down"}, "project": {"value": "IT"}, "priority": {"value": "High"}},
    }  # fmt: skip
    conversation = qbusiness.conversations[qbusiness.requests[-1]["conversationId"]]
    assert qbusiness.requests[-1]["parentMessageId"] == conversation[-2]  # the message that asked for the review
    assert final_text(bot).startswith(f"Done: {PLUGIN} ran")
    await bot.post(channel.execute("qbusiness_confirm", data))  # pressed twice: runs once
    await bot.settle()
    assert sum("actionExecution" in r for r in qbusiness.requests) == 1
    assert "no longer waiting" in final_text(bot)

    qbusiness.review = ticket_review()
    await ask(bot, channel, "open another")
    cancel = card_of(bot.connector.messages()[-1])["actions"][1]
    calls = len(qbusiness.requests)
    await bot.post(channel.execute("qbusiness_cancel", cancel["data"]))
    await bot.settle()
    assert len(qbusiness.requests) == calls and "nothing was done" in final_text(bot)


async def test_feedback_is_stored_and_sent_to_q_as_the_user(start_q, aws, token_service):  # noqa: F811
    qbusiness, _, _ = aws
    token_service.tokens = {"29:alice": "entra-alice"}
    bot = await start_q()
    channel = person(bot, "alice")
    await ask(bot, channel, "hello")
    answer = bot.connector.messages()[-1]
    feedback = {
        "actionName": "feedback",
        "actionValue": {"reaction": "dislike", "feedback": '{"feedbackText": "stale"}'},
    }
    activity = invoke(channel, "message/submitAction", feedback)
    activity["replyToId"] = answer.body["id"]
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    (sent,) = qbusiness.feedback
    assert sent["user"] == "alice" and sent["messageUsefulness"]["usefulness"] == "NOT_USEFUL"
    assert sent["messageUsefulness"]["comment"] == "stale" and [sent["msg"]] == next(
        iter(qbusiness.conversations.values())
    )
    (stored,) = await bot.gateway.store.list_feedback()
    assert stored.backend == "qbusiness" and stored.reaction == "dislike"


async def test_plugin_action_with_plain_values_and_a_read_only_list(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    bot, channel, review, inputs = await review_asked(start_q, qbusiness, plain_review(), "order a laptop")
    assert inputs["field_summary"]["value"] == "Laptop broken"
    assert inputs["field_hours"]["value"] == 8 and inputs["field_urgent"]["value"] == "false"
    assert inputs["field_size"]["choices"] == [{"title": "Small", "value": "1"}, {"title": "Large", "value": "2"}]
    assert inputs["field_size"]["value"] == "2"
    assert [c["title"] for c in inputs["field_team"]["choices"]] == ["IT", "HR"]
    assert "field_items" not in inputs and ARRAY_NOTE in card_text(review)
    (items,) = [e for e in review["body"] if e["type"] == "FactSet"]
    assert items["facts"] == [{"title": "Items", "value": '[{"sku": "X1", "qty": 1}]'}]
    confirm = review["actions"][0]
    data = {**confirm["data"], "field_summary": "Laptop dead", "field_hours": "7.5", "field_urgent": "true",
            "field_size": "1", "field_team": "HR", "field_items": "[]"}  # fmt: skip
    await bot.post(channel.execute("qbusiness_confirm", data))
    await bot.settle()
    assert qbusiness.requests[-1]["actionExecution"] == {
        "pluginId": PLUGIN, "payloadFieldNameSeparator": ".",
        "payload": {"summary": {"value": "Laptop dead"}, "hours": {"value": 7.5}, "urgent": {"value": True},
                    "size": {"value": 1}, "team": {"value": "HR"}, "items": {"value": [{"sku": "X1", "qty": 1}]}},
    }  # fmt: skip
    assert final_text(bot).startswith(f"Done: {PLUGIN} ran")


async def test_feedback_without_a_sign_in_sends_the_card_and_is_passed_on_after_sign_in(start_q, aws, token_service):  # noqa: F811
    qbusiness, _, _ = aws
    token_service.tokens = {"29:alice": "entra-alice"}
    bot = await start_q()
    channel = person(bot, "alice")
    await ask(bot, channel, "hello")
    answer = bot.connector.messages()[-1]
    await ask(bot, channel, "signout")  # credentials and token forgotten: the next call to Q needs a sign-in
    feedback = {"actionName": "feedback", "actionValue": {"reaction": "like", "feedback": '{"feedbackText": "ok"}'}}
    activity = invoke(channel, "message/submitAction", feedback)
    activity["replyToId"] = answer.body["id"]
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    card = bot.connector.messages()[-1].body["attachments"][0]
    assert card["contentType"] == OAUTH and card["content"]["text"] == FEEDBACK_SIGN_IN.format(label=Q)
    assert not qbusiness.feedback and len(await bot.gateway.store.list_feedback()) == 1
    token_service.magic_codes["654321"] = "entra-alice"
    assert (await bot.post(invoke(channel, "signin/verifyState", {"state": "654321"}))).status == 200
    await bot.settle()
    (sent,) = qbusiness.feedback
    assert sent["user"] == "alice" and sent["messageUsefulness"] == {
        "usefulness": "USEFUL", "comment": "ok", "submittedAt": sent["messageUsefulness"]["submittedAt"]
    }  # fmt: skip
    texts = [m.body.get("text", "") for m in bot.connector.messages()[-2:]]
    assert texts == [FEEDBACK_PASSED.format(label=Q), "You are signed in to Amazon Q Business. Ask me your question."]


async def test_at_most_five_files_are_sent_and_skipped_files_do_not_count(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q("anonymous")
    channel = person(bot, "alice")
    activity = channel.message("read these")
    channel.with_file(activity, "movie.mp4", bot.connector.serve_file("movie.mp4", b"x"))
    big = b"x" * (10 * 1024 * 1024 + 1)
    channel.with_file(activity, "big.pdf", bot.connector.serve_file("big.pdf", big))
    channel.with_file(activity, "evil.txt", "https://files.evil.example.com/evil.txt")
    for number in range(1, 7):
        channel.with_file(activity, f"a{number}.txt", bot.connector.serve_file(f"a{number}.txt", b"%d" % number))
    await bot.post(activity)
    await bot.settle()
    (request,) = qbusiness.requests
    assert [a["name"] for a in request["attachments"]] == ["a1.txt", "a2.txt", "a3.txt", "a4.txt", "a5.txt"]
    text = final_text(bot)
    assert "big.pdf is larger than the 10 MB limit" in text
    assert "I skipped a6.txt: at most 5 files are read per message." in text
    assert "a5.txt" not in text and "movie.mp4" in text and "evil.txt" in text


async def test_the_ingress_waits_for_the_token_service_well_inside_its_lambda_timeout(tmp_path):
    import yaml

    from entrypoints.wiring import build_ingress
    from services.settings import REPO_ROOT, load_settings
    from services.store import SQLiteStore

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation's !Ref, !GetAtt…
    template = yaml.load((REPO_ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 - SafeLoader
    lambda_timeout = template["Resources"]["IngressFunction"]["Properties"]["Timeout"]
    settings = load_settings(
        _env_file=None, backend="qbusiness", qbusiness_application_id=APP, qbusiness_oauth_connection="entra",
        qbusiness_idc_application_arn=FakeSsoOauth.client_id, qbusiness_role_arn=FakeSts.role_arn,
        credentials_key=Fernet.generate_key().decode(),
    )  # fmt: skip

    class Queue:
        async def close(self, timeout: float) -> None:
            pass

    gateway = build_ingress(settings, store=SQLiteStore(tmp_path / "state.db"), queue=Queue())
    try:
        assert gateway.user_tokens.timeout.total <= lambda_timeout / 2  # the rest: token check, store, queue
    finally:
        await gateway.close()
