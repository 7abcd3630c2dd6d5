"""A full-text index of a folder of documents in SQLite FTS5, and a re-ranking that finds the passage.

The index lives in its own SQLite file and follows the folder: files added, changed or removed are
re-indexed on the next search (checked at most every `refresh_interval` seconds).

Search: FTS5 (Porter stemming, BM25 with title and headings weighted above the body) proposes
candidates; a re-rank then orders them by how much of the question they cover (each word weighted by
its rarity, once, so a repeated or stray word wins nothing), whether the words sit in the title and
section path, and how close together they are in the text. A word the index has never seen is read as
the closest word it has (one or two letters off), so small typos still find their passage. Optionally
(weight `expansion`), the first pass's best passages name the words the folder uses for the question's topic
(pseudo-relevance feedback), which fetch more candidates and score each one.
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from services.documents import SEPARATOR, SUPPORTED_SUFFIXES, parse_document

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, passages INTEGER, code REAL);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    path UNINDEXED, position UNINDEXED, title, heading, body, part UNINDEXED, tokenize = 'porter unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS vocabulary USING fts5vocab(passages, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS pages USING fts5(
    path UNINDEXED, title, lead, headings, body, tokenize = 'porter unicode61');
"""
# Bumped whenever the tables change: an index file written by another version is rebuilt from the folder.
SCHEMA_VERSION = 4
# Words that carry no meaning for retrieval, and generic verbs of questions ("how do I change…"):
# dropping them keeps the ranking on the content words.
STOP_WORDS = frozenset(
    """a about an and any are as at be been but by can could do does did for from has have how i if in into
    is it its me my no not of on or our please should so tell than that the their them then there these
    they this those to us was we were what when where which who why will with would you your change
    changes changed get gets make makes need needs want wants use used using work works happen happens
    find know see way ways some something possible between each every often over whole entire several many
    much more most other another both all only just also very same such like one ones go goes going""".split()
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # FTS5's unicode61 splits identifiers at "_": so do we
# bm25() column weights: path, position (unindexed), title, heading, body, part (unindexed: the passage's
# number within its section, 0 for the section's opening). A title or heading names what
# a passage is about, so a match there counts several times a match in running text.
_WEIGHTS = "0.0, 0.0, 3.0, 4.0, 1.0, 0.0"
_HEAD_WEIGHTS = "0.0, 0.0, 1.0, 4.0, 0.0, 0.0"
CANDIDATES = 80
HEADING_CANDIDATES = 30
# Whole pages are ranked too (bm25 over title, lead, headings, text): a page about the question ("git-blame:
# show what revision and author last modified each line") is a better source than a passage elsewhere that
# happens to repeat its words. The best pages' score is added to their passages, and the best pages'
# passages join the candidates. Weights: path, title, lead (the page's opening lines), headings, text.
_PAGE_WEIGHTS = "0.0, 5.0, 3.0, 2.0, 1.0"
PAGE_CANDIDATES = 20
PAGE_PASSAGES = 5
NAME_PAGES = 5  # pages whose file names hold the question's words that add their passages to the candidates
LEAD_CHARS = 400
LONG_PAGE = 100  # a page of this many passages or more has long_page 1
RANKED = 2000  # the best matching passages whose bm25 is read once per search (the candidates' among them)
# Pseudo-relevance feedback (RM3-style, from the folder itself, no outside data): the words the best
# FEEDBACK_PASSAGES passages of the first pass use most (by their share of each passage, its rank and their
# rarity), at most FEEDBACK_TERMS of them, none in more than FEEDBACK_MAX_DF of the passages, fetch up to
# FEEDBACK_CANDIDATES more passages and score the `expansion` feature. A passage holding less than
# FEEDBACK_MIN_COVERAGE of the question gives no feedback: its words would lead further off the topic.
FEEDBACK_PASSAGES = 10
FEEDBACK_TERMS = 8
FEEDBACK_CANDIDATES = 20
FEEDBACK_MAX_DF = 0.05
FEEDBACK_MIN_COVERAGE = 0.5
FEEDBACK_MIN_PASSAGES = 2  # a word only one feedback passage uses is as likely that passage's own topic
STEM_CACHE = 20_000  # passages whose stems are kept between searches (a few MB)
# The re-rank score is a weighted sum of these features of a passage (each 0 to 1; the penalties negative):
#   coverage   the idf-weighted share of the question's words the passage holds
#   heading    the share found in its title and section path
#   proximity  how close together the words sit in the text (times coverage)
#   bm25       FTS5's bm25 relative to the best candidate's
#   phrase     the question's word pairs found in the title and section path
#   focus      how much of the passage's own label the question names
#   stray      the share of its label made of rare words the question does not use (a penalty)
#   changelog  a changelog page, which mentions everything once and explains little (a penalty)
#   page       how many passages of the same page cover the question (times coverage)
#   page_rank  the page's own bm25 rank among pages (times coverage)
#   name       the share of the question's words in the file's name ("inmemorydb.html", "git-stash.html")
#   lead       the share of the question's words in the opening lines of the passage's page (if a top page)
#   opening    the passage opens its section (a section's first lines say what it is about; a tie-breaker)
#   expansion  the weighted share of the feedback words (see FEEDBACK_PASSAGES) the passage holds
#   long_page  the kind of page, from its length: log(its passages) / log(LONG_PAGE), at most 1 (a tutorial
#              or a whole user manual, rather than the manual page of one command)
#   code_page  the kind of page, from its code: the share of its text in code blocks (an API reference of
#              signatures, rather than the page that explains)
#   topic      the share of the question's words that open a part of the title or section path: "drift: did
#              the data change?" is about drift, "Column kinds shared by drift and uplift" only mentions it
FEATURES = (
    "coverage", "heading", "proximity", "bm25", "phrase", "focus", "stray", "changelog", "page", "page_rank",
    "topic", "name", "lead", "opening", "expansion", "long_page", "code_page",
)  # fmt: skip
# Hand-set weights (tuned on python3-doc; page_rank chosen by bench/retrieval_tune.py leave-one-corpus-out;
# docs/local-backend.md quotes the held-out figures). expansion, long_page and code_page stay 0: held out they
# did not beat the same run without them, and expansion 0.3 (best on all corpora together) puts settings.md
# above security.md for the README's "restrict the bot to our tenants" by 0.005 and costs latency.
WEIGHTS = {
    "coverage": 1.0, "heading": 0.45, "proximity": 0.15, "bm25": 0.35, "phrase": 0.15, "focus": 0.3,
    "stray": -0.4, "changelog": -0.3, "page": 0.15, "page_rank": 1.0, "topic": 0.5, "name": 0.5, "lead": 0.5,
    "opening": 0.05, "expansion": 0.0, "long_page": 0.0, "code_page": 0.0,
}  # fmt: skip
# The weights that order the first pass for feedback: fixed, without the features added with it (2026-12-08).
FEEDBACK_WEIGHTS = {**WEIGHTS, "expansion": 0.0, "long_page": 0.0, "code_page": 0.0}
# Each question word weighs idf ** _IDF_POWER: below 1, one rare incidental word ("lives" in "a database that
# lives only in memory") no longer outweighs the words that name the topic.
_IDF_POWER = 1.0
# Titles of pages that list changes ("What's New In Python 3.2", "Changelog", "Release notes").
_CHANGELOG = re.compile(r"^\W*(?:what['’]?s\s+new|change\s*log|release\s+notes|news|changes)\b", re.I)
_STEMMER = Stemmer.Stemmer("porter")  # the algorithm of FTS5's porter tokenizer, for the same stems
_ENGLISH = Stemmer.Stemmer("english")  # Snowball's revision of Porter


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Return the Porter stem of a lower-case word (the form FTS5's porter tokenizer indexes)."""
    return _STEMMER.stemWord(word)


_STEM_STOPS = frozenset(stem(w) for w in STOP_WORDS)


@dataclass(frozen=True)
class Passage:
    """A search hit: `path` is relative to the folder. `score` is the re-rank score (higher is better),
    `coverage` the idf-weighted share of the question's words the passage holds (0 to 1), `terms` the
    question's stems it matched, `heading_coverage` the share found in its title and section path."""

    path: str
    position: int
    title: str
    heading: str
    body: str
    score: float
    coverage: float = 1.0
    terms: frozenset[str] = frozenset()
    heading_coverage: float = 0.0
    features: dict[str, float] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Query:
    """A question as searched: its stems with their idf weights, and the words read as typos (word → fix)."""

    stems: dict[str, float]
    corrections: dict[str, str]
    phrases: tuple[tuple[str, str], ...] = ()
    words: dict[str, str] = field(default_factory=dict)  # stem -> the question's word (for file names)


def _idf(total: int, containing: int) -> float:
    """BM25's inverse document frequency (always positive)."""
    return math.log((total - containing + 0.5) / (containing + 0.5) + 1.0)


def query_terms(text: str) -> list[str]:
    """Return the lower-cased content words of `text` (stop words dropped unless nothing else is left)."""
    words = [w.lower() for w in _TOKEN.findall(text) if len(w) > 1 or w.isdigit()]
    content = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(content or words))


def stems_of(text: str) -> list[str]:
    """Return the Porter stems of every word of `text`, in order (for matching inside a passage)."""
    return [stem(w) for w in _TOKEN.findall(text.lower())]


# Words that never make a phrase ("how do I", "a", "the"); others, even stop words, may: "with statement".
_FUNCTION_WORDS = frozenset("a an the i me my do does did how what which who why please can could should would".split())


def _phrases(text: str, corrections: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Return the question's adjacent word pairs that may name something ("with statement", "directory tree")."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    words = [_match_form(corrections[w]) or w if w in corrections else w for w in words]
    pairs = [
        (a, b)
        for a, b in zip(words, words[1:], strict=False)
        if a not in _FUNCTION_WORDS and b not in _FUNCTION_WORDS and not (a in STOP_WORDS and b in STOP_WORDS)
    ]
    return tuple(dict.fromkeys(pairs))


def _match_form(term: str) -> str | None:
    """Return a word FTS5 stems to `term` (a stem such as "databas" is itself stemmed to "databa")."""
    for form in (term, term + "e"):
        if stem(form) == term:
            return form
    return None


def _share(query: Query, stems: set[str], everything: float) -> float:
    """Return the idf-weighted share of the question's stems among `stems`."""
    return sum(weight for term, weight in query.stems.items() if term in stems) / everything


def _file_name(path: str) -> str:
    """Return a file's name as searched for the question's words: lower case, no folder, no extension."""
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()


def name_share(name: str, query: Query) -> float:
    """Return the idf-weighted share of the question's words found in a file name. A file name is often
    words run together ("stricttables", "inmemorydb", "gitignore"), so a word of four letters or more counts
    when it (or its stem) appears anywhere in it; a shorter word only as a whole part ("git-tag")."""
    everything = sum(query.stems.values())
    if not everything:
        return 0.0
    parts = set(re.split(r"[\W_\d]+", name))
    found = 0.0
    for term, weight in query.stems.items():
        word = query.words.get(term, term)
        if (len(term) >= 4 and (term in name or word in name)) or word in parts or term in parts:
            found += weight
    return found / everything


def code_share(bodies) -> float:
    """Return the share of the characters of `bodies` (passages' Markdown) inside fenced code blocks."""
    code = every = 0
    for body in bodies:
        inside = False
        for line in body.splitlines():
            fence = line.lstrip().startswith(("```", "~~~"))
            if inside or fence:
                code += len(line)
            if fence:
                inside = not inside
            every += len(line)
    return code / every if every else 0.0


@lru_cache(maxsize=20_000)
def _opener(label: str) -> str:
    """Return the stem of the first content word of a title or heading ("drift: did the data change?" → drift)."""
    return next((t for t in stems_of(label) if t not in _STEM_STOPS and not t.isdigit()), "")


def _window(positions: list[list[int]]) -> int:
    """Return the length of the shortest run of tokens that holds one position from every list."""
    events = sorted((p, i) for i, plist in enumerate(positions) for p in plist)
    need, have, counts, best, left = len(positions), 0, [0] * len(positions), 1 << 30, 0
    for pos, i in events:
        counts[i] += 1
        have += counts[i] == 1
        while have == need:
            lpos, li = events[left]
            best = min(best, pos - lpos + 1)
            counts[li] -= 1
            have -= counts[li] == 0
            left += 1
    return best


class KnowledgeIndex:
    """Index of the supported documents (Markdown, text, HTML) under `folder`."""

    def __init__(self, folder: str | Path, index_path: str | Path = ":memory:", refresh_interval: float = 2.0):
        self.folder = Path(folder)
        self.refresh_interval = refresh_interval
        if str(index_path) != ":memory:":
            Path(index_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(index_path), check_same_thread=False, isolation_level=None)
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            ).fetchall():
                self._db.execute(f'DROP TABLE IF EXISTS "{name}"')
            self._db.execute("DROP TABLE IF EXISTS files")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._vocabulary: tuple[list[str], dict[str, int]] | None = None
        self._passages = 0
        # The stems of recently re-ranked passages by rowid: stemming the candidates' text is most of a
        # search's time, and the same passages come back for related questions. Cleared on any change.
        self._stem_cache: dict[int, tuple[list[str], list[str]]] = {}
        self._names: dict[str, str] | None = None  # path -> its file name as searched by name_share
        self._kinds: dict[str, tuple[float, float]] = {}  # path -> (long_page, code_page) features

    def clear_caches(self) -> None:
        """Forget the cached stems of passages (a benchmark's repeated questions then cost what new ones do)."""
        with self._lock:
            self._stem_cache.clear()

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
                self._db.execute("DELETE FROM pages WHERE path = ?", (rel,))
                self._db.execute("DELETE FROM files WHERE path = ?", (rel,))
            for rel in changed:
                self._index_file(rel, on_disk[rel])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._vocabulary = None
        self._names = None
        self._kinds = {}
        self._stem_cache.clear()
        log.info("knowledge index: %d file(s) indexed, %d removed", len(changed), len(removed))
        return len(changed) + len(removed)

    def _index_file(self, rel: str, signature: tuple[int, int]) -> None:
        try:
            document = parse_document(self.folder / rel)
        except OSError as error:  # vanished or unreadable between listing and reading: skip, retry next time
            log.warning("knowledge index: cannot read %s: %s", rel, error)
            return
        parts = [0] * len(document.sections)
        for i in range(1, len(parts)):
            if document.sections[i].heading == document.sections[i - 1].heading:
                parts[i] = parts[i - 1] + 1
        self._db.executemany(
            "INSERT INTO passages (path, position, title, heading, body, part) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (rel, i, document.title, s.heading, s.body, part)
                for i, (s, part) in enumerate(zip(document.sections, parts, strict=True))
            ],
        )
        if document.sections:
            headings = " ; ".join(dict.fromkeys(s.heading for s in document.sections if s.heading))
            lead = document.sections[0].body[:LEAD_CHARS]
            body = "\n".join(s.body for s in document.sections)
            self._db.execute(
                "INSERT INTO pages (path, title, lead, headings, body) VALUES (?, ?, ?, ?, ?)",
                (rel, document.title, lead, headings, body),
            )
        self._db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
            (rel, *signature, len(document.sections), code_share(s.body for s in document.sections)),
        )

    def _vocab(self) -> tuple[list[str], dict[str, int]]:
        """The indexed stems, most common first, with how many passages hold each (cached until a change)."""
        if self._vocabulary is None:
            rows = self._db.execute("SELECT term, doc FROM vocabulary ORDER BY doc DESC").fetchall()
            self._vocabulary = ([term for term, _ in rows], dict(rows))
            self._passages = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return self._vocabulary

    @staticmethod
    def _correct(word: str, term: str, terms: list[str]) -> str | None:
        """Return the indexed stem closest to an unknown `term`, or None: one edit (a swap of neighbours counts
        one) for words of 5 to 8 letters, two from 9, and never a change of the first letter, which typos
        rarely touch and which would read "bread" as "read"."""
        if len(word) < 5 or word.isdigit():
            return None
        limit = 1 if len(word) < 9 else 2
        candidates = [t for t in terms if t[:1] == term[:1]]
        found = process.extractOne(term, candidates, scorer=OSA.distance, score_cutoff=limit)
        return found[0] if found and _match_form(found[0]) else None

    def parse_query(self, text: str) -> Query:
        """Return the stems of `text` to search for, each with its idf, typos replaced by indexed words."""
        with self._lock:
            terms, counts = self._vocab()
            total = self._passages
        stems: dict[str, float] = {}
        corrections: dict[str, str] = {}
        words: dict[str, str] = {}
        for word in query_terms(text):
            term = stem(word)
            # Porter leaves some forms apart ("strictly" → strictli, not strict): when the folder never uses
            # the word's own form, Snowball's English stem is searched (before any typo fix).
            plain = _ENGLISH.stemWord(word)
            if term not in counts and plain != term and stem(plain) in counts:
                term, word = stem(plain), plain
            if term not in counts and (fixed := self._correct(word, term, terms)):
                corrections[word], term = fixed, fixed
                word = _match_form(fixed) or word
            stems.setdefault(term, _idf(total, counts.get(term, 0)) ** _IDF_POWER)
            words.setdefault(term, word)
        # A word the folder never uses would get the highest idf of all, so one synonym the documents do not
        # use ("restrict" for "limit") would sink every passage. It weighs as much as the question's known
        # words on average: a question made mostly of unknown words still finds nothing.
        known = [weight for term, weight in stems.items() if term in counts]
        if known:
            stems = {t: w if t in counts else min(w, sum(known) / len(known)) for t, w in stems.items()}
        return Query(stems, corrections, _phrases(text, corrections), words)

    def search(self, text: str, limit: int = 5) -> list[Passage]:
        """Return up to `limit` passages that best answer `text`, best first (see the module docstring)."""
        self.refresh()
        return self.search_query(self.parse_query(text), limit)

    def search_query(self, query: Query, limit: int = 5) -> list[Passage]:
        """Return up to `limit` passages for an already parsed query, best first."""
        passages = [
            replace(p, score=sum(WEIGHTS[k] * v for k, v in p.features.items())) for p in self.candidates(query, limit)
        ]
        return sorted(passages, key=lambda p: -p.score)[:limit]

    def candidates(self, query: Query, limit: int = 5) -> list[Passage]:
        """Return the candidate passages of a parsed query with their re-rank `features` (unordered, unscored).

        Two passes (pseudo-relevance feedback, RM3-style): the first pass's best passages name the words the
        documents use for the question's topic ("concatenat" for "join two strings"); those words fetch more
        candidates and give every candidate an `expansion` feature. The other features, coverage first, stay
        those of the question's own words, so the answer-or-"nothing found" decision is the first pass's."""
        forms = [form for term in query.stems if (form := _match_form(term))]
        if not forms:
            return []
        match = " OR ".join(
            [f'"{form}"' for form in forms] + [f'{{title heading}} : "{a} {b}"' for a, b in query.phrases]
        )
        with self._lock:
            _, counts = self._vocab()
            total = self._passages
            rows, context, ranks = self._fetch(query, forms, match, limit)
        if not rows:
            return []
        everything = sum(query.stems.values()) or 1.0
        best_bm25 = min(row[6] for row in rows) or -1.0
        scored = self._score_rows(rows, query, everything, best_bm25, counts, total)
        # The feedback pass costs a fifth to a third of a search: skipped when its feature weighs nothing.
        feedback = FEEDBACK_TERMS and WEIGHTS["expansion"]
        expansion = self._feedback(scored, context, query, counts, total) if feedback else {}
        exp_match = " OR ".join(f'"{form}"' for term in expansion if (form := _match_form(term)))
        if exp_match:
            seen = {rowid for rowid, _, _ in scored}
            with self._lock:
                more = self._db.execute(
                    "SELECT rowid FROM passages WHERE passages MATCH ? AND passages MATCH ? ORDER BY rank LIMIT ?",
                    (match, exp_match, FEEDBACK_CANDIDATES + len(seen)),
                ).fetchall()
                extra = [rowid for (rowid,) in more if rowid not in seen][:FEEDBACK_CANDIDATES]
                extra_rows = self._rows(extra, ranks)
            scored += self._score_rows(extra_rows, query, everything, best_bm25, counts, total)
        page_rank, names, leads = context
        strong: dict[str, int] = {}
        for _, passage, _ in scored:
            if passage.coverage >= 0.6:
                strong[passage.path] = strong.get(passage.path, 0) + 1
        exp_total = sum(expansion.values()) or 1.0
        kinds = self._kinds
        passages = []
        for _, passage, token_list in scored:
            tokens = set(token_list) if expansion else set()
            features = {
                **passage.features,
                "page": min(strong.get(passage.path, 0), 3) / 3 * passage.coverage,
                "page_rank": page_rank.get(passage.path, 0.0) * passage.coverage,
                "name": names.get(passage.path, 0.0),
                "lead": leads.get(passage.path, 0.0),
                "long_page": kinds.get(passage.path, (0.0, 0.0))[0],
                "code_page": kinds.get(passage.path, (0.0, 0.0))[1],
                "expansion": sum(w for t, w in expansion.items() if t in tokens) / exp_total * passage.coverage
                if expansion
                else 0.0,
            }
            passages.append(replace(passage, features=features))
        return passages

    @staticmethod
    def _feedback(scored: list, context: tuple, query: Query, counts: dict[str, int], total: int) -> dict[str, float]:
        """Return the expansion stems with their weights: the words the first pass's best passages use most,
        each weighted by its share of the passage (as in RM3) and its rarity, the question's own and common
        words left out. The first pass is ordered by FEEDBACK_WEIGHTS, fixed, so the expansion does not
        depend on the weights being tuned."""
        page_rank, names, leads = context
        w = FEEDBACK_WEIGHTS

        def first_score(passage: Passage) -> float:
            own = sum(w[k] * v for k, v in passage.features.items())
            path = passage.path
            return (
                own + w["page_rank"] * page_rank.get(path, 0.0) * passage.coverage
                + w["name"] * names.get(path, 0.0) + w["lead"] * leads.get(path, 0.0)
            )  # fmt: skip

        ranked = sorted(scored, key=lambda item: -first_score(item[1]))
        weights: dict[str, float] = {}
        holders: dict[str, int] = {}
        for rank, (_, passage, tokens) in enumerate(ranked[:FEEDBACK_PASSAGES]):
            if passage.coverage < FEEDBACK_MIN_COVERAGE:
                continue
            seen: dict[str, int] = {}
            for token in tokens:
                seen[token] = seen.get(token, 0) + 1
            size = sum(seen.values()) or 1
            for token, tf in seen.items():
                df = counts.get(token, 0)
                if (
                    token in query.stems or token in _STEM_STOPS or len(token) < 3 or token.isdigit()
                    or df < 2 or df > FEEDBACK_MAX_DF * total
                ):  # fmt: skip
                    continue
                weights[token] = weights.get(token, 0.0) + tf / size / (rank + 1) * _idf(total, df)
                holders[token] = holders.get(token, 0) + 1
        weights = {t: v for t, v in weights.items() if holders[t] >= FEEDBACK_MIN_PASSAGES}
        best = sorted(weights, key=lambda t: -weights[t])[:FEEDBACK_TERMS]
        return {t: weights[t] for t in best}

    def _rows(self, rowids: list[int], ranks: dict[int, float]) -> list[tuple]:
        """Return the candidate rows (rowid, path, position, title, heading, body, bm25, part) of `rowids`,
        their bm25 from `ranks` (the first query's), or the lowest there for a passage ranked below it.
        Looking rows up by rowid is much faster than matching the question again with a rowid filter."""
        if not rowids:
            return []
        worst = max(ranks.values(), default=0.0)
        marks = ",".join("?" * len(rowids))
        found = self._db.execute(
            f"SELECT rowid, path, position, title, heading, body, part FROM passages WHERE rowid IN ({marks})",
            rowids,
        ).fetchall()
        by_rowid = {row[0]: (*row[:6], ranks.get(row[0], worst), row[6]) for row in found}
        return [by_rowid[rowid] for rowid in rowids if rowid in by_rowid]  # in the order asked

    def _fetch(self, query: Query, forms: list[str], match: str, limit: int) -> tuple[list[tuple], tuple, dict]:
        """Return the first pass's candidate rows, the page-level features (page rank, name, lead by path) and
        the bm25 of the RANKED best matching passages by rowid. Called with the lock held."""
        ranked = self._db.execute(
            f"SELECT rowid, bm25(passages, {_WEIGHTS}) AS rank FROM passages WHERE passages MATCH ? "
            "ORDER BY rank LIMIT ?",
            (match, RANKED),
        ).fetchall()
        ranks = dict(ranked)
        first = [rowid for rowid, _ in ranked[: max(CANDIDATES, limit)]]
        # Also the passages whose title or heading match best: a short entry named by the question's word
        # ("generator" in a glossary) can rank below long passages that repeat the word in their text.
        seen = set(first)
        heads = self._db.execute(
            f"SELECT rowid FROM passages WHERE passages MATCH ? ORDER BY bm25(passages, {_HEAD_WEIGHTS}) LIMIT ?",
            (match, HEADING_CANDIDATES),
        ).fetchall()
        extra = [rowid for (rowid,) in heads if rowid not in seen]
        page_rows = self._db.execute(
            f"SELECT path, bm25(pages, {_PAGE_WEIGHTS}), lead FROM pages WHERE pages MATCH ? ORDER BY 2 LIMIT ?",
            (" OR ".join(f'"{form}"' for form in forms), PAGE_CANDIDATES),
        ).fetchall()
        # How much of the question a page's opening lines hold: a manual page's one-line description
        # ("git-blame - Show what revision and author last modified each line of a file") says what it is for.
        everything = sum(query.stems.values()) or 1.0
        leads = {path: _share(query, set(stems_of(lead)), everything) for path, _, lead in page_rows}
        page_rows = [(path, rank) for path, rank, _ in page_rows]
        best_page = min((rank for _, rank in page_rows), default=-1.0) or -1.0
        page_rank = {path: rank / best_page for path, rank in page_rows}
        # The pages whose file names hold the question's words ("stricttables.html", "git-stash.html").
        if self._names is None:
            self._names, self._kinds = {}, {}
            for path, count, code in self._db.execute("SELECT path, passages, code FROM files"):
                self._names[path] = _file_name(path)
                self._kinds[path] = (min(1.0, math.log(max(count, 1)) / math.log(LONG_PAGE)), code)
        names = {path: share for path, name in self._names.items() if (share := name_share(name, query)) > 0}
        # The best passages of the best pages, when the passage search did not already propose them.
        top_pages = [path for path, _ in page_rows[:PAGE_PASSAGES]]
        top_pages += sorted(names, key=lambda p: -names[p])[:NAME_PAGES]
        if top_pages:
            marks = ",".join("?" * len(top_pages))
            for (rowid,) in self._db.execute(
                f"SELECT rowid FROM passages WHERE passages MATCH ? AND path IN ({marks}) ORDER BY rank LIMIT ?",
                (match, *top_pages, 3 * PAGE_PASSAGES),
            ).fetchall():
                if rowid not in seen and rowid not in extra:
                    extra.append(rowid)
        return self._rows(first + extra, ranks), (page_rank, names, leads), ranks

    def _score_rows(
        self, rows: list[tuple], query: Query, everything: float, best_bm25: float, counts: dict[str, int], total: int
    ) -> list[tuple[int, Passage, list[str]]]:
        """Return (rowid, passage with its own features, its stems: label then text) for each candidate row."""
        cache = self._stem_cache
        if len(cache) > STEM_CACHE:
            cache.clear()
        phrases = [(stem(a), stem(b)) for a, b in query.phrases]
        rarity: dict[str, float] = {}
        scored = []
        for row in rows:
            if row[0] not in cache:
                cache[row[0]] = (stems_of(f"{row[3]} {SEPARATOR} {row[4]}"), stems_of(row[5]))
            stems = cache[row[0]]
            passage = self._rerank(row[1:], stems, query, everything, best_bm25, phrases, counts, total, rarity)
            scored.append((row[0], passage, stems[0] + stems[1]))
        return scored

    @staticmethod
    def _rerank(
        row: tuple,
        stems: tuple[list[str], list[str]],
        query: Query,
        everything: float,
        best_bm25: float,
        phrases: list,
        counts: dict[str, int],
        total: int,
        rarity: dict[str, float],
    ) -> Passage:
        path, position, title, heading, body, bm25, part = row
        head_tokens, tokens = stems
        head = set(head_tokens)
        positions: dict[str, list[int]] = {}
        for i, token in enumerate(tokens):
            if token in query.stems:
                positions.setdefault(token, []).append(i)
        matched = frozenset(t for t in query.stems if t in head or t in positions)
        coverage = sum(query.stems[t] for t in matched) / everything
        in_head = sum(query.stems[t] for t in matched if t in head) / everything
        proximity = 0.0
        if len(positions) >= 2:
            window = _window(list(positions.values()))
            proximity = min(1.0, (len(positions) + 2) / window)
        elif len(query.stems) == 1:
            proximity = 1.0
        # How much of the passage's own label the question names: "generator" is all about generators,
        # "email.generator.Generator.clone" only partly, "Methods of File Objects" a third about files.
        label = {
            t for t in stems_of(heading.rsplit(SEPARATOR, 1)[-1] or title) if t not in _STEM_STOPS and not t.isdigit()
        }
        focus = len(label & matched) / len(label) if label else 0.0
        # The label's words the question does not use, weighted by rarity: "line_num" and "csvreader" are
        # rare, so "csv.csvreader.line_num" is mostly about something else; "Methods of File Objects" only
        # adds common words. (`rarity` caches the idf of each label word over one search.)
        stray_words = [t for t in label if t not in matched]
        for t in stray_words:
            if t not in rarity:
                rarity[t] = _idf(total, counts.get(t, 0))
        stray = sum(rarity[t] for t in stray_words)
        # The question's words named by the label or by a section above it: "drift: did the data change? › Tests
        # and the verdict rule" is about drift, so its rare label words are less of a stray.
        named = sum(query.stems[t] for t in label | set(stems_of(heading)) if t in matched)
        stray_share = stray / (stray + named) if stray else 0.0
        head_pairs = set(zip(head_tokens, head_tokens[1:], strict=False))
        phrase = sum(pair in head_pairs for pair in phrases) / len(phrases) if phrases else 0.0
        openers = {_opener(part) for part in (title, *heading.split(SEPARATOR))}
        topic = sum(query.stems[t] for t in matched if t in openers) / everything
        features = {
            "coverage": coverage,
            "heading": in_head,
            "proximity": proximity * coverage,
            "bm25": bm25 / best_bm25,
            "phrase": phrase,
            "focus": focus,
            "stray": stray_share,
            "changelog": float(bool(_CHANGELOG.match(title))),
            "topic": topic,
            "opening": float(part == 0),
        }
        return Passage(path, position, title, heading, body, 0.0, coverage, matched, in_head, features)

    def close(self) -> None:
        """Close the index database."""
        with self._lock:
            self._db.close()
