"""Command options as data: their types, bounds and help, and the `_check_*` helpers that read them.

Every numeric option is checked here, before a byte of data is read, against bounds that hold for any table
(finite, in range, under a hard cap); what depends on the data (k against the rows of a query, a budget
against the rows) is checked by the command's own `check` once the tables are read, still before any
analysis runs. No heavy imports: the chat handler validates options in the worker before it starts a process.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from services.analytics.errors import AnalyticsError
from services.quoting import quote

Kind = Literal["column", "columns", "label", "number", "whole", "choice", "flag"]
MAX_NAME_CHARS = 200  # a column name given in an option
MAX_NAMES = 200  # columns in one list option (categorical=a,b,…)


@dataclass(frozen=True)
class Option:
    """One option of a command: `name=value` in chat, `--name value` on the command line.

    `low`/`high` bound numbers (inclusive; `low_open` excludes `low`); `words` are non-numeric values a number
    option also takes (`best-f1`); `chat=False` options exist on the command line only."""

    name: str
    kind: Kind
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    default: Any = None
    aliases: tuple[str, ...] = ()
    chat: bool = True

    def describe(self) -> str:
        """Return the option's one-line help with its type and bounds, e.g. "`k=<whole number 1–10,000>`: …"."""
        if self.kind == "flag":
            return f"`--{self.name.replace('_', '-')}`: {self.help}"
        return f"`{self.name}={self._placeholder()}`: {self.help}"

    def _placeholder(self) -> str:
        if self.kind in ("column", "label"):
            return f"<{self.kind}>"
        if self.kind == "columns":
            return "<column,column,…>"
        if self.kind == "choice":
            return "|".join(self.choices)
        what = "whole number" if self.kind == "whole" else "number"
        bounds = _bounds_text(self)
        extra = "".join(f" or {word}" for word in self.words)
        return f"<{what}{' ' + bounds if bounds else ''}{extra}>"


def _bounds_text(option: Option, sentence: bool = False) -> str:
    low, high = option.low, option.high
    if low is not None and high is not None:
        if sentence:
            lower = f"above {_number(low)}" if option.low_open else f"at least {_number(low)}"
            return f"{lower} and at most {_number(high)}"
        return f"over {_number(low)}, up to {_number(high)}" if option.low_open else f"{_number(low)}–{_number(high)}"
    if low is not None:
        return f"{'above' if option.low_open else 'at least'} {_number(low)}"
    if high is not None:
        return f"at most {_number(high)}"
    return ""


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def alias_table(options: tuple[Option, ...]) -> dict[str, str]:
    """Return {alias: option name} for `options`."""
    return {alias: option.name for option in options for alias in option.aliases}


# A `name=value` token: the name a word (`y_true`, `--y-true`), the value up to the next space, or quoted to hold
# spaces (`y_true="churned in 30 days"`, with Teams' curly quotes too). The quoted value is bounded by the longest
# column name, so a message of unclosed quotes costs O(length × MAX_NAME_CHARS), not O(length²).
_UP_TO = "{0,%d}" % MAX_NAME_CHARS  # noqa: UP031 - braces of a regex
_QUOTED = re.compile(rf'(-{{0,2}}[A-Za-z_][\w-]*)=(?:"([^"]{_UP_TO})"|\u201c([^\u201d]{_UP_TO})\u201d)(?=\s|$)|\S+')
_NAME = re.compile(r"-{0,2}[A-Za-z_][\w-]*")
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv", ".txt")


def _data_name(key: str, value: str) -> bool:
    """True for a word with `=` that names data, not an option: a path (`events/dt=2026-10/`, `s3://…/dt=…`),
    a folder (`dt=2026-10/`) or a file (`scores_k=10.csv`)."""
    return not _NAME.fullmatch(key) or value.endswith("/") or value.lower().endswith(DATA_SUFFIXES)


def is_data_name(word: str) -> bool:
    """True for a word that names data though it holds `=` (see `_data_name`), or holds none."""
    key, sep, value = word.partition("=")
    return not (sep and key) or _data_name(key, value)


def split_options(text: str, options: tuple[Option, ...]) -> tuple[dict[str, str], list[str]]:
    """Return (raw `key=value` options, other words) of a chat command; keys lower-cased, '-' as '_' and aliases
    resolved to option names. A word with `=` that names data (see `_data_name`) is a word; a value in quotes
    may hold spaces. Raises AnalyticsError for an option given twice with different values."""
    aliases = alias_table(options)
    known = {option.name for option in options}
    raw: dict[str, str] = {}
    words: list[str] = []
    for match in _QUOTED.finditer(text):
        token = match[0]
        quoted = match[2] if match[2] is not None else match[3]
        key, sep, value = (match[1], "=", quoted) if quoted is not None else token.partition("=")
        name = key.lower().lstrip("-").replace("-", "_")
        name = aliases.get(name, name)
        if not (sep and key) or (quoted is None and name not in known and _data_name(key, value)):
            words.append(token)
            continue
        if name in raw and raw[name] != value:
            shown = name if name in known else quote(name, 30)
            raise AnalyticsError(
                f"{shown} is given twice ({quote(raw[name], 30)} and {quote(value, 30)}): give it once."
            )
        raw[name] = value
    return raw, words


def check_options(raw: dict[str, Any], options: tuple[Option, ...], *, chat: bool = True) -> dict[str, Any]:
    """Return the typed values of `raw` (option name -> text, or a value already typed), defaults filled in.

    Raises AnalyticsError with one sentence for an unknown option, a value of the wrong type, a number that is
    not finite, or a number out of its bounds: before any data is read."""
    known = {option.name: option for option in options if option.chat or not chat}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        shown = ", ".join(quote(name, 30) for name in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise AnalyticsError(f"I don't know the option {shown}.")
    values: dict[str, Any] = {}
    for option in options:  # command-line only options take their defaults in chat
        given = raw.get(option.name)
        values[option.name] = option.default if given is None else _check_value(option, given)
    return values


def _check_value(option: Option, value: Any) -> Any:
    if option.kind in ("column", "label"):
        return _check_name(option, str(value))
    if option.kind == "columns":
        names = value if isinstance(value, list | tuple) else str(value).split(",")
        checked = tuple(_check_name(option, str(name).strip()) for name in names if str(name).strip())
        if len(checked) > MAX_NAMES:
            raise AnalyticsError(f"{option.name} takes at most {MAX_NAMES} column names.")
        return checked
    if option.kind == "choice":
        text = str(value).lower()
        if text not in option.choices:
            raise AnalyticsError(f"{option.name} takes {' or '.join(option.choices)}.")
        return text
    if option.kind == "flag":
        return bool(value)
    return _check_number(option, value)


def _check_name(option: Option, name: str) -> str:
    what = "a value of a column" if option.kind == "label" else "a column"  # positive=, treated=, success=
    if not name.strip():  # `positive=` or only spaces (a zero-width space is stripped by the ingress)
        raise AnalyticsError(f"{option.name} takes {what}: `{option.name}=<{option.kind}>`.")
    if len(name) > MAX_NAME_CHARS:
        raise AnalyticsError(f"{option.name} names {what} of {len(name):,} characters: {MAX_NAME_CHARS} at most.")
    return name


def _check_number(option: Option, value: Any) -> float | int | str:
    """Return `value` as a finite number within the option's bounds (or one of its words)."""
    if isinstance(value, str) and value.lower() in option.words:
        return value.lower()
    what = "a whole number" if option.kind == "whole" else "a number"
    words = "".join(f" or {word}" for word in option.words)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnalyticsError(f"{option.name} takes {what}{words}, not '{quote(str(value), 30)}'.") from None
    if not math.isfinite(number):
        raise AnalyticsError(f"{option.name} takes a finite number{words}, not {quote(str(value), 30)}.")
    if option.kind == "whole":
        if not number.is_integer():
            raise AnalyticsError(f"{option.name} takes a whole number, not {quote(str(value), 30)}.")
        number = int(number)
    low, high = option.low, option.high
    if (low is not None and (number < low or (option.low_open and number == low))) or (
        high is not None and number > high
    ):
        raise AnalyticsError(f"{option.name} must be {_bounds_text(option, sentence=True)} (got {_number(number)}).")
    return number
