"""Identity comes from the channel, not the body (issue 19, item 5).

With ALLOWED_CHANNELS=msteams,webchat, a Web Chat client writes `from.aadObjectId` itself: it is trusted only
on msteams. Elsewhere the user has no Entra id (no admin features, no per-user identity such as the Q Business
credential vault), and their user id and conversation key are namespaced by the channel.
"""

from __future__ import annotations

from bot.activity import parse_activity, to_turn
from bot.emulator.activities import TeamsChannel
from bot.user_tokens import identity_of
from tests.conftest import ScriptedBackend

ADMIN = "6f1c0e2a-0000-4000-8000-00000000e001"  # the emulator's user, an admin below


def webchat(activity: dict) -> dict:
    return {**activity, "channelId": "webchat"}


async def test_a_web_chat_client_claiming_an_admins_id_does_not_get_the_usage_card(start_bot):
    bot = await start_bot(backend=ScriptedBackend(), admin_users=ADMIN, allowed_channels="msteams,webchat")
    assert (await bot.post(webchat(bot.channel().message("usage")))).status == 200
    await bot.settle()
    (reply,) = bot.connector.messages()
    assert "for the gateway's administrators" in reply.body["text"] and "attachments" not in reply.body
    assert (await bot.post(bot.channel().message("usage"))).status == 200  # the same id on Teams is the admin
    await bot.settle()
    assert "attachments" in bot.connector.messages()[-1].body


def test_the_body_s_entra_id_is_kept_on_teams_only_and_other_channels_are_namespaced():
    activity = TeamsChannel("https://smba.trafficmanager.net/emea/").message("hello")
    teams = to_turn(parse_activity(activity))
    other = to_turn(parse_activity(webchat(activity)))
    assert teams.user.aad_object_id == ADMIN and teams.user.id == activity["from"]["id"]
    assert other.user.aad_object_id == "" and other.user.id == "webchat:" + activity["from"]["id"]
    assert other.conversation.key == "webchat:" + teams.conversation.key  # never a Teams chat's state


def test_a_web_chat_user_has_no_identity_to_act_as():
    activity = TeamsChannel("https://smba.trafficmanager.net/emea/").message("hello")
    service = object()  # a token service: never asked for a Web Chat user
    identity = identity_of(to_turn(parse_activity(webchat(activity))), service)
    assert identity.user_id == "" and identity.tokens is None
    teams = identity_of(to_turn(parse_activity(activity)), service)
    assert teams.user_id == ADMIN and teams.tokens is not None


def _webchat_from(activity: dict, user: str, tenant: str) -> dict:
    activity = webchat({**activity, "from": {**activity["from"], "id": user}})
    return {**activity, "channelData": {"tenant": {"id": tenant}}}


async def test_a_web_chat_client_cannot_claim_a_teams_tenant(start_bot):
    """The claimed tenant neither passes ALLOWED_TENANTS nor drains (or, rotated, escapes) a tenant's bucket."""
    allowed = "72f988bf-0000-4000-8000-000000000001"  # the emulator's Teams tenant
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend, allowed_channels="msteams,webchat", allowed_tenants=allowed,
                          tenant_turns_per_minute=6, tenant_turn_burst=4)  # fmt: skip
    claimed = await bot.post(_webchat_from(bot.channel().message("q"), "u0", allowed))
    assert claimed.status == 403  # Web Chat asserts no Entra tenant, whatever its body says
    for i in range(6):
        assert (await bot.post(bot.channel(user_id=f"29:user-{i}").message("hello"))).status == 200
    await bot.settle()
    assert len(backend.questions) == 4  # the Teams tenant's own burst, none spent by the Web Chat client
    rotating_backend = ScriptedBackend()
    rotating = await start_bot(backend=rotating_backend, allowed_channels="msteams,webchat",
                               tenant_turns_per_minute=6, tenant_turn_burst=4)  # fmt: skip
    for i in range(12):  # a new user id and tenant id per message: one channel-wide bucket still holds
        tenant = f"72f988bf-0000-4000-8000-{i:012d}"
        assert (await rotating.post(_webchat_from(rotating.channel().message(f"q{i}"), f"u{i}", tenant))).status == 200
    await rotating.settle()
    assert len(rotating_backend.questions) == 4
