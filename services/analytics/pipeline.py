"""The one analysis pipeline: read → check → analyse → chart. Chat (in its analysis process), the command line
and the benchmarks call `run`; what differs between commands is in their spec (services/analytics/commands.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.analytics import progress
from services.analytics.commands import CommandSpec
from services.analytics.errors import AnalyticsError

Source = tuple[bytes | str | Path, str]  # (the file's bytes or path, the name shown to people)


@dataclass(frozen=True)
class Outcome:
    """What an analysis returns: its typed result (MetricsResult, DriftResult or UpliftResult; `to_dict()` for
    plain data), the chart's PNG bytes (b"" when there is nothing to draw) and the names of the tables read."""

    result: Any
    chart: bytes
    names: tuple[str, ...]


def summary_line(result: Any, fallback: str) -> str:
    """Return the first sentence of a typed result's summary, or `fallback`."""
    lines = getattr(result, "summary", None) or ()
    return str(lines[0]) if lines else fallback


def run(
    spec: CommandSpec,
    sources: Sequence[Source],
    values: dict[str, Any],
    *,
    chart: bool = True,
    max_chart_bytes: int | None = None,
    dpi: int = 110,
    threads: int | None = None,
    spark_rows: int = 5_000_000,
    spark_mb: int = 200,
) -> Outcome:
    """Read the tables of `sources`, check `values` against them, analyse and draw the chart.

    `values` are already typed (`CommandSpec.parse` or `commands.check_values`). `threads` caps the BLAS and
    OpenMP threads of the analysis (threadpoolctl). Raises AnalyticsError with one sentence for unusable input."""
    from threadpoolctl import threadpool_limits

    from services.analytics.charts import MAX_PNG_BYTES
    from services.analytics.tables import read_table

    if len(sources) != len(spec.tables):
        raise AnalyticsError(f"{spec.name} reads {len(spec.tables)} table(s): {', '.join(spec.tables)}.")
    spec.check_required(values)
    if spec.large and all(isinstance(data, str | Path) for data, _ in sources):
        outcome = _on_spark(spec, sources, values, chart, max_chart_bytes or MAX_PNG_BYTES, dpi, spark_rows, spark_mb)
        if outcome:
            return outcome
    tables = []
    for data, name in sources:
        progress.report(f"reading {name}", force=True)
        table = _read_folder(Path(data), name) if isinstance(data, str | Path) and Path(data).is_dir() else \
            read_table(data, name)  # fmt: skip
        progress.report(f"read {progress.rows_text(len(table))} rows × {len(table.columns)} columns of {name}",
                        force=True)  # fmt: skip
        tables.append(table)
    values = {**values, "partitions": _partitions(sources)}  # drift leaves them out: drift.partitions_left_out
    spec.check(tables, values)
    with threadpool_limits(limits=threads):
        result = spec.analyse(tables, values)
    png = b""
    if chart:
        progress.report("drawing the chart", force=True)
        try:
            png = spec.chart(result, tables, max_chart_bytes or MAX_PNG_BYTES, dpi)
        except ValueError:  # nothing to draw (e.g. too few rows), or the chart cannot fit the size limit
            png = b""
    return Outcome(result, png, tuple(name for _, name in sources))


def _partitions(sources: Sequence[Source]) -> tuple[str, ...]:
    """Return the Hive partition columns of the folders among `sources` (services/analytics/engine.py)."""
    from services.analytics import engine

    found: dict[str, None] = {}
    for data, _ in sources:
        if isinstance(data, str | Path) and Path(data).is_dir():
            files = (str(file) for file in engine.parquet_files(Path(data)))
            found.update(dict.fromkeys(engine.partition_columns(files, str(data))))
    return tuple(found)


def _read_folder(folder: Path, name: str) -> Any:
    """Return the Parquet files of a folder (Hive-style partitions become columns, as on Spark) as one table."""
    import pandas as pd

    try:
        table = pd.read_parquet(folder)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - pyarrow's errors for a folder that is not Parquet vary by version
        raise AnalyticsError(f"I cannot read the folder {name}: it should hold Parquet files.") from None
    if table.empty:
        raise AnalyticsError(f"The folder {name} holds no rows.")
    return table


def _on_spark(
    spec: CommandSpec, sources: Sequence[Source], values: dict[str, Any], chart: bool, max_bytes: int, dpi: int,
    spark_rows: int, spark_mb: int,
) -> Outcome | None:  # fmt: skip
    """Run `spec` on Spark when `engine=spark`, or when `auto` and the files (or Parquet folders) are larger than
    the thresholds (services/analytics/engine.py); None: the local path runs. The chart draws the samples."""
    from services.analytics import engine

    forced = values.get("engine")
    if forced == engine.LOCAL:
        return None
    choice = engine.choose(None if forced in (None, "auto") else forced,
                           [engine.local_size(Path(data)) for data, _ in sources], spark_rows, spark_mb)  # fmt: skip
    if choice.engine != "spark":
        return None
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:  # the Lambda image has no Spark (requirements-spark.txt)
        if forced == "spark":
            raise AnalyticsError("engine=spark needs pyspark, which this installation lacks: use engine=local.")
        return None
    progress.report(choice.message, force=True)
    assert spec.large is not None
    result, samples = spec.large([str(data) for data, _ in sources], values)
    png = b""
    if chart and samples:
        try:
            png = spec.chart(result, samples, max_bytes, dpi)
        except ValueError:
            png = b""
    return Outcome(result, png, tuple(name for _, name in sources))
