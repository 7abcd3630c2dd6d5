"""Choosing the engine (services/analytics/engine.py): sizes from Parquet footers, the thresholds, engine=."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from services.analytics import engine
from services.analytics.errors import AnalyticsError


def test_sizes_come_from_the_footers_of_a_partitioned_folder(tmp_path: Path) -> None:
    for day in ("dt=2026-10-01", "dt=2026-10-02"):
        (tmp_path / day).mkdir()
        pd.DataFrame({"x": range(1000)}).to_parquet(tmp_path / day / "part-0.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    size = engine.local_size(tmp_path)
    assert size.rows == 2000
    assert size.bytes == sum(p.stat().st_size for p in tmp_path.rglob("*.parquet"))


def test_large_data_goes_to_spark_with_a_sentence_and_small_data_stays_local() -> None:
    small, large = engine.Size(1000, 10_000), engine.Size(30_000_000, 900_000_000)
    assert engine.choose(None, [small, small], 5_000_000, 200) == engine.Choice("local", "")
    choice = engine.choose(None, [large, small], 5_000_000, 200)
    assert choice.engine == "spark"
    assert "30,001,000 rows" in choice.message and "Spark" in choice.message and "minute" in choice.message
    assert engine.choose(None, [engine.Size(None, 300_000_000)], 5_000_000, 200).engine == "spark"  # CSV: bytes


def test_engine_option_forces_one_and_refuses_others() -> None:
    large = engine.Size(30_000_000, 900_000_000)
    assert engine.choose("local", [large], 5_000_000, 200).engine == "local"
    assert engine.choose("spark", [engine.Size(10, 10)], 5_000_000, 200).engine == "spark"
    with pytest.raises(AnalyticsError, match="engine= takes local or spark"):
        engine.choose("dask", [large], 5_000_000, 200)
