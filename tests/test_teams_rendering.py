"""Answers render cleanly in Teams: one test per defect seen in the Agents Playground, on the outgoing JSON."""

from __future__ import annotations

import json

from bot.teams_text import abstract, plain_text
from services.backends import Citation
from tests.conftest import ScriptedBackend, card_of, card_text

MARKDOWN_EXCERPT = (
    "- ALLOWED_**TENANTS** limits the **bot** to the listed tenants. Every other tenant gets HTTP 403, "
    'which is logged with the tenant id but never the message. ```json\n{"a": 1}\n``` More text follows here '
    "and goes on well past the limit of a citation abstract in Teams, which is short."
)
CITATIONS = [
    Citation(number=1, title="Settings", heading="Access › Tenants", source="settings.md", excerpt=MARKDOWN_EXCERPT),
    Citation(number=2, title="Deploy", heading="Deploy", source="deploy.md", excerpt='```json\n{"x": 2}\n```'),
    Citation(number=3, title="Guide", source="guide.md", excerpt="* Third source."),
]
LISTED = "Only tenants you list [1].\n\nAlso relevant:\n- **Deploy** [2]: how to deploy\n- **Guide** [3]: more"
CODE = "Run this:\n\n```python\nif ready:\n    start(" + ", ".join(f"arg{i}" for i in range(30)) + ")\n```\n"


async def answer_in(start_bot, shape: str, backend: ScriptedBackend):
    bot = await start_bot(backend=backend)
    await bot.post(bot.channel(shape).message("who may use the bot?"))
    await bot.settle()
    return bot.connector.messages()[-1]


def message_entity(call) -> dict:
    return next(e for e in call.body.get("entities", []) if e.get("type") == "https://schema.org/Message")


async def test_citation_abstracts_are_plain_short_and_titled_with_the_section(start_bot):
    final = await answer_in(start_bot, "personal", ScriptedBackend(LISTED, CITATIONS))
    first, second, _ = (c["appearance"] for c in message_entity(final)["citation"])
    assert first["name"] == "Settings › Access › Tenants" and second["name"] == "Deploy"  # no repeated heading
    assert not any(mark in first["abstract"] for mark in ("*", "`", "- ", "json"))
    assert first["abstract"].startswith("ALLOWED_TENANTS limits the bot to the listed tenants.")
    assert len(first["abstract"]) <= 160 and first["abstract"][-1] in ".…"


async def test_card_source_lines_and_snippets_have_no_list_markers_or_fence_tags(start_bot):
    final = await answer_in(start_bot, "groupChat", ScriptedBackend(LISTED, CITATIONS))
    sources = card_text(card_of(final)).split("Sources", 1)[1]
    assert "[1] **Settings › Access › Tenants** — settings.md" in sources
    assert "ALLOWED_TENANTS limits the bot" in sources and '{"x": 2}' in sources and "Third source." in sources
    assert not any(line.startswith(("- ", "* ", "json")) for line in sources.splitlines())
    assert "**TENANTS**" not in sources and "```" not in sources


async def test_every_citation_marker_stays_outside_list_items(start_bot):
    final = await answer_in(start_bot, "personal", ScriptedBackend(LISTED, CITATIONS))
    text = final.body["text"]
    assert all(f"[{n}]" in text for n in (1, 2, 3))
    assert not any(line.lstrip().startswith(("- ", "* ", "+ ")) for line in text.splitlines())
    assert "\n\n• **Deploy** [2]: how to deploy\n\n• **Guide** [3]: more" in text


async def test_personal_chat_answer_and_sources_are_one_message_with_one_label(start_bot):
    bot = await start_bot(backend=ScriptedBackend("Only tenants you list.", CITATIONS))
    await bot.post(bot.channel("personal").message("who may use the bot?"))
    await bot.settle()
    (final,) = bot.connector.messages()
    assert "attachments" not in final.body and final.body["channelData"] == {"feedbackLoopEnabled": True}
    assert [e["type"] for e in final.body["entities"]] == ["streaminfo", "https://schema.org/Message"]
    assert final.body["text"].endswith("Sources: [1] [2] [3]")  # unmarked sources are still citations
    assert [c["position"] for c in message_entity(final)["citation"]] == [1, 2, 3]


async def test_code_keeps_its_lines_in_cards_and_is_sent_as_written_in_personal_chat(start_bot):
    in_card = card_of(await answer_in(start_bot, "channel", ScriptedBackend(CODE)))
    code = next(e for e in in_card["body"] if e["type"] == "Container")
    lines = [item["inlines"][0]["text"] for item in code["items"]]
    assert lines[0] == "if ready:" and lines[1].startswith("\u00a0" * 4 + "start(arg0")
    assert all(item["inlines"][0]["fontType"] == "Monospace" for item in code["items"])

    personal = (await answer_in(start_bot, "personal", ScriptedBackend(CODE))).body["text"]
    fenced = personal.split("```python\n", 1)[1].split("```", 1)[0].splitlines()
    assert fenced == CODE.split("```python\n", 1)[1].split("```", 1)[0].splitlines()  # copied code still runs


async def test_usage_placeholders_do_not_arrive_as_html(start_bot):
    bot = await start_bot()
    await bot.post(bot.channel("personal").message("uplift"))
    await bot.settle()
    await bot.post(bot.channel("groupChat").message("explain ndcg"))  # a card: "ask `explain <metric>`"
    await bot.settle()
    sent = json.dumps([c.body for c in bot.connector.messages()], ensure_ascii=False)
    assert "‹column›" in sent and "<column>" not in sent and "&lt;" not in sent
    assert "explain ‹metric›" in sent and "<metric>" not in sent


async def test_only_generative_backends_get_the_ai_label(start_bot):
    generated = await answer_in(start_bot, "personal", ScriptedBackend("Written by a model [1].", CITATIONS))
    assert message_entity(generated)["additionalType"] == ["AIGeneratedContent"]
    retrieval = ScriptedBackend("Retrieved text [1].", CITATIONS)
    retrieval.generated = False  # what the local backend says of its answers
    retrieved = await answer_in(start_bot, "personal", retrieval)
    assert "additionalType" not in message_entity(retrieved) and message_entity(retrieved)["citation"]
    in_card = await answer_in(start_bot, "groupChat", retrieval)
    assert "entities" not in in_card.body


def test_plain_text_and_abstract():
    assert plain_text("****normalized** **entropy****") == "normalized entropy"
    assert plain_text("see [the docs](https://x.invalid) and `snake_case` and 2 * 3") == (
        "see the docs and snake_case and 2 * 3"
    )
    assert abstract("First sentence here. Second sentence goes past the limit.", 40) == "First sentence here."
    assert abstract("one two three four five six seven eight", 20) == "one two three four…"
    cut = abstract("Set DOWNLOAD_ALLOWED_HOSTS to the hosts (e.g. contoso.sharepoint.com) that files come from.", 60)
    assert cut.endswith("…")  # "e.g." inside parentheses is not a sentence end: the cut says it is a cut
    assert abstract("A note (see below. It matters) ends here. Then more words follow on.", 50) == (
        "A note (see below. It matters) ends here."
    )


async def test_placeholders_in_card_snippets_stay_visible(start_bot):
    role = Citation(number=1, title="Q Business", heading="Role", source="qbusiness.md",
                    excerpt="Trust the role arn:aws:iam::<account>:role/<gateway-role> from the worker.")  # fmt: skip
    sent = json.dumps(card_of(await answer_in(start_bot, "groupChat", ScriptedBackend("See [1].", [role]))),
                      ensure_ascii=False)  # fmt: skip
    assert "arn:aws:iam::‹account›:role/‹gateway-role›" in sent and "<account>" not in sent
