"""Read a table (CSV or Parquet) from bytes or a file, with clear errors for what cannot be read."""

from __future__ import annotations

import difflib
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from services.analytics.errors import AnalyticsError
from services.quoting import quote

PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64_000  # the sample the separator is guessed from
SNIFF_LINES = 50
SEPARATORS = ",;\t|"
MAX_COLUMNS = 5_000  # wider tables are refused before any analysis (and before fuzzy matching of names)
SUGGEST_NAMES = 2_000  # column names compared with a mistyped one (difflib is quadratic per pair)
SUGGEST_NAME_CHARS = 100


def sniff_separator(data: bytes) -> str:
    """Return the separator of CSV `data` (comma, semicolon, tab or pipe: Excel in many European locales
    writes semicolons) from its first SNIFF_LINES lines within SNIFF_BYTES; a comma when it cannot tell.

    Our own code, not csv.Sniffer (nor pandas' sep=None, which calls it): the Sniffer's quote regex is
    quadratic and took 135 s on 64 KB of `,"`. This is one pass: per line, count each candidate outside
    quotes; the separator is the candidate found the same number of times (> 0) on the most lines."""
    sample = data[:SNIFF_BYTES].decode("utf-8", errors="replace")
    lines = sample.splitlines()[:SNIFF_LINES]
    if len(data) > SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    counts: dict[str, list[int]] = {sep: [] for sep in SEPARATORS}
    for line in lines:
        seen = dict.fromkeys(SEPARATORS, 0)
        quoted = False
        for char in line:
            if char == '"':
                quoted = not quoted
            elif not quoted and char in seen:
                seen[char] += 1
        for sep, n in seen.items():
            counts[sep].append(n)
    best, best_score = ",", (0, 0)
    for sep, per_line in counts.items():
        if not per_line or not per_line[0]:
            continue  # the header must hold the separator
        score = (sum(n == per_line[0] for n in per_line), per_line[0])  # consistent lines, then columns
        if score > best_score:
            best, best_score = sep, score
    return best


_COMMA_DECIMAL = re.compile(r'^"?-?\d+,\d+"?$')
_POINT_DECIMAL = re.compile(r'^"?-?\d+\.\d+"?$')


def _decimal_mark(data: bytes, separator: str) -> str:
    """Return ',' when a semicolon-separated sample writes numbers with a decimal comma (1,5), else '.'."""
    if separator != ";":
        return "."
    fields = [f.strip() for line in data[:SNIFF_BYTES].decode("utf-8", "replace").splitlines()[1:SNIFF_LINES]
              for f in line.split(";")]  # fmt: skip
    comma = sum(1 for f in fields if _COMMA_DECIMAL.match(f))
    point = sum(1 for f in fields if _POINT_DECIMAL.match(f))
    return "," if comma > point else "."


def read_table(data: bytes | str | Path, name: str = "", columns: list[str] | None = None) -> pd.DataFrame:
    """Return the table in `data` (bytes, or a path); Parquet is recognised by its magic bytes, else CSV.

    `columns` reads only those columns (Parquet) or keeps only those (CSV). Raises AnalyticsError for an
    unreadable or empty table.
    """
    if isinstance(data, str | Path):
        path = Path(data)
        name = name or path.name
        try:
            data = path.read_bytes()
        except OSError as error:
            raise AnalyticsError(f"I cannot read the file {name}: {error.strerror or error}.") from None
    label = name or "the file"
    try:
        if data[:4] == PARQUET_MAGIC:
            table = pd.read_parquet(io.BytesIO(data), columns=columns)
        else:
            separator = sniff_separator(data)
            end = data.find(b"\n")
            fields = data[: end if end >= 0 else len(data)].count(separator.encode()) + 1  # quotes aside: a bound
            if fields > MAX_COLUMNS:  # refused before pandas builds 200,000 columns
                raise AnalyticsError(f"{label} has {fields:,} columns: {MAX_COLUMNS:,} at most.")
            # index_col=False: a first data row with more fields than the header made pandas build an index of
            # the extra fields (100,000 fields, 200 KB, took 30 s, past MAX_COLUMNS); pandas now warns and drops
            # them, and the warning, raised, refuses the table instead of dropping data silently.
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                table = pd.read_csv(
                    io.BytesIO(data), sep=separator, decimal=_decimal_mark(data, separator), usecols=columns,
                    low_memory=False, index_col=False,
                )  # fmt: skip
    except AnalyticsError:
        raise
    except MemoryError:  # pyarrow's ArrowMemoryError too: the analysis process says how much memory it may use
        raise
    except pd.errors.ParserWarning:
        raise AnalyticsError(
            f"{label} has rows with more fields than its header: fix those rows and resend it."
        ) from None
    except pd.errors.EmptyDataError:
        raise AnalyticsError(f"{label} is empty: send a table with a header row and at least one row.") from None
    except UnicodeDecodeError:
        raise AnalyticsError(f"{label} is not UTF-8 text: save it as CSV UTF-8 (or Parquet) and resend it.") from None
    except (ValueError, OSError) as error:  # pandas' and pyarrow's parse errors
        if columns and "Usecols" in str(error):
            shown = ", ".join(quote(c, 40) for c in columns[:10])
            raise AnalyticsError(f"{label} lacks some of the columns {shown}.") from None
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    except Exception:  # noqa: BLE001 - pyarrow raises its own types for corrupt files
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    if table.empty:
        raise AnalyticsError(f"{label} has no rows.")
    if len(table.columns) > MAX_COLUMNS:
        raise AnalyticsError(f"{label} has {len(table.columns):,} columns: {MAX_COLUMNS:,} at most.")
    _refuse_overflow(table, label)
    return table


def _refuse_overflow(table: pd.DataFrame, label: str) -> None:
    """Raise AnalyticsError for a number beyond float64 (CSV's `1e309` is read as infinity)."""
    for name in table.select_dtypes(include="float").columns:  # column by column: no copy of the whole table
        infinite = np.isinf(table[name].to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            raise AnalyticsError(
                f"{label} has a number too large for a 64-bit float in column '{quote(str(name), 40)}' "
                f"(data row {int(np.argmax(infinite)) + 1}): cap or rescale the values."
            )


def require_column(table: pd.DataFrame, column: str, role: str) -> pd.Series:
    """Return `table[column]`, or raise an AnalyticsError naming the table's columns (and the closest one)."""
    if column in table.columns:
        return table[column]
    names = [str(c) for c in table.columns]
    candidates = [name[:SUGGEST_NAME_CHARS] for name in names[:SUGGEST_NAMES]]
    close = difflib.get_close_matches(column[:SUGGEST_NAME_CHARS], candidates, n=1)
    hint = f" Did you mean '{quote(close[0], 40)}'?" if close else ""
    shown = ", ".join(quote(n, 40) for n in names[:30]) + (" …" if len(names) > 30 else "")  # names are user data
    raise AnalyticsError(f"The table has no column '{quote(column, 40)}' for {role}.{hint} Its columns are: {shown}.")
