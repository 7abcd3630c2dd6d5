"""Drift from mergeable summaries (services/analytics/summaries.py) against the local path (drift.analyse)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.analytics import drift, summaries

OPTIONS = drift.DriftOptions(tests_only=True)


def known_drift(n: int = 3000, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two tables with known drift: 'a' shifts by half an sd, 'c' gains a category, 'd' gains missing values;
    'b' does not move."""
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.exponential(1, n),
                        "c": rng.choice(list("xyz"), n, p=[0.5, 0.3, 0.2]), "d": rng.normal(0, 1, n)})  # fmt: skip
    cur = pd.DataFrame({"a": rng.normal(0.5, 1, n), "b": rng.exponential(1, n),
                        "c": rng.choice(list("xyzw"), n, p=[0.3, 0.3, 0.2, 0.2]),
                        "d": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n))})  # fmt: skip
    return ref, cur


def breast_cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    """scikit-learn's bundled Wisconsin breast cancer table (569 rows): benign against malignant tumours."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return frame[frame.target == 1].drop(columns="target"), frame[frame.target == 0].drop(columns="target")


def assert_parity(local: dict, other: dict) -> None:
    """Same verdicts, identical counts and categorical statistics, numeric ones within the stated bounds."""
    assert other["dataset_drift"] == local["dataset_drift"]
    assert other["rows"]["reference"] == local["rows"]["reference"]
    mine = {c["name"]: c for c in other["columns"]}
    for column in local["columns"]:
        theirs = mine[column["name"]]
        assert theirs["drifted"] == column["drifted"], column["name"]
        assert theirs["missing_share"] == pytest.approx(column["missing_share"], rel=1e-12)
        if "chi2" in column:
            assert theirs["chi2"] == pytest.approx(column["chi2"], rel=1e-12)
            assert theirs["jensen_shannon"] == pytest.approx(column["jensen_shannon"], rel=1e-12)
            assert theirs["new_categories"] == column["new_categories"]
        if "ks_statistic" in column:
            bound = theirs["ks_error_bound"]
            assert theirs["ks_statistic"] - 1e-12 <= column["ks_statistic"] <= theirs["ks_statistic"] + bound + 1e-12
            assert abs(theirs["wasserstein"] - column["wasserstein"]) <= theirs["wasserstein_error_bound"] + 1e-12
            assert theirs["mean_shift_sd"] == pytest.approx(column["mean_shift_sd"], rel=1e-9, abs=1e-12)


def test_summaries_on_known_drift_match_the_local_path() -> None:
    ref, cur = known_drift()
    local = drift.analyse(ref, cur, OPTIONS).to_dict()
    summary = summaries.summary_drift(ref, cur, OPTIONS, chunk_rows=700).to_dict()
    assert_parity(local, summary)
    drifted = {c["name"] for c in summary["columns"] if c["drifted"]}
    assert drifted == {"a", "c", "d"}
    by_name = {c["name"]: c for c in local["columns"]}
    # With exact reference quantiles the PSI bins are drift.py's bins: PSI is equal, not just close.
    assert {c["name"]: c["psi"] for c in summary["columns"]} == pytest.approx({n: by_name[n]["psi"] for n in by_name})
    assert summary["approximations"]["ks_error_bound"] < 0.0015


def test_summaries_on_real_data_match_the_local_path() -> None:
    benign, malignant = breast_cancer()
    local = drift.analyse(benign, malignant, OPTIONS).to_dict()
    assert_parity(local, summaries.summary_drift(benign, malignant, OPTIONS).to_dict())
    halves = benign.sample(frac=1.0, random_state=3)
    first, second = halves.iloc[: len(halves) // 2], halves.iloc[len(halves) // 2 :]
    local = drift.analyse(first, second, OPTIONS).to_dict()
    assert not local["dataset_drift"]
    assert_parity(local, summaries.summary_drift(first, second, OPTIONS, chunk_rows=50).to_dict())


def test_merge_is_associative_and_chunking_does_not_change_the_summary() -> None:
    ref, cur = known_drift(900)
    plan = summaries.plan_from_frames(ref, cur, OPTIONS)
    a, b, c = (summaries.summarise_frame(part, plan) for part in (ref.iloc[:100], ref.iloc[100:500], ref.iloc[500:]))
    left, right, whole = a.merge(b).merge(c), a.merge(b.merge(c)), summaries.summarise_frame(ref, plan)
    for summary in (left, right, c.merge(a).merge(b)):
        assert summary.rows == whole.rows
        for name in ("a", "b", "d"):
            assert np.array_equal(summary.columns[name].counts, whole.columns[name].counts)
            assert summary.columns[name].total == pytest.approx(whole.columns[name].total, abs=1e-9)
        assert summary.columns["c"].counts == whole.columns["c"].counts


def test_category_cap_lumps_the_rarest_values_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "CATEGORY_CAP", 3)
    ref = pd.DataFrame({"c": list("aaaabbbccd") * 3})
    cur = pd.DataFrame({"c": list("aaabbbccde") * 3})
    result = summaries.summary_drift(ref, cur, OPTIONS).to_dict()
    column = result["columns"][0]
    assert "other" in {change["category"] for change in column["top_changes"]}
    assert "distinct values" in column["note"]


def test_psi_with_tied_deciles_is_drift_py_psi() -> None:
    """A reference that is mostly zeros: drift.py's PSI gets bins 'at a cut'; the summaries give the same PSI."""
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": np.where(rng.random(2000) < 0.7, 0.0, rng.exponential(1, 2000))})
    cur = pd.DataFrame({"x": np.where(rng.random(2000) < 0.4, 0.0, rng.exponential(1, 2000))})
    local, summary = drift.analyse(ref, cur, OPTIONS).to_dict(), summaries.summary_drift(ref, cur, OPTIONS).to_dict()
    assert summary["columns"][0]["psi"] == pytest.approx(local["columns"][0]["psi"], rel=1e-12)
    assert_parity(local, summary)


def test_edges_from_a_sample_state_the_psi_cuts_rank_error_measured_on_every_row() -> None:
    """Spark's plan: edges from a uniform sample of each table; the result's quantile_rank_error is the largest
    distance of a decile level from its cut's rank interval [P(X < v), P(X ≤ v)] among all rows (here computed
    directly), for a continuous column and for counts (ties), and the verdicts stay the local path's."""
    rng = np.random.default_rng(11)
    n = 30_000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "k": rng.poisson(3.0, n).astype(float)})
    cur = pd.DataFrame({"a": rng.normal(0.3, 1, n), "k": rng.poisson(3.0, n).astype(float)})
    plan = summaries.plan_from_frames(ref.sample(2000, random_state=1), cur.sample(2000, random_state=2), OPTIONS,
                                      sampled=True)  # fmt: skip
    assert plan.quantile_error is None

    def summarise(table: pd.DataFrame) -> summaries.TableSummary:
        return summaries.summarise_frame(table, plan)

    result = summaries.drift_from_summaries(plan, summarise(ref), summarise(cur), OPTIONS).to_dict()
    truth = 0.0
    for name in ("a", "k"):
        x = ref[name].to_numpy()
        for q, v in zip(np.linspace(0, 1, 11)[1:-1], plan.numeric[name].deciles[1:-1], strict=True):
            low, high = np.mean(x < v), np.mean(x <= v)
            truth = max(truth, low - q if q < low else max(0.0, q - high))
    assert 0.001 < truth < 0.05  # a 2,000-row sample's deciles: off by about 1% of rank
    assert result["approximations"]["quantile_rank_error"] == pytest.approx(truth, abs=1e-12)
    assert_parity(drift.analyse(ref, cur, OPTIONS).to_dict(), result)
    assert summaries.plan_from_frames(ref, cur, OPTIONS).quantile_error == 0.0  # all rows: exact quantiles
