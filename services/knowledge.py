"""A full-text index of a folder of documents in SQLite FTS5 (BM25 ranking, snippets).

The index lives in its own SQLite file and follows the folder: files added, changed or removed are
re-indexed on the next search (checked at most every `refresh_interval` seconds).
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.documents import SUPPORTED_SUFFIXES, parse_document

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    path UNINDEXED, position UNINDEXED, title, heading, body, tokenize = 'porter unicode61');
"""
# Words that carry no meaning for retrieval, and generic verbs of questions ("how do I change…"):
# dropping them keeps BM25 on the content words.
STOP_WORDS = frozenset(
    """a about an and any are as at be been but by can could do does did for from has have how i if in into
    is it its me my no not of on or our please should so tell than that the their them then there these
    they this those to us was we were what when where which who why will with would you your change
    changes changed get gets make makes need needs want wants use used using work works happen happens
    find know see""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
# bm25() column weights: path, position (unindexed), title, heading, body. Headings name what a
# section is about, so a match there counts four times a match in running text.
_WEIGHTS = "0.0, 0.0, 2.0, 4.0, 1.0"


@dataclass(frozen=True)
class Passage:
    """A search hit: `path` is relative to the folder; `score` is BM25 (lower is better)."""

    path: str
    position: int
    title: str
    heading: str
    body: str
    snippet: str
    score: float
    coverage: float = 1.0


def _idf(total: int, containing: int) -> float:
    """BM25's inverse document frequency (always positive)."""
    return math.log((total - containing + 0.5) / (containing + 0.5) + 1.0)


def _clean_snippet(snippet: str) -> str:
    """One line of plain text: no line breaks or list markers, no code ticks around highlighted words."""
    return " ".join(snippet.replace("`", "").split())


def query_terms(text: str) -> list[str]:
    """Return the lower-cased content words of `text` (stop words dropped unless nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(text) if len(w) > 1 or w.isdigit()]
    content = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(content or words))


class KnowledgeIndex:
    """Index of the supported documents (Markdown, text, HTML) under `folder`."""

    def __init__(self, folder: str | Path, index_path: str | Path = ":memory:", refresh_interval: float = 2.0):
        self.folder = Path(folder)
        self.refresh_interval = refresh_interval
        if str(index_path) != ":memory:":
            Path(index_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(index_path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._checked_at = float("-inf")

    def document_count(self) -> int:
        """Return how many files are indexed."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM files").fetchone()[0]

    def refresh(self, force: bool = False) -> int:
        """Re-index files that changed since the last check; return how many files were (re)indexed or removed."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked_at < self.refresh_interval:
                return 0
            self._checked_at = now
            return self._sync()

    def _sync(self) -> int:
        on_disk: dict[str, tuple[int, int]] = {}
        if self.folder.is_dir():
            for path in self.folder.rglob("*"):
                if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
                    stat = path.stat()
                    on_disk[path.relative_to(self.folder).as_posix()] = (stat.st_mtime_ns, stat.st_size)
        known = {row[0]: (row[1], row[2]) for row in self._db.execute("SELECT path, mtime_ns, size FROM files")}
        changed = [p for p, sig in on_disk.items() if known.get(p) != sig]
        removed = [p for p in known if p not in on_disk]
        if not changed and not removed:
            return 0
        self._db.execute("BEGIN")
        try:
            for rel in removed + changed:
                self._db.execute("DELETE FROM passages WHERE path = ?", (rel,))
                self._db.execute("DELETE FROM files WHERE path = ?", (rel,))
            for rel in changed:
                self._index_file(rel, on_disk[rel])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        log.info("knowledge index: %d file(s) indexed, %d removed", len(changed), len(removed))
        return len(changed) + len(removed)

    def _index_file(self, rel: str, signature: tuple[int, int]) -> None:
        try:
            document = parse_document(self.folder / rel)
        except OSError as error:  # vanished or unreadable between listing and reading: skip, retry next time
            log.warning("knowledge index: cannot read %s: %s", rel, error)
            return
        self._db.executemany(
            "INSERT INTO passages (path, position, title, heading, body) VALUES (?, ?, ?, ?, ?)",
            [(rel, i, document.title, s.heading, s.body) for i, s in enumerate(document.sections)],
        )
        self._db.execute("INSERT INTO files VALUES (?, ?, ?)", (rel, *signature))

    def search(self, text: str, limit: int = 5) -> list[Passage]:
        """Return up to `limit` passages that best match the words of `text`, best first.

        Candidates are found with BM25 over any of the words, then ordered by `coverage` and BM25 within
        equal coverage, so a passage with every word beats one that repeats a single rare word.
        `coverage` is the share of the question's words a passage contains, each word weighted by its
        BM25 idf, so a word found everywhere ("bot" in a bot's manual) hardly counts.
        """
        self.refresh()
        terms = query_terms(text)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        sql = (
            f"SELECT rowid, path, position, title, heading, body, snippet(passages, 4, '**', '**', '…', 24), "
            f"bm25(passages, {_WEIGHTS}) AS score FROM passages WHERE passages MATCH ? ORDER BY score LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (match, max(limit * 6, 30))).fetchall()
            total = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
            rowids = [row[0] for row in rows]
            marks = ",".join("?" * len(rowids))
            weights: dict[str, float] = {}
            matched: dict[int, set[str]] = {rowid: set() for rowid in rowids}
            for term in terms:
                quoted = f'"{term}"'
                containing = self._db.execute("SELECT count(*) FROM passages WHERE passages MATCH ?", (quoted,))
                weights[term] = _idf(total, containing.fetchone()[0])
                in_rows = f"SELECT rowid FROM passages WHERE passages MATCH ? AND rowid IN ({marks})"
                for (rowid,) in self._db.execute(in_rows, (quoted, *rowids)):
                    matched[rowid].add(term)
        everything = sum(weights.values()) or 1.0
        passages = [
            Passage(*r[1:6], _clean_snippet(r[6]), r[7], coverage=sum(weights[t] for t in matched[r[0]]) / everything)
            for r in rows
        ]
        passages.sort(key=lambda p: (-round(p.coverage, 2), p.score))
        return passages[:limit]

    def close(self) -> None:
        """Close the index database."""
        with self._lock:
            self._db.close()
