"""A newcomer's first words to the bot: `help` in user words with admin commands only for admins, a greeting
answered as one, and `whoami` giving the ids an operator needs (with the real local backend over docs/)."""

from __future__ import annotations

import pytest

from handlers.greetings import is_greeting

ADMIN = "6f1c0e2a-0000-4000-8000-00000000e001"  # the emulator's default user (docs/local-development.md)


async def texts_for(bot, *messages: str, **channel) -> list[str]:
    for text in messages:
        await bot.post(bot.channel(**channel).message(text))
    await bot.settle()
    return [call.body.get("text", "") for call in bot.connector.messages()]


async def test_help_shows_the_admin_command_only_to_admins_and_no_jargon(start_bot):
    bot = await start_bot(admin_users=ADMIN)
    (everyone,) = await texts_for(bot, "help", aad_object_id="11111111-0000-4000-8000-000000000001")
    assert "`usage`" not in everyone and "`help`" in everyone and "`whoami`" in everyone
    assert "backend" not in everyone.lower() and "local" not in everyone.lower()
    admin = (await texts_for(bot, "help", aad_object_id=ADMIN))[-1]
    assert "`usage`" in admin


@pytest.mark.parametrize("text", ["hi", "Hello!", "hey there", "Good morning 👋", "hi bot"])
async def test_a_greeting_gets_a_greeting_and_what_the_bot_can_do(start_bot, text):
    bot = await start_bot()
    (answer,) = await texts_for(bot, text, user_name="Alex Wilber")
    assert answer.startswith("Hello Alex! I am your company's AI assistant") and "`help`" in answer
    assert "found nothing" not in answer.lower()


def test_only_whole_greetings_count():
    assert not any(map(is_greeting, ["hi, how do I restrict the bot to our tenants?", "hello world program",
                                     "history", "highlights", "hey " * 20]))  # fmt: skip


async def test_whoami_gives_the_ids_an_operator_lists(start_bot):
    bot = await start_bot()
    (answer,) = await texts_for(bot, "whoami", user_name="Alex Wilber")
    assert "**Alex Wilber**" in answer and f"`{ADMIN}` (what ADMIN_USERS lists)" in answer
    assert "tenant id: `" in answer
