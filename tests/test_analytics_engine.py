"""Choosing the engine (services/analytics/engine.py): sizes from Parquet footers, the thresholds, engine=."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_the_pipeline_keeps_small_files_on_the_local_path(tmp_path: Path) -> None:
    from services.analytics import commands, pipeline

    rng = np.random.default_rng(0)
    for name in ("ref.parquet", "cur.parquet"):
        pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(list("xyz"), 300)}).to_parquet(tmp_path / name)
    values = commands.check_values(commands.DRIFT, {"tests_only": True})
    outcome = pipeline.run(commands.DRIFT, [(tmp_path / "ref.parquet", "ref"), (tmp_path / "cur.parquet", "cur")],
                           values, chart=False)  # fmt: skip
    assert outcome.result.engine is None and outcome.result.approximations is None


def test_without_pyspark_auto_stays_local_and_engine_spark_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from services.analytics import commands, pipeline

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    rng = np.random.default_rng(0)
    for name in ("ref.parquet", "cur.parquet"):
        pd.DataFrame({"a": rng.normal(size=300)}).to_parquet(tmp_path / name)
    sources = [(tmp_path / "ref.parquet", "ref"), (tmp_path / "cur.parquet", "cur")]
    auto = pipeline.run(commands.DRIFT, sources, commands.check_values(commands.DRIFT, {"tests_only": True}),
                        chart=False, spark_rows=10)  # fmt: skip
    assert auto.result.engine is None
    forced = commands.check_values(commands.DRIFT, {"tests_only": True, "engine": "spark"})
    with pytest.raises(AnalyticsError, match="needs pyspark"):
        pipeline.run(commands.DRIFT, sources, forced, chart=False)


def test_the_command_line_reads_analytics_engine_and_the_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util
    import json

    from services.analytics.__main__ import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    rng = np.random.default_rng(0)
    for name in ("ref.parquet", "cur.parquet"):
        pd.DataFrame({"a": rng.normal(size=300)}).to_parquet(tmp_path / name)
    paths = [str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")]
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("ANALYTICS_ENGINE", "spark")  # what the operator chose: Spark, which is missing here
    assert main(["drift", *paths, "--tests-only"]) == 2
    assert "needs pyspark" in capsys.readouterr().err
    monkeypatch.setenv("ANALYTICS_ENGINE", "auto")
    monkeypatch.setenv("ANALYTICS_SPARK_ROWS", "100")  # 600 rows are over it: auto wants Spark, stays local
    assert main(["drift", *paths, "--tests-only", "--json"]) == 0
    assert "engine" not in json.loads(capsys.readouterr().out)
    monkeypatch.setenv("ANALYTICS_SPARK_ROWS", "0")
    assert main(["drift", *paths, "--tests-only"]) == 2
    assert "ANALYTICS_SPARK_ROWS" in capsys.readouterr().err
