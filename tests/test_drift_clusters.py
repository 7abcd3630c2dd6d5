"""Drift on entity splits (issue 21): with `cluster=<column>` the tests permute whole entities, so tables of
different entities of one population are not called drift; without it, an entity-like column is named in a
warning. Data: statsmodels' Grunfeld investment panel (11 US firms × 20 years, Grunfeld 1958), which no one here
wrote; bench/drift_error_rates.py --clusters measures the rates."""

from __future__ import annotations

import time

import numpy as np
import pytest
import statsmodels.api as sm

from services.analytics import progress
from services.analytics.commands import DRIFT
from services.analytics.drift import DriftOptions, analyse
from services.analytics.errors import AnalyticsError


def firm_halves(seed: int):
    table = sm.datasets.grunfeld.load_pandas().data
    firms = table["firm"].unique()
    chosen = set(np.random.default_rng(seed).permutation(firms)[: len(firms) // 2].tolist())
    inside = table["firm"].isin(chosen)
    return table[inside], table[~inside]


def test_an_entity_split_is_drift_row_by_row_but_not_with_cluster_and_the_warning_names_the_entity():
    reference, current = firm_halves(0)
    rows = analyse(reference, current, DriftOptions(tests_only=True, ignore=("year",)))
    assert rows.dataset_drift  # rows of one firm are alike: row-level tests call the firms' differences drift
    assert rows.cluster.suspected == ("firm",) and any("cluster=firm" in w for w in rows.warnings)
    assert any("cluster=firm" in line for line in rows.summary)
    firms = analyse(reference, current, DriftOptions(tests_only=True, ignore=("year",), cluster="firm"))
    assert not firms.dataset_drift and firms.warnings == ()
    assert firms.column("firm") is None and firms.cluster.column == "firm"
    assert all("permuted over entities" in c.test for c in firms.columns if c.tested)
    assert firms.to_dict()["cluster"]["clusters"] == {"reference": 5, "current": 6}


def test_with_cluster_a_real_shift_between_entities_is_still_found():
    """gapminder (causaldata; Gapminder Foundation's country table): 40 countries in 1952-67 against the same
    countries in 1992-2007. Life expectancy rose everywhere; tested country by country it still drifts."""
    from causaldata import gapminder

    table = gapminder.load_pandas().data
    countries = set(np.random.default_rng(0).permutation(table["country"].unique())[:40].tolist())
    table = table[table["country"].isin(countries)]
    early, late = table[table["year"] <= 1967], table[table["year"] >= 1992]
    result = analyse(early, late, DriftOptions(tests_only=True, ignore=("year",), cluster="country"))
    assert result.column("lifeExp").drifted and result.dataset_drift


def test_cluster_is_a_chat_option_and_is_checked_against_the_tables():
    values, words = DRIFT.parse("cluster=firm")
    assert values["cluster"] == "firm" and not words
    reference, current = firm_halves(0)
    with pytest.raises(AnalyticsError, match="no column"):
        analyse(reference, current, DriftOptions(tests_only=True, cluster="store"))
    with pytest.raises(AnalyticsError, match="at least 2 entities"):
        analyse(reference[reference["firm"] == reference["firm"].iloc[0]], current,
                DriftOptions(tests_only=True, cluster="firm"))  # fmt: skip
    quiet = analyse(reference, current, DriftOptions(tests_only=True, cluster="none"))
    assert quiet.warnings == () and "cluster" not in quiet.to_dict()


def test_drift_reports_its_columns_as_it_tests_them_at_most_about_twice_a_second():
    rng = np.random.default_rng(0)
    import pandas as pd

    wide = pd.DataFrame(rng.normal(size=(12, 400)), columns=[f"c{i}" for i in range(400)])
    said: list[tuple[float, str]] = []
    started = time.monotonic()
    with progress.reporting(lambda text: said.append((time.monotonic(), text))):
        analyse(wide, wide * 1.01, DriftOptions(tests_only=True, cluster="none"))
    elapsed = time.monotonic() - started
    columns = [text for _, text in said if text.startswith("testing column ")]
    assert columns and columns[0] == "testing column 1 of 400"
    assert len(columns) <= elapsed / progress.EVERY_SECONDS + 2  # 400 columns, a handful of phrases


def test_uplift_reports_its_columns_as_it_tests_them():
    import pandas as pd

    from services.analytics.uplift_decision import heterogeneity

    rng = np.random.default_rng(1)
    features = pd.DataFrame(rng.normal(size=(400, 30)), columns=[f"x{i}" for i in range(30)])
    said: list[str] = []
    with progress.reporting(said.append):
        heterogeneity(features, rng.normal(size=400), rng.integers(0, 2, 400))
    assert said and said[0] == "testing column 1 of 30"
