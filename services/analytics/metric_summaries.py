"""Mergeable summaries of binary predictions (probabilities in [0, 1]) and the metrics they give.

Per score bin (SCORE_BINS equal bins of [0, 1]) and label: the count, Σ score, Σ score², Σ ln(p) and
Σ ln(1 − p) (p clipped to [ε, 1 − ε] as metrics.py and scikit-learn do). Summaries add up (`merge`), so any
engine can compute them piece by piece. From them:
- exact (up to floating-point summation): rows, base rate, log loss, Brier score, mean prediction, calibration
  (Σ p / Σ y), and calibration bins whose edges are multiples of 1/SCORE_BINS (e.g. ten bins);
- exact at thresholds on the bin edges: confusion counts, precision, recall, F1 (a threshold t counts p ≥ t);
- bounded: ROC AUC treats the pairs inside one bin as ties (half credit); the exact AUC is within
  `roc_auc_error_bound` = Σ_bins positives·negatives / (2·P·N) of it (0 when no bin holds both labels);
- approximate: PR AUC (average precision) over bin-edge thresholds, not bounded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.analytics.errors import AnalyticsError

SCORE_BINS = 10_000
EPSILON = 1e-15


@dataclass
class ScoreSummary:
    """Per-bin sums for negatives (row 0) and positives (row 1): count, Σp, Σp², Σln p, Σln(1 − p)."""

    sums: np.ndarray = field(default_factory=lambda: np.zeros((2, 5, SCORE_BINS)))

    def merge(self, other: ScoreSummary) -> ScoreSummary:
        """Return the summary of both pieces' rows (associative, commutative)."""
        return ScoreSummary(self.sums + other.sums)


def summarise_scores(y_true: np.ndarray, y_score: np.ndarray) -> ScoreSummary:
    """Return the summary of 0/1 labels and probabilities (AnalyticsError for scores outside [0, 1])."""
    y, p = np.asarray(y_true).astype(int), np.asarray(y_score, dtype=float)
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise AnalyticsError("Score summaries need probabilities between 0 and 1 with no missing values.")
    bins = np.minimum((p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    clipped = np.clip(p, EPSILON, 1 - EPSILON)
    summary = ScoreSummary()
    for label in (0, 1):
        chosen = y == label
        b = bins[chosen]
        for row, values in enumerate((np.ones(b.size), p[chosen], p[chosen] ** 2, np.log(clipped[chosen]),
                                      np.log1p(-clipped[chosen]))):  # fmt: skip
            summary.sums[label, row] = np.bincount(b, weights=values, minlength=SCORE_BINS)
    return summary


def metrics_from_summary(summary: ScoreSummary, thresholds: tuple[float, ...] = (0.5,)) -> dict[str, Any]:
    """Return the binary metrics of a summary (see the module docstring for what is exact)."""
    neg, pos = summary.sums[0], summary.sums[1]
    n_neg, n_pos = neg[0].sum(), pos[0].sum()
    n = n_neg + n_pos
    if not n_neg or not n_pos:
        raise AnalyticsError("Both labels must occur to evaluate a binary model.")
    log_loss = -(pos[3].sum() + neg[4].sum()) / n
    brier = (pos[2].sum() - 2 * pos[1].sum() + n_pos + neg[2].sum()) / n  # Σ(p − y)²
    # AUC: positives above negatives, bins from the top; pairs in one bin count half.
    neg_below = np.cumsum(neg[0]) - neg[0]
    auc = float((pos[0] * (neg_below + neg[0] / 2)).sum() / (n_pos * n_neg))
    bound = float((pos[0] * neg[0]).sum() / (2 * n_pos * n_neg))
    # Thresholds at bin edges: rows with p ≥ edge k/SCORE_BINS are the bins k and above.
    tp_from = np.cumsum(pos[0][::-1])[::-1]
    fp_from = np.cumsum(neg[0][::-1])[::-1]
    precision_curve = np.divide(tp_from, tp_from + fp_from, out=np.ones_like(tp_from), where=tp_from + fp_from > 0)
    recall_curve = tp_from / n_pos
    recall_steps = -np.diff(np.r_[recall_curve, 0.0])
    average_precision = float((recall_steps * precision_curve).sum())
    table = []
    for t in thresholds:
        k = min(int(round(t * SCORE_BINS)), SCORE_BINS)
        tp, fp = (tp_from[k], fp_from[k]) if k < SCORE_BINS else (0.0, 0.0)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n_pos
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table.append({"threshold": t, "tp": int(tp), "fp": int(fp), "fn": int(n_pos - tp), "tn": int(n_neg - fp),
                      "precision": precision, "recall": recall, "f1": f1})  # fmt: skip
    coarse = summary.sums.reshape(2, 5, 10, SCORE_BINS // 10).sum(axis=3)  # ten calibration bins, exact
    rows_per_bin = coarse[0, 0] + coarse[1, 0]
    calibration = [
        {"bin": [k / 10, (k + 1) / 10], "rows": int(rows_per_bin[k]),
         "mean_prediction": float((coarse[0, 1, k] + coarse[1, 1, k]) / max(rows_per_bin[k], 1)),
         "positive_share": float(coarse[1, 0, k] / max(rows_per_bin[k], 1))}
        for k in range(10)
    ]  # fmt: skip
    return {
        "rows": int(n), "base_rate": float(n_pos / n), "log_loss": float(log_loss), "brier": float(brier),
        "calibration": float((pos[1].sum() + neg[1].sum()) / n_pos), "roc_auc": auc, "roc_auc_error_bound": bound,
        "pr_auc": average_precision, "thresholds": table, "calibration_bins": calibration,
    }  # fmt: skip
