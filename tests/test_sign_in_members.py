"""Group chats with Q Business as the user (idc): one member's sign-in or conversation never stands in for
another's (issue 19, items 11 and 12).

- The SSO token-exchange dedupe key is (user, connection, exchange id): another member's exchange naming
  Alice's card id does not make Alice's own exchange a "duplicate" answered 200 without signing her in.
- A delivery that finds this user's exchange still in progress elsewhere answers 412 (nothing exchanged yet).
"""

from __future__ import annotations

import json

from bot.emulator.activities import TeamsChannel
from tests.test_qbusiness import aws  # noqa: F401 - the fixture
from tests.test_qbusiness_teams import ask, invoke, start_q, token_service  # noqa: F401 - fixtures


def member(bot, name: str, base_id: str) -> TeamsChannel:
    """`name` in the group chat `base_id`."""
    return TeamsChannel(bot.connector.url, shape="groupChat", user_id=f"29:{name}", user_name=name.title(),
                        aad_object_id=f"{name}-oid", base_id=base_id)  # fmt: skip


async def test_another_members_exchange_with_alices_card_id_does_not_swallow_hers(start_q, aws, token_service):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q()
    alice, bob = member(bot, "alice", "chat1"), member(bot, "bob", "chat1")
    await ask(bot, alice, "what is our VPN?")  # Alice gets the sign-in card (card id x-1)
    token_service.sso_tokens |= {"teams-sso-bob": "entra-bob", "teams-sso-alice": "entra-alice"}
    bob_press = await bot.post(invoke(bob, "signin/tokenExchange",
                                      {"id": "x-1", "connectionName": "entra", "token": "teams-sso-bob"}))  # fmt: skip
    assert bob_press.status == 200  # Bob's own token was exchanged
    alices = await bot.post(invoke(alice, "signin/tokenExchange",
                                   {"id": "x-1", "connectionName": "entra", "token": "teams-sso-alice"}))  # fmt: skip
    assert alices.status == 200
    await bot.settle()
    assert "what is our VPN?" in [r["userMessage"] for r in qbusiness.requests]  # her question was answered
    assert any("for alice" in json.dumps(call.body) for call in bot.connector.calls)  # with her credentials


async def test_an_exchange_in_progress_elsewhere_answers_412_not_200(start_q):  # noqa: F811
    bot = await start_q()
    alice = member(bot, "alice", "chat2")
    busy = await bot.gateway.store.acquire("signin|29:alice|entra|x-7", "accepting", 30)  # another delivery
    assert busy.ok
    response = await bot.post(invoke(alice, "signin/tokenExchange",
                                     {"id": "x-7", "connectionName": "entra", "token": "t"}))  # fmt: skip
    assert response.status == 412


async def test_in_an_idc_group_chat_each_member_keeps_their_own_q_conversation(start_q, aws, token_service):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q()
    token_service.tokens |= {"29:alice": "entra-alice", "29:bob": "entra-bob"}  # both signed in
    alice, bob = member(bot, "alice", "chat3"), member(bot, "bob", "chat3")
    await ask(bot, alice, "first from alice")
    await ask(bot, bob, "first from bob")
    await ask(bot, alice, "second from alice")
    first_alice, first_bob, second_alice = qbusiness.requests
    assert "conversationId" not in first_bob  # not Alice's conversation, continued with Bob's credentials
    assert second_alice["conversationId"] and second_alice["conversationId"] != first_bob.get("conversationId")
    assert "conversationId" not in first_alice


async def test_another_members_submit_press_is_refused_without_running_the_action(start_q, aws):  # noqa: F811
    """Action.Submit (a message, not an invoke): the refusal is the only reply, no "Running the action…"."""
    from tests.conftest import card_of
    from tests.fakes.qbusiness import ticket_review

    qbusiness, _, _ = aws
    qbusiness.review = ticket_review()
    bot = await start_q("anonymous")
    alice, bob = member(bot, "alice", "chat4"), member(bot, "bob", "chat4")
    await ask(bot, alice, "open a ticket: VPN broken")
    confirm = card_of(bot.connector.messages()[-1])["actions"][0]
    before = len(bot.connector.messages())
    assert (await bot.post(bob.submit({"verb": "qbusiness_confirm", **confirm["data"]}))).status == 200
    await bot.settle()
    replies = [m.body.get("text", "") for m in bot.connector.messages()[before:]]
    assert len(replies) == 1 and "Running the action" not in replies[0]
    assert not any("actionExecution" in r for r in qbusiness.requests)
