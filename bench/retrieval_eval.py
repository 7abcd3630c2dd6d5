"""Retrieval quality of the local backend on real third-party manuals, beside naive whole-page BM25.

Corpora: HTML manuals that Debian packages install, none written by this project (install them with
`make bench-retrieval`, which runs apt-get for the missing ones):

  python      python3-doc          /usr/share/doc/python3*-doc/html        (the corpus the early rules were tuned on)
  postgresql  postgresql-doc-15    /usr/share/doc/postgresql-doc-*/html    (about 1,170 pages)
  sqlite      sqlite3-doc          /usr/share/doc/sqlite3                  (about 770 pages)
  git         git-doc              /usr/share/doc/git-doc                  (about 240 pages)
  gateway     this repository      README.md and docs/*.md                 (what a newcomer's `make chat` searches)

Questions: bench/corpora/<name>.toml, written in plain words before any tuning on that corpus and checked
against the pages only for paths and phrases. Prints per corpus, for ours and the baseline in the same run:
hit@1 and hit@3 (an answer page among the first 1 / 3 cited pages), key phrases (the answer text holds what
a useful answer holds), honest not-found (out-of-corpus questions answered "I found nothing"); then indexing
time and answer latency p50/p95. Goals (issue 22, on a corpus not used for tuning): hit@1 >= 0.70,
hit@3 >= 0.90, key phrases >= 0.80, not found >= 4/5, p95 <= 100 ms.

Usage: python -m bench.retrieval_eval [--corpus NAME ...] [--verbose]   (or `make bench-retrieval`)
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

CORPORA_DIR = Path(__file__).with_name("corpora")
# name -> (Debian package, glob of its HTML folder)
CORPORA = {
    "python": ("python3-doc", "/usr/share/doc/python3*-doc/html"),
    "postgresql": ("postgresql-doc-15", "/usr/share/doc/postgresql-doc-*/html"),
    "sqlite": ("sqlite3-doc", "/usr/share/doc/sqlite3"),
    "git": ("git-doc", "/usr/share/doc/git-doc"),
    "gateway": ("this repository", str(Path(__file__).resolve().parents[1])),
}
GOALS = {"hit@1": 0.70, "hit@3": 0.90, "key phrases": 0.80}


@dataclass
class Result:
    """What one system did with one question: the pages it cited in order, its text, and whether it gave up."""

    pages: list[str]
    text: str
    not_found: bool


def find_corpus(name: str) -> Path | None:
    """Return the HTML folder of corpus `name`, or None when its package is not installed."""
    found = sorted(glob.glob(CORPORA[name][1]))  # python3*-doc: not python3-pip/html and other packages' docs
    return Path(found[0]).resolve() if found else None


def load_questions(name: str) -> list[dict]:
    """Return the questions of corpus `name` (bench/corpora/<name>.toml)."""
    return tomllib.loads((CORPORA_DIR / f"{name}.toml").read_text(encoding="utf-8"))["question"]


def link_corpus(name: str, corpus: Path, target: Path) -> int:
    """Link corpus `name`'s documents under `target` (the gateway's README.md and docs/, or a manual's HTML
    pages); return how many."""
    if name != "gateway":
        return html_only(corpus, target)
    files = [corpus / "README.md", *sorted((corpus / "docs").glob("*.md"))]
    for file in files:
        link = target / file.relative_to(corpus)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(file)
    return len(files)


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
        for page in sorted(folder.rglob("*")):
            if page.suffix not in (".html", ".md"):
                continue
            text = page.read_text(encoding="utf-8", errors="replace")
            if page.suffix == ".html":
                tree = LexborHTMLParser(text)
                for node in tree.css("script, style"):
                    node.decompose()
                text = tree.body.text(separator=" ") if tree.body else ""
            rows.append((page.relative_to(folder).as_posix(), text))
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
    """Return hit@1, hit@3, key phrases (shares of answerable questions) and honest not-found (k/n)."""
    answerable = [(q, r) for q, r in zip(questions, results, strict=True) if q["pages"]]
    outside = [(q, r) for q, r in zip(questions, results, strict=True) if not q["pages"]]
    hit1 = sum(bool(r.pages) and r.pages[0] in q["pages"] for q, r in answerable) / len(answerable)
    hit3 = sum(any(p in q["pages"] for p in r.pages[:3]) for q, r in answerable) / len(answerable)
    content = sum(any(e.lower() in r.text.lower() for e in q["expect"]) for q, r in answerable) / len(answerable)
    honest = sum(r.not_found for _, r in outside)
    return {"hit@1": hit1, "hit@3": hit3, "key phrases": content, "not found": f"{honest}/{len(outside)}"}


@dataclass
class CorpusRun:
    """One corpus evaluated: the scores of ours and of the baseline, latencies and indexing time."""

    name: str
    pages: int
    questions: list[dict]
    ours: list[Result]
    baseline: list[Result]
    latencies: list[float]
    index_seconds: float
    naive_latencies: list[float]


def evaluate(name: str, corpus: Path, *, repeats: int = 2) -> CorpusRun:
    """Index corpus `name` in a temporary folder and ask its questions of ours and of the baseline."""
    questions = load_questions(name)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "pages")
        pages = link_corpus(name, corpus, folder)
        started = time.perf_counter()
        index = KnowledgeIndex(folder, Path(tmp, "index.db"), refresh_interval=3600)
        index.refresh(force=True)
        index_seconds = time.perf_counter() - started
        naive = NaiveBM25(folder)
        backend = LocalBackend(index)
        ours, latencies = [], []
        for question in questions:
            result, elapsed = ask_ours(backend, question["text"])
            ours.append(result)
            latencies.append(elapsed)
        for _ in range(repeats):  # more samples for the percentiles, each pass as uncached as the first
            index.clear_caches()
            latencies += [ask_ours(backend, q["text"])[1] for q in questions]
        baseline, naive_latencies = [], []
        for _ in range(repeats + 1):  # the same number of samples, as the reference for a loaded machine
            for question in questions:
                started = time.perf_counter()
                result = naive.ask(question["text"])
                naive_latencies.append(time.perf_counter() - started)
                baseline.append(result)
        index.close()
    baseline = baseline[: len(questions)]
    return CorpusRun(name, pages, questions, ours, baseline, latencies, index_seconds, naive_latencies)


def print_run(run: CorpusRun, verbose: bool) -> None:
    """Print one corpus's table (and with `verbose` each question's pages and answer)."""
    if verbose:
        for question, mine, theirs in zip(run.questions, run.ours, run.baseline, strict=True):
            right = mine.pages[:1] and mine.pages[0] in question["pages"] if question["pages"] else mine.not_found
            print(f"{'ok ' if right else '-- '}{question['text']}\n    want {question['pages']}")
            print(f"    ours {mine.pages[:3]}  naive {theirs.pages}")
            print("    " + mine.text[:300].replace("\n", "\n    "))
    answerable = sum(1 for q in run.questions if q["pages"])
    print(f"\n{run.name}: {run.pages} pages; {answerable} answerable + "
          f"{len(run.questions) - answerable} out-of-corpus questions")  # fmt: skip
    print(f"{'':18}{'ours':>10}{'naive BM25':>12}{'goal':>10}")
    mine, theirs = score(run.questions, run.ours), score(run.questions, run.baseline)
    for key in mine:
        shown = [f"{v:.2f}" if isinstance(v, float) else v for v in (mine[key], theirs[key])]
        goal = f">= {GOALS[key]:.2f}" if key in GOALS else ">= 4/5"
        print(f"{key:18}{shown[0]:>10}{shown[1]:>12}{goal:>10}")
    ms = sorted(1000 * x for x in run.latencies)
    p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    print(f"answer latency    p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(ms)} answers (goal p95 <= 100 ms)")
    naive = sorted(1000 * x for x in run.naive_latencies)
    n50, n95 = statistics.median(naive), naive[int(0.95 * (len(naive) - 1))]
    print(f"naive BM25 search p50 {n50:.1f} ms, p95 {n95:.1f} ms in the same run (ours/naive p95: {p95 / n95:.1f}x)")
    print(f"indexing          {run.pages} pages in {run.index_seconds:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="corpora to run (default all)")
    parser.add_argument("--verbose", action="store_true", help="print each question's cited pages and answer")
    args = parser.parse_args()
    ran = 0
    for name in args.corpus or list(CORPORA):
        corpus = find_corpus(name)
        if corpus is None:
            print(f"SKIP {name}: {CORPORA[name][0]} is not installed (apt-get install {CORPORA[name][0]})")
            continue
        print_run(evaluate(name, corpus), args.verbose)
        ran += 1
    print(f"\nmachine           {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    return 0 if ran or not args.corpus else 1


if __name__ == "__main__":
    sys.exit(main())
