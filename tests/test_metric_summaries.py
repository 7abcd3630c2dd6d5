"""Binary metrics from mergeable score summaries (services/analytics/metric_summaries.py) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from services.analytics import metric_summaries as ms


def scored(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * y - 0.8)))
    return y, p


def test_exact_metrics_and_the_auc_bound_against_scikit_learn() -> None:
    y, p = scored()
    pieces = [ms.summarise_scores(y[i : i + 3000], p[i : i + 3000]) for i in range(0, len(y), 3000)]
    summary = pieces[0]
    for piece in pieces[1:]:
        summary = summary.merge(piece)
    result = ms.metrics_from_summary(summary, thresholds=(0.3, 0.5))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert result["brier"] == pytest.approx(skm.brier_score_loss(y, p), rel=1e-9)
    exact_auc = skm.roc_auc_score(y, p)
    assert abs(result["roc_auc"] - exact_auc) <= result["roc_auc_error_bound"] + 1e-12
    assert result["roc_auc_error_bound"] < 1e-3
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=2e-3)  # approximate: measured
    for row in result["thresholds"]:
        predicted = (p >= row["threshold"]).astype(int)
        assert row["tp"] == int(((predicted == 1) & (y == 1)).sum())
        assert row["precision"] == pytest.approx(skm.precision_score(y, predicted), rel=1e-12)
        assert row["f1"] == pytest.approx(skm.f1_score(y, predicted), rel=1e-12)
    assert sum(b["rows"] for b in result["calibration_bins"]) == len(y)


def test_scores_outside_zero_one_are_refused_in_a_sentence() -> None:
    with pytest.raises(ms.AnalyticsError, match="between 0 and 1"):
        ms.summarise_scores(np.array([0, 1]), np.array([0.2, 1.5]))
