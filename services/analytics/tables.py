"""Read a table (CSV or Parquet) from bytes or a file, with clear errors for what cannot be read."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from services.analytics.errors import AnalyticsError
from services.analytics.wording import short

PARQUET_MAGIC = b"PAR1"


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
            text_sample = data[:4096].decode("utf-8", errors="replace")
            separator = "\t" if text_sample.count("\t") > text_sample.count(",") else ","
            table = pd.read_csv(io.BytesIO(data), sep=separator, usecols=columns, low_memory=False)
    except pd.errors.EmptyDataError:
        raise AnalyticsError(f"{label} is empty: send a table with a header row and at least one row.") from None
    except UnicodeDecodeError:
        raise AnalyticsError(f"{label} is not UTF-8 text: save it as CSV UTF-8 (or Parquet) and resend it.") from None
    except (ValueError, OSError) as error:  # pandas' and pyarrow's parse errors
        if columns and "Usecols" in str(error):
            raise AnalyticsError(f"{label} lacks some of the columns {short(', '.join(columns))}.") from None
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    except Exception:  # noqa: BLE001 - pyarrow raises its own types for corrupt files
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    if table.empty:
        raise AnalyticsError(f"{label} has no rows.")
    _refuse_infinite(table, label, csv=data[:4] != PARQUET_MAGIC)
    return table


def _refuse_infinite(table: pd.DataFrame, label: str, csv: bool) -> None:
    """Raise an AnalyticsError naming the first column and row with a number too large for float64 (1e309 is
    read as infinity, and every statistic on it would be infinite or undefined)."""
    for column in table.select_dtypes(include="number").columns:
        values = table[column].to_numpy(dtype=float, na_value=np.nan)
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            row = int(infinite[0]) + (2 if csv else 1)  # CSV: the header is line 1
            where = f"line {row}" if csv else f"row {row}"
            raise AnalyticsError(
                f"{label}: the column '{short(column)}' holds a number too large to compute with at {where} "
                f"(beyond ±1.8e308, or infinite){f' and {infinite.size - 1} more' if infinite.size > 1 else ''}; "
                "correct or remove it and send the table again."
            )


def require_column(table: pd.DataFrame, column: str, role: str) -> pd.Series:
    """Return `table[column]`, or raise an AnalyticsError naming the table's columns (and the closest one)."""
    if column in table.columns:
        return table[column]
    names = [str(c) for c in table.columns]
    close = difflib.get_close_matches(column, names, n=1)
    hint = f" Did you mean '{short(close[0])}'?" if close else ""
    shown = ", ".join(short(name, 30) for name in names[:30]) + (" …" if len(names) > 30 else "")
    raise AnalyticsError(f"The table has no column '{short(column)}' for {role}.{hint} Its columns are: {shown}.")
