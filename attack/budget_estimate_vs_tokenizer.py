"""How well services.backends.base.budget_chars (a reservation takes three of its characters a token)
covers what a real tokenizer counts: Anthropic's published Claude tokenizer (tokenizer.json shipped in the
`anthropic` SDK up to 0.38, read with HF `tokenizers`), installed outside the venv with
  .venv/bin/pip install --no-deps --target /tmp/a19d/tok anthropic==0.34.2 tokenizers==0.20.3
Prints, per kind of text, real tokens / reserved tokens (above 1.0 = the budget under-reserves).

Run: .venv/bin/python attack/budget_estimate_vs_tokenizer.py
"""

import base64
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, "/tmp/a19d/tok")

from tokenizers import Tokenizer  # noqa: E402

from services.backends.base import budget_chars  # noqa: E402

tok = Tokenizer.from_file(str(Path("/tmp/a19d/tok/anthropic/tokenizer.json")))
rng = random.Random(4)
N = 20_000
code = Path("bot/gateway.py").read_text()[:N]
texts = {
    "english prose (docs)": Path("docs/architecture.md").read_text()[:N],
    "python code": code,
    "random printable ASCII": "".join(rng.choice(string.printable[:94]) for _ in range(N)),
    "base64 of random bytes": base64.b64encode(rng.randbytes(N * 3 // 4)).decode()[:N],
    "hex digits": rng.randbytes(N // 2).hex(),
    "decimal digits": "".join(rng.choice(string.digits) for _ in range(N)),
    "random letters a-zA-Z": "".join(rng.choice(string.ascii_letters) for _ in range(N)),
    "uuid list": " ".join(str(__import__("uuid").UUID(int=rng.getrandbits(128))) for _ in range(N // 37)),
    "punctuation runs": "".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(N)),
    "chinese": "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(N // 3)),
    "mixed scripts": "".join(rng.choice(["ж", "α", "ש", "ع", "क", "한", "a", "😀", "́", " "]) for _ in range(N // 3)),
    "emoji": "".join(chr(rng.randint(0x1F600, 0x1F64F)) for _ in range(N // 6)),
    "combining marks": "".join(rng.choice("a\u0301\u0302\u0308\u0327") for _ in range(N)),
}
worst = 0.0
for name, text in texts.items():
    real = len(tok.encode(text, add_special_tokens=False).ids)
    reserved = -(-budget_chars(text) // 3)
    ratio = real / reserved
    worst = max(worst, ratio)
    print(f"{name:26} chars={len(text):6} reserved={reserved:6} real={real:6} real/reserved={ratio:5.2f}")
print(f"worst real/reserved: {worst:.2f}")
