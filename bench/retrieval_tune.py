"""Leave-one-corpus-out choice of the local backend's ranking settings.

Each corpus of bench/retrieval_eval.py is indexed once; every setting of a small grid is scored on every
corpus; then, for each corpus held out in turn, the setting that scores best on the *other* corpora is chosen
and the held-out corpus's figures at that setting are printed: those are the figures to quote for documents
no one tuned on. Python's documentation, on which the earlier rules were tuned by hand, is always on the
training side and never reported as held out.

(A pairwise logistic regression over all the re-rank features was tried too and generalised worse than the
hand weights on two of the three held-out corpora, so the grid stays small: see docs/local-backend.md.)

Usage: python -m bench.retrieval_tune [--corpus NAME ...]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import services.backends.local as local
import services.knowledge as knowledge
from bench.retrieval_eval import CORPORA, GOALS, Result, find_corpus, link_corpus, load_questions, score
from services.backends.local import LocalBackend
from services.knowledge import KnowledgeIndex

# The grid: the weights of the page ranking, of the question's words opening a heading ("topic"), the idf
# exponent of the question's words, and the three features added on 2026-12-08: pseudo-relevance feedback
# ("expansion") and the page's kind (long_page, code_page: penalties). To keep the grid small on a shared
# 2-core machine, the file-name and lead weights stay at the code's 0.5 (in the grid before, with 0), page_rank
# and topic lost their extreme values (2.0; 0.0), and the share of the question a passage with the words in
# its headings must hold to be quoted stays at its 0.45.
GRID = {
    "page_rank": [0.5, 1.0],
    "topic": [0.5, 1.0],
    "_IDF_POWER": [1.0, 0.5],
    "expansion": [0.0, 0.3, 0.6],
    "long_page": [0.0, -0.2],
    "code_page": [0.0, -0.3],
}
# The features added on 2026-12-08: the held-out figures are printed with them and, chosen the same way among
# the settings where their weights are 0, without them (the comparison in the same run).
NEW = ("expansion", "long_page", "code_page")


def memoise_candidates() -> None:
    """The candidates and their features do not depend on the weights: search once per question and idf
    exponent, re-score for every setting (the same ranking as without the memo, many times faster)."""
    search = KnowledgeIndex.candidates
    memo: dict = {}

    def candidates(self: KnowledgeIndex, query, limit: int = 5) -> list:
        key = (id(self), tuple(query.stems.items()), query.phrases, limit)
        if key not in memo:  # with the feedback pass, which is skipped when the expansion weighs nothing
            weights, knowledge.WEIGHTS = knowledge.WEIGHTS, {**knowledge.WEIGHTS, "expansion": 1.0}
            try:
                memo[key] = search(self, query, limit)
            finally:
                knowledge.WEIGHTS = weights
        return memo[key]

    KnowledgeIndex.candidates = candidates


def install(setting: dict) -> None:
    for key, value in setting.items():
        if key in knowledge.WEIGHTS:
            knowledge.WEIGHTS = {**knowledge.WEIGHTS, key: value}
        else:
            setattr(local if hasattr(local, key) else knowledge, key, value)


def objective(figures: dict) -> float:
    """The single number compared: the mean of hit@1, hit@3 and key phrases, less 0.5 when fewer than 4 in 5
    out-of-corpus questions were answered "I found nothing"."""
    honest, asked = (int(n) for n in figures["not found"].split("/"))
    penalty = 0.5 if honest < 0.8 * asked else 0.0
    return (figures["hit@1"] + figures["hit@3"] + figures["key phrases"]) / 3 - penalty


def answer_all(backend: LocalBackend, questions: list[dict]) -> dict:
    results = []
    for question in questions:
        text, citations, _ = backend.respond(question["text"])
        results.append(Result(list(dict.fromkeys(c.source for c in citations)), text, not citations))
    return score(questions, results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    args = parser.parse_args()
    names = [n for n in (args.corpus or list(CORPORA)) if find_corpus(n)]
    settings = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    memoise_candidates()
    table: dict[tuple[int, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            folder = Path(tmp, name)
            link_corpus(name, find_corpus(name), folder)
            index = KnowledgeIndex(folder, Path(tmp, f"{name}.db"), refresh_interval=3600)
            index.refresh(force=True)
            backend, questions = LocalBackend(index), load_questions(name)
            for i, setting in enumerate(settings):
                install(setting)
                table[i, name] = answer_all(backend, questions)
            index.close()
            print(f"scored {name}", file=sys.stderr)
    for i, setting in enumerate(settings):
        shown = "  ".join(f"{n} {objective(table[i, n]):.2f}" for n in names)
        print(f"setting {i:2d} {setting}: {shown}")
    without = [i for i, setting in enumerate(settings) if not any(setting.get(k) for k in NEW)]
    for title, allowed in (("with the new features", range(len(settings))), ("without them", without)):
        print(f"\n{title}:\nheld out    chosen  hit@1  hit@3  phrases  not found   (goals {GOALS}, not found >= 4/5)")
        for held in [n for n in names if n != "python"]:
            train = [n for n in names if n != held]
            chosen = max(allowed, key=lambda i: sum(objective(table[i, n]) for n in train))
            f = table[chosen, held]
            print(f"{held:11} {chosen:6d}  {f['hit@1']:.2f}   {f['hit@3']:.2f}   {f['key phrases']:.2f}     "
                  f"{f['not found']:>5}")  # fmt: skip
    overall = max(range(len(settings)), key=lambda i: sum(objective(table[i, n]) for n in names))
    print(f"\nbest on all corpora: setting {overall} {settings[overall]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
