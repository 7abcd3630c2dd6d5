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
