"""Read a table (CSV or Parquet) from bytes or a file, with clear errors for what cannot be read."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from services.analytics.errors import AnalyticsError
from services.quoting import quote

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
            shown = ", ".join(quote(c, 40) for c in columns[:10])
            raise AnalyticsError(f"{label} lacks some of the columns {shown}.") from None
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    except Exception:  # noqa: BLE001 - pyarrow raises its own types for corrupt files
        raise AnalyticsError(f"I cannot read {label} as a CSV or Parquet table: check that it is one.") from None
    if table.empty:
        raise AnalyticsError(f"{label} has no rows.")
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
    close = difflib.get_close_matches(column, names, n=1)
    hint = f" Did you mean '{quote(close[0], 40)}'?" if close else ""
    shown = ", ".join(quote(n, 40) for n in names[:30]) + (" …" if len(names) > 30 else "")  # names are user data
    raise AnalyticsError(f"The table has no column '{quote(column, 40)}' for {role}.{hint} Its columns are: {shown}.")
