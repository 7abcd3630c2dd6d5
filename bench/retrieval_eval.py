"""Retrieval quality of the local backend on a real third-party manual, beside naive whole-page BM25.

Corpus: the Python documentation that Debian's `python3-doc` installs (HTML under /usr/share/doc/python3*/html).
Questions: bench/retrieval_questions.toml, written and checked by hand (answer pages, expected content,
and out-of-corpus questions). Prints, for ours and for the baseline in the same run: hit@1 and hit@3
(an answer page among the first 1 / 3 cited pages), answer content (the answer text holds what a useful
answer holds), not-found honesty (out-of-corpus questions answered "I found nothing"); then the time to
index the corpus and the same corpus twice (about 1,000 pages), and answer latency p50/p95.
Goals (issue 14): hit@1 >= 0.75, hit@3 >= 0.92, >= 4/5 honest, p95 <= 100 ms, 1,000 pages in <= 10 s.

Usage: python -m bench.retrieval_eval [--html DIR] [--verbose]   (or `make bench-retrieval`)
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from services.backends import FinalAnswer, Question
from services.backends.local import LocalBackend
from services.knowledge import KnowledgeIndex, query_terms

QUESTIONS = Path(__file__).with_name("retrieval_questions.toml")


@dataclass
class Result:
    """What one system did with one question: the pages it cited in order, its text, and whether it gave up."""

    pages: list[str]
    text: str
    not_found: bool


def find_corpus(explicit: str | None) -> Path | None:
    """Return the python3-doc HTML folder, or None when the package is not installed."""
    if explicit:
        return Path(explicit) if Path(explicit).is_dir() else None
    found = sorted(glob.glob("/usr/share/doc/python3*-doc/html"))  # not python3-pip/html and other packages' docs
    return Path(found[0]).resolve() if found else None


def html_only(corpus: Path, target: Path, copies: int = 1) -> int:
    """Link the corpus's HTML pages (not Sphinx's _sources/_static) under `target`; return how many."""
    count = 0
    for page in corpus.rglob("*.html"):
        rel = page.relative_to(corpus)
        if rel.parts[0].startswith("_"):
            continue
        for copy in range(copies):
            link = target / (f"copy{copy}" if copies > 1 else "") / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(page)
            count += 1
    return count


class NaiveBM25:
    """The baseline: each page's whole text (navigation and all) in one FTS5 column, plain BM25."""

    def __init__(self, folder: Path) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE pages USING fts5(path UNINDEXED, body, tokenize='porter unicode61')")
        rows = []
        for page in folder.rglob("*.html"):
            tree = LexborHTMLParser(page.read_text(encoding="utf-8", errors="replace"))
            for node in tree.css("script, style"):
                node.decompose()
            rows.append((page.relative_to(folder).as_posix(), tree.body.text(separator=" ") if tree.body else ""))
        self.db.executemany("INSERT INTO pages VALUES (?, ?)", rows)

    def ask(self, text: str) -> Result:
        terms = query_terms(text)
        match = " OR ".join(f'"{t}"' for t in terms)
        rows = self.db.execute(
            "SELECT path, snippet(pages, 1, '', '', '…', 40) FROM pages WHERE pages MATCH ? ORDER BY rank LIMIT 3",
            (match,),
        ).fetchall()
        return Result([r[0] for r in rows], rows[0][1] if rows else "", not rows)


def ask_ours(backend: LocalBackend, text: str) -> tuple[Result, float]:
    """Ask the local backend as the gateway does; return the result and the seconds it took."""

    async def run() -> FinalAnswer:
        events = [e async for e in backend.answer(Question(text=text, conversation_key="bench"))]
        return events[-1]

    started = time.perf_counter()
    final = asyncio.run(run())
    elapsed = time.perf_counter() - started
    pages = list(dict.fromkeys(c.source for c in final.citations))
    return Result(pages, final.text, not final.citations), elapsed


def score(questions: list[dict], results: list[Result]) -> dict[str, float | str]:
    """Return hit@1, hit@3, answer content (shares of answerable questions) and honest not-found (k/n)."""
    answerable = [(q, r) for q, r in zip(questions, results, strict=True) if q["pages"]]
    outside = [(q, r) for q, r in zip(questions, results, strict=True) if not q["pages"]]
    hit1 = sum(bool(r.pages) and r.pages[0] in q["pages"] for q, r in answerable) / len(answerable)
    hit3 = sum(any(p in q["pages"] for p in r.pages[:3]) for q, r in answerable) / len(answerable)
    content = sum(any(e.lower() in r.text.lower() for e in q["expect"]) for q, r in answerable) / len(answerable)
    honest = sum(r.not_found for _, r in outside)
    return {"hit@1": hit1, "hit@3": hit3, "answer content": content, "not found": f"{honest}/{len(outside)}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", help="the python3-doc HTML folder (default: found under /usr/share/doc)")
    parser.add_argument("--verbose", action="store_true", help="print each question's cited pages and answer")
    args = parser.parse_args()
    corpus = find_corpus(args.html)
    if corpus is None:
        print(
            "SKIP retrieval_eval: python3-doc is not installed (apt-get install python3-doc, or make bench-retrieval)"
        )
        return 0
    questions = tomllib.loads(QUESTIONS.read_text(encoding="utf-8"))["question"]
    with tempfile.TemporaryDirectory() as tmp:
        folder, doubled = Path(tmp, "once"), Path(tmp, "twice")
        pages = html_only(corpus, folder)
        twice = html_only(corpus, doubled, copies=2)
        started = time.perf_counter()
        index = KnowledgeIndex(folder, Path(tmp, "index.db"), refresh_interval=3600)
        index.refresh(force=True)
        index_seconds = time.perf_counter() - started
        started = time.perf_counter()
        big = KnowledgeIndex(doubled, Path(tmp, "twice.db"))
        big.refresh(force=True)
        twice_seconds = time.perf_counter() - started
        big.close()
        started = time.perf_counter()
        naive = NaiveBM25(folder)
        naive_seconds = time.perf_counter() - started

        backend = LocalBackend(index)
        ours, latencies = [], []
        for question in questions:
            result, elapsed = ask_ours(backend, question["text"])
            ours.append(result)
            latencies.append(elapsed)
        for _ in range(2):  # more samples for the percentiles
            latencies += [ask_ours(backend, q["text"])[1] for q in questions]
        baseline = [naive.ask(q["text"]) for q in questions]
        if args.verbose:
            for question, mine, theirs in zip(questions, ours, baseline, strict=True):
                right = mine.pages[:1] and mine.pages[0] in question["pages"] if question["pages"] else mine.not_found
                mark = "ok " if right else "-- "
                print(f"{mark}{question['text']}\n    want {question['pages']}")
                print(f"    ours {mine.pages}  naive {theirs.pages}")
                print("    " + mine.text[:300].replace("\n", "\n    "))
        index.close()

    answerable = sum(1 for q in questions if q["pages"])
    outside = len(questions) - answerable
    print(f"Corpus: {corpus} ({pages} HTML pages); {answerable} answerable + {outside} out-of-corpus questions")
    print(f"{'':18}{'ours':>10}{'naive BM25':>12}{'goal':>10}")
    goals = {"hit@1": ">= 0.75", "hit@3": ">= 0.92", "answer content": "", "not found": ">= 4/5"}
    mine, theirs = score(questions, ours), score(questions, baseline)
    for key in mine:
        a, b = mine[key], theirs[key]
        shown = [f"{v:.2f}" if isinstance(v, float) else v for v in (a, b)]
        print(f"{key:18}{shown[0]:>10}{shown[1]:>12}{goals[key]:>10}")
    ms = sorted(1000 * x for x in latencies)
    p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    print(f"answer latency    p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(ms)} answers (goal p95 <= 100 ms)")
    print(
        f"indexing          {pages} pages in {index_seconds:.2f} s; the corpus twice ({twice} pages) in "
        f"{twice_seconds:.2f} s (goal 1,000 pages <= 10 s); naive page index {naive_seconds:.2f} s"
    )
    print(f"machine           {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
