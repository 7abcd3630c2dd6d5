"""Typed analysis results (issue 21): DriftResult and MetricsResult are frozen dataclasses read by attribute,
and their `to_dict()` is exactly the plain data the analyses returned before they were typed: the same keys in
the same order and the same values, so the CLI's JSON, the monitors and the cards say what they said.

tests/data/typed_results_golden.json was written by the dict-returning code (commit 6151974) on published
data no one here wrote: statsmodels' Grunfeld investment panel, scikit-learn's breast cancer, iris and
diabetes tables; it holds every column kind (numeric, categorical, boolean, dates, identifiers), schema
changes, adversarial validation, and each metrics task and binary variant."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from services.analytics.drift import DriftOptions, analyse
from services.analytics.drift_types import DriftColumn, DriftResult
from services.analytics.metrics import evaluate
from services.analytics.metrics_types import MetricsResult
from services.settings import REPO_ROOT

GOLDEN = json.loads((REPO_ROOT / "tests" / "data" / "typed_results_golden.json").read_text())


def _drift_cases() -> dict:
    from statsmodels.datasets import grunfeld

    g = grunfeld.load_pandas().data
    g["when"] = pd.to_datetime(g["year"].astype(int).astype(str) + "-01-01").dt.strftime("%m/%d/%Y")
    g["row_id"] = np.arange(len(g))
    early, late = g[g["year"] < 1945].drop(columns=["year"]), g[g["year"] >= 1945].drop(columns=["year"])
    late = late.drop(columns=["value"]).assign(extra=1.0)
    bc = load_breast_cancer(as_frame=True).frame
    half = np.random.default_rng(1).permutation(len(bc))
    ir = load_iris(as_frame=True).frame
    ir["species"] = ir["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return {
        # cluster="none": the golden predates the entity warning its 'firm' column now gets (test_drift_clusters)
        "drift_grunfeld_years": lambda: analyse(early, late, DriftOptions(seed=0, cluster="none")),
        "drift_breast_cancer_halves": lambda: analyse(bc.iloc[half[:280]], bc.iloc[half[280:]],
                                                      DriftOptions(tests_only=True)),
        "drift_iris_species": lambda: analyse(ir[ir.target < 2].drop(columns="target"),
                                              ir[ir.target > 0].drop(columns="target"), DriftOptions(folds=3)),
    }  # fmt: skip


def _metrics_cases() -> dict:
    x = load_breast_cancer()
    p = 1 / (1 + np.exp(-(x.data[:, 0] - 14) / 2))
    labels = load_iris(as_frame=True).frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"}).to_numpy()
    probabilities = pd.DataFrame({"y": labels, "yhat": labels, "p_setosa": 0.6, "p_versicolor": 0.3,
                                  "p_virginica": 0.1})  # fmt: skip
    d = load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(2)
    rank = pd.DataFrame({"q": np.repeat(np.arange(30), 8), "rel": rng.integers(0, 3, 240), "s": rng.random(240)})
    return {
        "metrics_binary_probabilities": lambda: evaluate(pd.DataFrame({"y": x.target, "p": p}), "y", "p"),
        "metrics_binary_scores": lambda: evaluate(pd.DataFrame({"y": x.target, "s": x.data[:, 0]}), "y", "s"),
        "metrics_binary_classes": lambda: evaluate(pd.DataFrame({"y": x.target, "s": (p < 0.5).astype(int)}), "y",
                                                   "s"),
        "metrics_binary_inverted": lambda: evaluate(pd.DataFrame({"y": x.target, "p": p}), "y", "p", threshold=0.3),
        "metrics_multiclass": lambda: evaluate(pd.DataFrame({"y": labels, "yhat": np.roll(labels, 7)}), "y", "yhat"),
        "metrics_multiclass_probabilities": lambda: evaluate(probabilities, "y", "yhat"),
        "metrics_regression": lambda: evaluate(pd.DataFrame({"y": d["target"], "s": d["bmi"] * 900 + 150}), "y", "s"),
        "metrics_ranking": lambda: evaluate(rank, "rel", "s", query="q", k=5),
    }  # fmt: skip


def _same_document(result, name: str) -> None:
    document = json.loads(json.dumps(result.to_dict(), default=float, ensure_ascii=False))
    assert document == GOLDEN[name]
    assert list(document) == list(GOLDEN[name])  # the same keys in the same order: the printed JSON is unchanged
    if "columns" in document and isinstance(document["columns"], list):
        for ours, theirs in zip(document["columns"], GOLDEN[name]["columns"], strict=True):
            assert list(ours) == list(theirs)


@pytest.mark.parametrize("name", list(_drift_cases()))
def test_drift_to_dict_is_the_plain_data_of_before(name):
    result = _drift_cases()[name]()
    assert isinstance(result, DriftResult) and all(isinstance(c, DriftColumn) for c in result.columns)
    _same_document(result, name)
    for column in result.columns:  # each row reads back from its plain data
        assert DriftColumn.from_dict(json.loads(json.dumps(column.to_dict(), default=float))).to_dict() == (
            json.loads(json.dumps(column.to_dict(), default=float)))  # fmt: skip
    assert pickle.loads(pickle.dumps(result)) == result  # the analysis process sends it pickled
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.dataset_drift = True  # type: ignore[misc]


@pytest.mark.parametrize("name", list(_metrics_cases()))
def test_metrics_to_dict_is_the_plain_data_of_before(name):
    result = _metrics_cases()[name]()
    assert isinstance(result, MetricsResult)
    _same_document(result, name)
    assert MetricsResult.from_dict(result.to_dict()).to_dict() == result.to_dict()
    assert pickle.loads(pickle.dumps(result)) == result


def test_a_metric_value_is_read_by_name_and_only_metrics_count():
    result = _metrics_cases()["metrics_binary_probabilities"]()
    assert result.value("roc_auc") == result.roc_auc and result.value("mae") is None
    assert result.value("positive_label") is None and result.value("to_dict") is None
