"""What a column is, read from its values and its name: one set of rules for drift and uplift.

Kinds: numeric, categorical, boolean, datetime, identifier (ids, row counters, names and free text: they say
which row, not what it contains, so they are reported and left out). Beyond the dtype pandas guessed:
- integer codes: integers under a code-like name (`villnum`, `region`, `store_code`, `zip`) with at most
  MAX_CODES distinct values are categories, not quantities;
- numbers stored as text (`"1,234"`, `"$12"`, `"7%"`, a stray `"unknown"`) are numbers when at least 95% of
  the values parse; text with leading zeros (`"00123"`) is a code and stays text;
- identifiers: an id-like name on integers or text, a column of distinct integers that fills its range (a row
  counter), or text with more distinct values than half the rows. A number with a fractional part (an income,
  a price index) is never an identifier, whatever its name.
- booleans: two values among 0/1, 0.0/1.0, True/False, yes/no in any mix of spellings (`as_booleans` reads
  them all as 0/1, so that a 0/1 column read as 0.0/1.0 because of a blank is the same values);
- dates: ISO (`2026-03-01`, with or without a time), day.month.year, and slashed dates, whose order is read
  from the values (a first part above 12 means day/month, a second part above 12 month/day); when no value
  decides, month/day is assumed and `ColumnKind.detail` says so (`date_format`, `as_dates`).
The user overrides with `categorical=`, `numeric=` (and `ignore=`, applied by the callers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.quoting import quote

ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key|index)$|^id[_\s-]", re.I)
CODE_NAME = re.compile(
    r"(num|nr|code)$|(^|[_\s-])(no|cd|zip|zipcode|postcode|postal|region|district|village|county|state|country|"
    r"branch|store|site|cluster|segment|category|cat|class|type|group|sector|industry)$",
    re.I,
)
MAX_CODES = 500
NUMERIC_TEXT_SHARE = 0.95
BOOLEAN_VALUES = {"0", "1", "0.0", "1.0", "True", "False", "true", "false", "yes", "no"}
_TRUE, _FALSE = {"1", "1.0", "true", "yes"}, {"0", "0.0", "false", "no"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")
_SLASHED_DATE = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})$")
_DOTTED_DATE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
DATE_SHARE = 0.9  # at least this share of a text column's values must read as dates of one format
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_LEADING_ZERO = re.compile(r"^0\d")


@dataclass(frozen=True)
class ColumnKind:
    """A column's kind and, when the dtype alone would have said otherwise, why (`detail`)."""

    kind: str
    detail: str = ""
    date_format: str = ""  # datetime kinds read from text: the strptime format, or "ISO8601"


def as_numbers(series: pd.Series) -> pd.Series:
    """Return `series` as floats: text numbers parsed (spaces, a currency sign, `%` and thousands commas
    removed), anything else NaN. Numeric and boolean series are returned as floats (True is 1.0)."""
    if pd.api.types.is_numeric_dtype(series):  # booleans included: 1.0 and 0.0
        return series.astype(float)
    text = series.astype("string").str.strip().str.replace(r"^[$€£¥]\s*|\s*%$", "", regex=True)
    text = text.where(~text.str.match(_THOUSANDS.pattern, na=False), text.str.replace(",", "", regex=False))
    return pd.to_numeric(text, errors="coerce").astype(float)


def as_booleans(series: pd.Series) -> pd.Series:
    """Return `series` as nullable integers 1/0: 1, 1.0, "1", "1.0", True, "true", "yes" are 1, their opposites
    0, anything else missing. One spelling for every way a 0/1 column reaches us (a blank makes pandas read
    0/1 as 0.0/1.0; another extract writes True/False)."""
    text = series.astype("string").str.strip().str.lower()
    return (
        pd.Series(np.where(text.isin(_TRUE), 1, np.where(text.isin(_FALSE), 0, -1)), index=series.index)
        .astype("Int64")
        .mask(lambda v: v < 0)
    )


def _is_boolean(values: pd.Series) -> bool:
    if values.empty:
        return False
    canonical = as_booleans(values)
    return bool(canonical.notna().all() and canonical.nunique() == 2)


def date_format(values: pd.Series) -> tuple[str, str]:
    """Return (strptime format or "ISO8601", a note) for text values that are dates, ("", "") otherwise.

    Slashed dates are ordered by their values: a first part above 12 is a day (day/month/year), a second part
    above 12 a day (month/day/year); when neither occurs the order is ambiguous: month/day is assumed and the
    note says so, instead of guessing silently."""
    text = values.dropna().astype(str).str.strip()
    if text.empty:
        return "", ""
    if text.str.match(_ISO_DATE.pattern).mean() >= DATE_SHARE:
        return "ISO8601", ""
    if text.str.match(_DOTTED_DATE.pattern).mean() >= DATE_SHARE:
        return "%d.%m.%Y", ""
    parts = text.str.extract(_SLASHED_DATE.pattern)
    if parts[0].notna().mean() < DATE_SHARE:
        return "", ""
    first, second = parts[0].dropna().astype(int), parts[1].dropna().astype(int)
    separator = "-" if text.str.contains("-", regex=False).mean() > 0.5 else "/"
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        return "", ""  # both orders occur: not one date format
    if day_first:
        return f"%d{separator}%m{separator}%Y", "day/month/year (a first part above 12)"
    if month_first:
        return f"%m{separator}%d{separator}%Y", "month/day/year (a second part above 12)"
    return f"%m{separator}%d{separator}%Y", (
        "month/day/year assumed: no value has a part above 12, so day/month/year is equally possible"
    )


def as_dates(series: pd.Series, fmt: str) -> pd.Series:
    """Return `series` as datetimes read with `fmt` (from `date_format`); values that do not parse are missing."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    return pd.to_datetime(series.astype("string").str.strip(), format=fmt, errors="coerce")


def read_as(series: pd.Series, kind: str) -> pd.Series:
    """Return `series` read as `kind` says: text of a numeric column as floats (`as_numbers`), float integer codes
    of a categorical column as integers (so that categories read '12', not '12.0'); `series` itself when it is
    already read so (callers may test `is` to skip a copy)."""
    if kind == "numeric" and not pd.api.types.is_numeric_dtype(series):
        return as_numbers(series)
    if kind == "categorical" and pd.api.types.is_float_dtype(series):
        return series.round().astype("Int64")
    return series


def _integer_valued(values: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(values):
        return True
    numbers = values.to_numpy(dtype=float)
    return bool(numbers.size) and bool(np.all(np.isfinite(numbers))) and bool(np.all(numbers == np.round(numbers)))


def _numeric_kind(values: pd.Series, name: str, detail: str = "") -> ColumnKind:
    if not _integer_valued(values):
        return ColumnKind("numeric", detail)
    distinct = values.nunique()
    if ID_NAME.search(name):
        return ColumnKind("identifier", "its name looks like an id")
    if CODE_NAME.search(name) and 2 < distinct <= min(MAX_CODES, 0.5 * len(values)):
        return ColumnKind("categorical", "integer codes")
    if len(values) > 50 and distinct > 0.95 * len(values):
        span = float(values.max()) - float(values.min()) + 1
        if span <= 2 * distinct:  # distinct integers filling their range: a row counter or a sequence number
            return ColumnKind("identifier", "a row counter")
    return ColumnKind("numeric", detail)


def infer_kind(
    series: pd.Series, name: str, categorical: tuple[str, ...] = (), numeric: tuple[str, ...] = ()
) -> ColumnKind:
    """Return the kind of `series` (a sample of the column is enough) named `name`; `categorical` and `numeric`
    are the user's overrides. See the module docstring for the rules."""
    if name in categorical:
        return ColumnKind("categorical", "as you asked")
    values = series.dropna()
    if name in numeric:
        return ColumnKind("numeric", "as you asked")
    if pd.api.types.is_bool_dtype(series) or _is_boolean(values):
        return ColumnKind("boolean")
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind("datetime")
    if pd.api.types.is_numeric_dtype(series):
        return _numeric_kind(values, name)
    text = values.astype(str)
    fmt, note = date_format(text)
    if fmt:
        return ColumnKind("datetime", note, fmt)
    numbers = as_numbers(text)
    if len(text) and numbers.notna().mean() >= NUMERIC_TEXT_SHARE and text.str.match(_LEADING_ZERO).mean() < 0.05:
        return _numeric_kind(numbers.dropna(), name, "numbers stored as text")
    if ID_NAME.search(name):
        return ColumnKind("identifier", "its name looks like an id")
    if values.nunique() > 0.5 * len(values) and len(values) > 50:
        return ColumnKind("identifier", "nearly every value differs (names, ids or free text)")
    return ColumnKind("categorical")


def kind_notes(kinds: dict[str, ColumnKind]) -> list[str]:
    """Return one sentence per group of columns whose kind is not what their dtype says (codes read as
    categories, text read as numbers, identifiers left out), with the options that override it; [] if none."""

    def names(kind: str, detail: str | None = None) -> str:
        chosen = [n for n, k in kinds.items() if k.kind == kind and (detail is None or k.detail == detail)]
        shown = ", ".join(f"'{quote(n, 40)}'" for n in chosen[:6])
        return shown + (f" and {len(chosen) - 6} more" if len(chosen) > 6 else "")

    notes = []
    if codes := names("categorical", "integer codes"):
        notes.append(f"Read as categories (integer codes): {codes}; say numeric=<columns> if they are quantities.")
    if text := names("numeric", "numbers stored as text"):
        notes.append(f"Read as numbers (stored as text; values that are not numbers count as missing): {text}.")
    if ids := names("identifier"):
        notes.append(f"Left out as identifiers or free text: {ids}; say categorical=<columns> to include them.")
    return notes
