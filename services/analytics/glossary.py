"""The metric glossary (`glossary.toml`): look an entry up by name, synonym or a misspelling of either."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GLOSSARY_PATH = Path(__file__).with_name("glossary.toml")
_CUTOFF = 0.8  # a misspelling at least this similar (difflib ratio) resolves; below, we only suggest
_SUGGEST = 0.6  # names less similar than this are not offered as "closest"


@dataclass(frozen=True)
class Entry:
    """One metric: what it means, its formula, range, when to use it, pitfalls and related entries (keys)."""

    key: str
    name: str
    synonyms: tuple[str, ...]
    meaning: str
    formula: str
    range: str
    good: str
    when: str
    pitfalls: tuple[str, ...]
    related: tuple[str, ...]


def normalise(name: str) -> str:
    """Return a name in lookup form: lower case, '@k' dropped, separators as single spaces ("ROC-AUC" → "roc auc")."""
    text = re.sub(r"@\s*\d+\b", "", name.lower())
    text = re.sub(r"\bat\s+\d+\b", "", text)
    text = re.sub(r"[^a-z0-9²]+", " ", text).replace("²", "2")
    return " ".join(text.split())


class Glossary:
    """Entries by key, with an index of every normalised name and synonym."""

    def __init__(self, entries: dict[str, Entry], version: str) -> None:
        self.entries = entries
        self.version = version
        self._index: dict[str, str] = {}
        for key, entry in entries.items():
            for alias in (key, entry.name, *entry.synonyms):
                form = normalise(alias)
                self._index.setdefault(form, key)
                self._index.setdefault(form.replace(" ", ""), key)
        # difflib's ratio is 2·matches / (len(a) + len(b)), below _SUGGEST for every alias once a name is longer
        # than this: such a name skips the fuzzy match, which cost 53 s on the event loop for 40,000 letters.
        self._fuzzy_chars = int(max(map(len, self._index), default=0) * (2 / _SUGGEST - 1))

    @classmethod
    def load(cls, path: Path = GLOSSARY_PATH) -> Glossary:
        """Return the glossary read from a TOML file."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = {
            key: Entry(
                key=key,
                name=raw["name"],
                synonyms=tuple(raw.get("synonyms", [])),
                meaning=raw["meaning"],
                formula=raw["formula"],
                range=raw["range"],
                good=raw["good"],
                when=raw["when"],
                pitfalls=tuple(raw.get("pitfalls", [])),
                related=tuple(raw.get("related", [])),
            )
            for key, raw in data["entries"].items()
        }
        return cls(entries, str(data.get("version", "")))

    def lookup(self, name: str) -> Entry | None:
        """Return the entry whose name or synonym is `name` (normalised, spaces optional), or None; no guessing."""
        form = normalise(name)
        for candidate in (form, form.replace(" ", "")):
            if candidate and candidate in self._index:
                return self.entries[self._index[candidate]]
        return None

    def split(self, text: str) -> tuple[Entry | None, str, list[Entry]]:
        """Return (entry, the rest of `text` as a follow-up question, suggestions) for "ndcg why linear gain?".

        The longest leading run of up to four words that names an entry wins; failing that, a misspelt
        first word (or short text) resolves as in `resolve`."""
        words = text.split()
        for size in range(min(4, len(words)), 0, -1):
            entry = self.lookup(" ".join(words[:size]))
            if entry is not None:
                return entry, " ".join(words[size:]), []
        guess = text if len(words) <= 3 else words[0] if words else ""
        entry, suggestions = self.resolve(guess)
        rest = "" if entry is None or len(words) <= 3 else " ".join(words[1:])
        return entry, rest, suggestions

    def resolve(self, name: str) -> tuple[Entry | None, list[Entry]]:
        """Return (the entry `name` means, or None; the closest entries when it means none).

        Exact names and synonyms resolve, with or without spaces, hyphens or an '@k'; a close misspelling
        of one resolves too; anything else gets up to three suggestions, closest first.
        """
        form = normalise(name)
        if not form:
            return None, []
        exact = self.lookup(name)
        if exact is not None:
            return exact, []
        if len(form) > self._fuzzy_chars:
            return None, []
        scored = sorted(
            ((ratio, key) for alias, key in self._index.items() if (ratio := _likeness(form, alias))), reverse=True
        )
        if scored and scored[0][0] >= _CUTOFF:
            return self.entries[scored[0][1]], []
        suggestions: list[Entry] = []
        for ratio, key in scored:
            if ratio < _SUGGEST:
                break
            if self.entries[key] not in suggestions:
                suggestions.append(self.entries[key])
            if len(suggestions) == 3:
                break
        return None, suggestions


def _likeness(form: str, alias: str) -> float:
    """Return difflib's ratio of `form` and `alias`, or 0.0 when its cheap upper bounds are below _SUGGEST (as
    difflib.get_close_matches does): names that cannot be suggested cost no full comparison."""
    matcher = difflib.SequenceMatcher(None, form, alias)
    if matcher.real_quick_ratio() < _SUGGEST or matcher.quick_ratio() < _SUGGEST:
        return 0.0
    return matcher.ratio()


@cache
def glossary() -> Glossary:
    """Return the shipped glossary (read once)."""
    return Glossary.load()
