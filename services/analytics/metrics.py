"""Evaluate a model's predictions: every metric of the glossary that fits the task, and what they say together.

Tasks: `binary` (a 0/1-like label and a score or a predicted class), `multiclass` (labels and predicted
labels), `regression` (numbers and predicted numbers), `ranking` (relevance and a score, grouped by query).
scikit-learn computes every metric it has; our own code covers MRR, MAP@k, hit rate@k, normalized
entropy, calibration and recalibration, which it does not have. Results are plain JSON-able data.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn import metrics as skm

from services.analytics.errors import AnalyticsError
from services.analytics.metrics_types import MetricsResult
from services.analytics.metrics_wording import ECE_BINS, explain
from services.analytics.tables import require_column
from services.analytics.wording import short
from services.quoting import quote

POSITIVE_NAMES = {"true", "yes", "y", "positive", "pos", "t"}  # text labels that name the positive class
EPSILON = 1e-15  # probabilities are clipped to [ε, 1 − ε] for log loss, as scikit-learn does
MAX_CURVE_POINTS = 200


def recalibrate(p: np.ndarray, w: float) -> np.ndarray:
    """Return p' = p / (p + (1 − p) / w): scores of a model trained with negatives kept at rate w."""
    return p / (p + (1.0 - p) / w)


def entropy(b: float) -> float:
    """Return the binary entropy of a base rate b (natural log): the log loss of always predicting b."""
    if b <= 0.0 or b >= 1.0:
        return 0.0
    return -(b * math.log(b) + (1 - b) * math.log(1 - b))


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _thin(xs: np.ndarray, ys: np.ndarray) -> dict[str, list[float]]:
    """Return a curve with at most MAX_CURVE_POINTS points (evenly spaced indices, ends kept)."""
    if len(xs) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, MAX_CURVE_POINTS).astype(int))
        xs, ys = xs[keep], ys[keep]
    return {"x": [round(float(v), 5) for v in xs], "y": [round(float(v), 5) for v in ys]}


def canonical_labels(values: pd.Series) -> pd.Series:
    """Return the labels as text in one canonical form, so that 1, 1.0 and "1" compare equal.

    Whole numbers lose their ".0" (a label column with one missing value is read as floats), other numbers
    keep their shortest round-trip form, text is stripped, True/False become "1"/"0"."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int).astype(str)
    numbers = pd.to_numeric(values, errors="coerce")
    if not numbers.notna().all():
        return values.astype(str).str.strip()
    return numbers.map(lambda v: str(int(v)) if float(v).is_integer() else repr(float(v)))


def _is_whole(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and np.isfinite(numbers).all() and (numbers == np.round(numbers)).all())


def _spelling(values: pd.Series) -> dict[str, str]:
    """Return canonical label → the file's spelling where they differ: True/False read as booleans are compared
    as "1"/"0" (canonical_labels) but are shown, and accepted in `positive=`, as the file writes them."""
    return {"1": "True", "0": "False"} if pd.api.types.is_bool_dtype(values) else {}


def _positive_label(labels: pd.Series, positive: str | None = None, spelling: dict[str, str] | None = None) -> str:
    """Return the positive class among two canonical labels: `positive` when given (it must be one of them);
    else a label named like a positive ("yes", "true", "positive") when exactly one is; else the larger label,
    numerically for numbers (1/2 → 2, 0/1 → 1), else the last in sorted order: scikit-learn's convention
    (roc_auc_score and average_precision_score score the greater of the sorted classes)."""
    distinct = sorted(set(labels.tolist()))
    if positive is not None:
        spelled = {v.lower(): k for k, v in (spelling or {}).items()}
        wanted = spelled.get(str(positive).strip().lower()) or canonical_labels(pd.Series([positive])).iloc[0]
        if wanted not in distinct:
            shown = ", ".join(f"'{short((spelling or {}).get(label, label), 30)}'" for label in distinct)
            raise AnalyticsError(f"positive='{short(positive, 30)}' is not a label of y_true; its labels are {shown}.")
        return wanted
    named = [label for label in distinct if label.strip().lower() in POSITIVE_NAMES]
    if len(named) == 1:
        return named[0]
    numbers = pd.to_numeric(pd.Series(distinct), errors="coerce")
    if numbers.notna().all():
        return distinct[int(numbers.to_numpy().argmax())]
    return distinct[-1]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS,
                               counts: np.ndarray | None = None) -> float:  # fmt: skip
    """Return the expected calibration error: Σ_b (n_b / N) · |mean p in b − observed rate in b| over `bins`
    equal-width bins of predicted probability on [0, 1] (p = 1 falls in the last bin); `counts`: how many rows
    each row stands for (None: one each). Our own code: scikit-learn has calibration_curve, not the weighted gap;
    tested against calibration_curve's bins."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    if counts is not None:
        p_sums = np.bincount(index, weights=p * counts, minlength=bins)
        y_sums = np.bincount(index, weights=y * counts, minlength=bins)
        return float(np.abs(p_sums - y_sums).sum() / counts.sum())
    totals = np.bincount(index, minlength=bins)
    gaps = np.abs(np.bincount(index, weights=p, minlength=bins) - np.bincount(index, weights=y, minlength=bins))
    return float(gaps.sum() / totals.sum())


TRUTH_NAMES = ("y_true", "label", "target", "y", "actual", "truth", "relevance", "outcome")
SCORE_NAMES = ("y_score", "score", "p", "prob", "probability", "prediction", "predicted", "y_pred", "pred")


def infer_columns(table: pd.DataFrame, y_true: str | None, y_score: str | None) -> tuple[str, str]:
    """Return (y_true, y_score): the names given, else the first column with a usual name for each role."""
    lowered = {str(c).lower(): str(c) for c in table.columns}

    def find(given: str | None, names: tuple[str, ...], role: str) -> str:
        if given:
            return given
        for name in names:
            if name in lowered:
                return lowered[name]
        shown = ", ".join(quote(str(c), 40) for c in table.columns[:30])  # column names are user data
        raise AnalyticsError(f"Which column is {role}? Name it as {role}=<column>; the table's columns are: {shown}.")

    return find(y_true, TRUTH_NAMES, "y_true"), find(y_score, SCORE_NAMES, "y_score")


def infer_task(y_true: pd.Series, y_score: pd.Series, query: str | None) -> str:
    """Return the task: ranking with a query column; binary for two label values; regression for numeric
    labels that are not whole numbers, for many distinct values, or for whole-number labels (ratings, counts)
    predicted by numbers that are not whole; multiclass otherwise (labels predicted by labels)."""
    if query:
        return "ranking"
    distinct = canonical_labels(y_true).nunique()
    if distinct <= 2:
        return "binary"
    numeric = pd.to_numeric(y_true, errors="coerce").notna().all() and not pd.api.types.is_bool_dtype(y_true)
    if not numeric:
        return "multiclass"
    predictions_numeric = pd.to_numeric(y_score, errors="coerce").notna().all()
    if distinct > 20 or not _is_whole(y_true) or (predictions_numeric and not _is_whole(y_score)):
        return "regression"
    return "multiclass"


def evaluate(
    table: pd.DataFrame,
    y_true: str,
    y_score: str,
    *,
    query: str | None = None,
    threshold: float | str | None = None,
    sampling_rate: float | None = None,
    k: int = 10,
    positive: str | None = None,
    counts: str | None = None,
) -> MetricsResult:
    """Return the evaluation of `table[y_score]` against `table[y_true]` (`to_dict()` for plain data).

    threshold: a number, 'best-f1', or None (0.5 for probabilities, best-F1 for other scores); for
    probabilities a number must lie in [0, 1].
    sampling_rate: the rate w at which negatives were kept in training; scores are recalibrated first.
    k: the cut-off of ranking metrics. positive: the positive class of a binary task (default: the larger
    label, as scikit-learn). counts: a column of row counts, each row standing for that many identical rows (the
    Spark path's rows grouped by label and score, services/analytics/spark_metrics.py); binary tasks only.
    Raises AnalyticsError with one sentence for unusable input.
    """
    truth = require_column(table, y_true, "y_true")
    score = require_column(table, y_score, "y_score")
    frame = pd.DataFrame({"y": truth, "s": score})
    if query:
        frame["q"] = require_column(table, query, "query")
    if counts:
        frame["n"] = table[counts].to_numpy(dtype=float)
    rows = len(frame) if not counts else int(frame["n"].sum())
    frame = frame.dropna()
    evaluated = len(frame) if not counts else int(frame["n"].sum())
    dropped = rows - evaluated
    if frame.empty:
        raise AnalyticsError(
            f"Every row misses a value in '{quote(y_true, 40)}' or '{quote(y_score, 40)}': "
            "there is nothing to evaluate."
        )
    for column, name in (("y", y_true), ("s", y_score)):
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(numbers).any():  # a Parquet folder or Spark's groups: read_table's check did not see them
            refuse_infinite(name)
    task = infer_task(frame["y"], frame["s"], query)
    if counts and task != "binary":
        raise AnalyticsError(
            f"On Spark, metrics evaluates binary labels, and '{quote(y_true, 40)}' looks like a {task} task: use "
            "engine=local on a narrower prefix or folder."
        )
    if task == "binary":
        result = _binary(frame, y_true, y_score, threshold, sampling_rate, positive)
    elif task == "multiclass":
        result = _multiclass(frame, table)
    elif task == "regression":
        result = _regression(frame, y_score)
    else:
        result = _ranking(frame, y_score, k)
    columns = {"y_true": y_true, "y_score": y_score, **({"query": query} if query else {})}
    typed = MetricsResult.from_dict({**result, "task": task, "n": evaluated, "rows_dropped": dropped,
                                     "columns": columns})  # fmt: skip
    return replace(typed, summary=tuple(explain(typed)))


def refuse_infinite(column: str) -> None:
    """Raise the one sentence for a column holding infinity (scikit-learn's ValueError otherwise)."""
    raise AnalyticsError(
        f"The column '{quote(column, 40)}' holds an infinite value (a number too large for a 64-bit float): cap or "
        "rescale the values, or drop those rows."
    )


def _numeric(values: pd.Series, column: str, what: str) -> np.ndarray:
    converted = pd.to_numeric(values, errors="coerce")
    if converted.isna().any():
        example = values[converted.isna()].iloc[0]
        raise AnalyticsError(
            f"The column '{quote(column, 40)}' is not numeric (for example “{quote(str(example), 40)}”): {what}."
        )
    return converted.to_numpy(dtype=float)


def _check_threshold(threshold: Any, p: np.ndarray, probabilities: bool, y_score: str) -> None:
    """Refuse a numeric threshold outside [0, 1] for probabilities: every row would fall on one side."""
    if isinstance(threshold, int | float) and probabilities and not 0.0 <= float(threshold) <= 1.0:
        raise AnalyticsError(
            f"threshold={threshold:g} is outside [0, 1], but '{short(y_score)}' holds probabilities "
            f"({p.min():.3g} to {p.max():.3g}): every row would be on one side. Give a threshold between 0 and 1, "
            "or threshold=best-f1."
        )


def _binary(frame: pd.DataFrame, y_true: str, y_score: str, threshold: Any, w: float | None,
            positive_given: str | None = None) -> dict[str, Any]:  # fmt: skip
    labels = canonical_labels(frame["y"])
    spelling = _spelling(frame["y"])
    if labels.nunique() == 2 or positive_given is not None:
        positive = _positive_label(labels, positive_given, spelling)
    else:
        positive = labels.iloc[0]
    y = (labels == positive).to_numpy(dtype=int)
    shown = spelling.get(positive, positive)  # the positive class as the file writes it
    n = frame["n"].to_numpy() if "n" in frame else None  # rows each row stands for (None: one each)
    if y.min() == y.max():
        only = f"'{short(labels.iloc[0], 30)}'"
        raise AnalyticsError(
            f"The column '{quote(y_true, 40)}' has a single class (every row is {only}): ROC AUC, PR AUC and log loss "
            "need both classes. Send predictions that include both outcomes."
        )
    predictions = canonical_labels(frame["s"])
    distinct = set(predictions.unique().tolist())
    if distinct <= set(labels.unique().tolist()) or distinct <= {"0", "1"}:
        # predicted classes (the labels themselves, or 0/1): threshold metrics only, no probabilities
        hit = positive if distinct <= set(labels.unique().tolist()) else "1"
        predicted = (predictions == hit).to_numpy(dtype=int)
        return {"kind": "predicted classes", "positive_label": str(shown), **_at_threshold(y, predicted, None, n),
                "notes": ["The predictions are classes, not scores: threshold metrics only (no ROC AUC, log loss "
                          "or calibration)."]}  # fmt: skip
    p = _numeric(frame["s"], y_score, "y_score must hold scores or probabilities")
    probabilities = bool(p.min() >= 0.0 and p.max() <= 1.0)
    _check_threshold(threshold, p, probabilities, y_score)
    notes = []
    if w is not None:
        if not probabilities:
            raise AnalyticsError(
                f"Recalibration needs probabilities, but '{short(y_score)}' has values outside [0, 1] "
                f"({p.min():.3g} to {p.max():.3g})."
            )
        if not 0 < w <= 1:
            raise AnalyticsError("The sampling rate must be in (0, 1]: the share of negatives kept in training.")
        p = recalibrate(p, w)
        notes.append(f"Scores were recalibrated for negative downsampling at w = {w:g}: p' = p / (p + (1 − p) / w).")
    base_rate = _mean(y, n)
    if threshold in (None, "") and not probabilities:
        threshold = "best-f1"
        notes.append("The scores are not probabilities, so the threshold is the one that maximises F1.")
    precision_curve, recall_curve, cut_points = skm.precision_recall_curve(y, p, sample_weight=n)
    if threshold == "best-f1":
        f1s = 2 * precision_curve[:-1] * recall_curve[:-1] / np.maximum(precision_curve[:-1] + recall_curve[:-1], 1e-12)
        t = float(cut_points[int(np.argmax(f1s))])
    else:
        t = 0.5 if threshold in (None, "") else float(threshold)
    fpr, tpr, _ = skm.roc_curve(y, p, sample_weight=n)
    auc = skm.roc_auc_score(y, p, sample_weight=n)
    result: dict[str, Any] = {
        "kind": "probabilities" if probabilities else "scores",
        "positive_label": str(shown),
        "base_rate": _round(base_rate),
        "majority_share": _round(max(base_rate, 1 - base_rate)),
        "threshold": _round(t),
        "threshold_rule": "best-f1" if threshold == "best-f1" else ("given" if threshold not in (None, "") else "0.5"),
        **_at_threshold(y, (p >= t).astype(int), base_rate, n),
        "roc_auc": _round(auc),
        "gini": _round(2 * auc - 1),
        "pr_auc": _round(skm.average_precision_score(y, p, sample_weight=n)),
        "curves": {"roc": _thin(fpr, tpr), "pr": _thin(recall_curve[::-1], precision_curve[::-1])},
        "notes": notes,
    }
    positives = int(y.sum()) if n is None else int(round((y * n).sum()))
    total = len(y) if n is None else int(round(n.sum()))
    low_auc = _auc_upper_bound(result["roc_auc"], positives, total - positives)
    if low_auc is not None and low_auc < 0.5:
        result["inverted_hint"] = True
        notes.append(
            f"ROC AUC {result['roc_auc']:.3f} is clearly below 0.5 (95% upper bound {low_auc:.3f}): the scores may "
            f"be inverted (higher for '{short(str(shown))}' meaning less likely), or the positive label may be "
            f"the other one; reversed, the ROC AUC would be {1 - result['roc_auc']:.3f}."
        )
    if probabilities:
        clipped = np.clip(p, EPSILON, 1 - EPSILON)
        log_loss = float(skm.log_loss(y, clipped, labels=[0, 1], sample_weight=n))
        result |= {
            "log_loss": _round(log_loss),
            "normalized_entropy": _round(log_loss / entropy(base_rate)),
            "ne_base_rate": "the positive share of the evaluated rows",
            "calibration": _round(_mean(p, n) / base_rate),
            "prediction_bias": _round(_mean(p, n) - base_rate),
            "brier": _round(skm.brier_score_loss(y, p, sample_weight=n)),
            "ece": _round(expected_calibration_error(y, p, counts=n)),
            "calibration_table": _calibration_table(y, p) if n is None else _counted_calibration_table(y, p, n),
            "recalibration_w": _round(_matching_w(p, base_rate, n), 4),
        }
    else:
        result["notes"].append(
            f"The scores run from {p.min():.3g} to {p.max():.3g}, outside [0, 1]: log loss, normalized entropy, "
            "Brier score and calibration need probabilities and are not computed."
        )
    return result


def _auc_upper_bound(auc: float | None, positives: int, negatives: int) -> float | None:
    """Return the upper end of a 95% interval for the ROC AUC (Hanley and McNeil's 1982 standard error)."""
    if auc is None:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return auc + 1.96 * math.sqrt(max(variance, 0.0))


def _mean(values: np.ndarray, counts: np.ndarray | None) -> float:
    """Return the mean of `values`, each standing for `counts` rows (None: one each)."""
    return float(values.mean()) if counts is None else float(np.average(values, weights=counts))


def _at_threshold(y: np.ndarray, predicted: np.ndarray, base_rate: float | None,
                  n: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    tn, fp, fn, tp = np.rint(skm.confusion_matrix(y, predicted, labels=[0, 1], sample_weight=n)).astype(int).ravel()
    values = {
        "accuracy": _round(skm.accuracy_score(y, predicted, sample_weight=n)),
        "precision": _round(skm.precision_score(y, predicted, zero_division=0, sample_weight=n)),
        "recall": _round(skm.recall_score(y, predicted, zero_division=0, sample_weight=n)),
        "f1": _round(skm.f1_score(y, predicted, zero_division=0, sample_weight=n)),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "predicted_positive_share": _round(_mean(predicted, n)),
    }
    if base_rate is None:
        b = _mean(y, n)
        values |= {"base_rate": _round(b), "majority_share": _round(max(b, 1 - b))}
    return values


def _calibration_table(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    """Deciles of predicted probability: rows, mean prediction and observed rate in each."""
    bins = pd.qcut(pd.Series(p).rank(method="first"), q=min(10, len(p)), labels=False)
    table = (
        pd.DataFrame({"bin": bins, "p": p, "y": y})
        .groupby("bin")
        .agg(rows=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    )
    return [
        {
            "decile": int(b) + 1,
            "rows": int(r.rows),
            "predicted": _round(r.predicted, 4),
            "observed": _round(r.observed, 4),
        }
        for b, r in table.iterrows()
    ]


def _counted_calibration_table(y: np.ndarray, p: np.ndarray, n: np.ndarray) -> list[dict[str, Any]]:
    """`_calibration_table` of rows standing for `n` rows each: the deciles of rank (as pandas' qcut cuts the
    ranks 1..N) over the rows sorted by p; rows of one score that a decile edge cuts count negatives first (the
    uncounted table keeps row order there)."""
    order = np.lexsort((y, p))
    y, p, n = y[order], p[order], n[order]
    total = int(round(n.sum()))
    q = min(10, total)
    levels = np.linspace(0, 1, q + 1)
    # qcut's edges are numpy's linear quantiles of the ranks 1..N: 1 + (N·q − q); a decile holds the ranks up to it
    upper = np.floor(total * levels - levels).astype(np.int64) + 1
    upper[-1] = total
    ends = np.cumsum(n)
    starts = ends - n

    def upto(rank: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Σ values over the first `rank` rows of the sorted table (a row group partly counted)."""
        cumulative = np.r_[0.0, np.cumsum(values * n)]
        group = np.clip(np.searchsorted(ends, rank, side="left"), 0, len(n) - 1)
        inside = np.clip(rank - starts[group], 0, n[group])
        return cumulative[group] + inside * values[group]

    edges = np.r_[0, upper[1:]]
    rows = np.diff(edges)
    predicted, observed = np.diff(upto(edges, p)), np.diff(upto(edges, y.astype(float)))
    return [
        {"decile": k + 1, "rows": int(rows[k]), "predicted": _round(predicted[k] / rows[k], 4),
         "observed": _round(observed[k] / rows[k], 4)}
        for k in range(q) if rows[k]
    ]  # fmt: skip


def _matching_w(p: np.ndarray, base_rate: float, n: np.ndarray | None = None) -> float | None:
    """Return the w for which recalibrated scores average the observed rate (None if there is none)."""

    def gap(w: float) -> float:
        return _mean(recalibrate(p, w), n) - base_rate

    try:
        return brentq(gap, 1e-6, 1e3) if gap(1e-6) < 0 < gap(1e3) else None
    except ValueError:
        return None


PROBABILITY_PREFIXES = ("p_", "prob_", "proba_", "probability_", "p(", "score_")


def class_probability_columns(table: pd.DataFrame, labels: list[str]) -> dict[str, str]:
    """Return {label: column} for per-class probability columns named like `p_<label>`, `prob_<label>` or
    `proba_<label>` (case-insensitive); empty unless every label has one."""
    by_name = {str(c).lower(): str(c) for c in table.columns}
    found = {}
    for label in labels:
        for prefix in PROBABILITY_PREFIXES:
            name = f"{prefix}{label}".lower() + (")" if prefix == "p(" else "")
            if name in by_name:
                found[label] = by_name[name]
                break
    return found if len(found) == len(labels) else {}


def _multiclass_log_loss(y: np.ndarray, probabilities: pd.DataFrame, columns: dict[str, str]) -> dict[str, Any]:
    labels = list(columns)
    matrix = probabilities[[columns[label] for label in labels]].apply(pd.to_numeric, errors="coerce").to_numpy()
    if not np.isfinite(matrix).all() or matrix.min() < 0 or matrix.max() > 1:
        return {"notes": ["The per-class probability columns hold values outside [0, 1] or blanks: no log loss."]}
    totals = matrix.sum(axis=1, keepdims=True)
    notes = []
    if np.abs(totals - 1).max() > 0.01:
        notes.append("The per-class probabilities do not sum to 1 on every row; they were rescaled to sum to 1.")
    matrix = np.clip(matrix / np.where(totals > 0, totals, 1), EPSILON, 1)
    loss = float(skm.log_loss(y, matrix / matrix.sum(axis=1, keepdims=True), labels=labels))
    shares = pd.Series(y).value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy()
    prior = float(-(shares[shares > 0] * np.log(shares[shares > 0])).sum())
    return {
        "log_loss": _round(loss),
        "log_loss_of_class_shares": _round(prior),
        "probability_columns": columns,
        "notes": notes,
    }


def _multiclass(frame: pd.DataFrame, probabilities: pd.DataFrame | None = None) -> dict[str, Any]:
    y = canonical_labels(frame["y"]).to_numpy()
    predicted = canonical_labels(frame["s"]).to_numpy()
    labels = sorted(set(y) | set(predicted))
    unknown = sorted(set(predicted) - set(y))
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    shares = pd.Series(y).value_counts(normalize=True)
    result = {
        "labels": labels,
        "accuracy": _round(skm.accuracy_score(y, predicted)),
        "majority_share": _round(float(shares.iloc[0])),
        "majority_label": str(shares.index[0]),
        "macro": {
            "precision": _round(precision.mean()),
            "recall": _round(recall.mean()),
            "f1": _round(f1.mean()),
        },  # fmt: skip
        "weighted": {
            "precision": _round(np.average(precision, weights=support) if support.sum() else 0.0),
            "recall": _round(np.average(recall, weights=support) if support.sum() else 0.0),
            "f1": _round(np.average(f1, weights=support) if support.sum() else 0.0),
        },
        "per_class": [
            {"label": lab, "precision": _round(p_), "recall": _round(r_), "f1": _round(f_), "support": int(s_)}
            for lab, p_, r_, f_, s_ in zip(labels, precision, recall, f1, support, strict=True)
        ],
        "confusion_matrix": {
            "labels": labels,
            "rows_true_columns_predicted": skm.confusion_matrix(y, predicted, labels=labels).tolist(),
        },  # fmt: skip
        "notes": [f"Predicted labels never seen in y_true: {short(', '.join(unknown))}."] if unknown else [],
    }
    columns = class_probability_columns(probabilities, sorted(set(y))) if probabilities is not None else {}
    if columns:
        extra = _multiclass_log_loss(y, probabilities.loc[frame.index], columns)
        result["notes"] += extra.pop("notes")
        result |= extra
    return result


def _regression(frame: pd.DataFrame, y_score: str) -> dict[str, Any]:
    y = frame["y"].to_numpy(dtype=float)
    predicted = _numeric(frame["s"], y_score, "a regression needs numeric predictions")
    residuals = y - predicted
    return {
        "mae": _round(skm.mean_absolute_error(y, predicted)),
        "rmse": _round(skm.root_mean_squared_error(y, predicted)),
        "r2": _round(skm.r2_score(y, predicted)),
        "baseline": {
            "mae_of_median": _round(float(np.abs(y - np.median(y)).mean())),
            "rmse_of_mean": _round(float(y.std())),
        },
        "residuals": {
            "mean": _round(float(residuals.mean())),
            "std": _round(float(residuals.std())),
            **{f"p{q}": _round(float(np.percentile(residuals, q))) for q in (5, 50, 95)},
        },
        "curves": {"scatter": _thin(predicted[np.argsort(predicted)], y[np.argsort(predicted)])},
        "notes": [],
    }


def _ranking(frame: pd.DataFrame, y_score: str, k: int) -> dict[str, Any]:
    frame = frame.assign(s=_numeric(frame["s"], y_score, "ranking needs numeric scores"))
    relevance = pd.to_numeric(frame["y"], errors="coerce")
    if relevance.isna().any() or (relevance < 0).any():
        raise AnalyticsError(
            "Relevance (y_true) must be a number ≥ 0 for ranking metrics (1/0, or grades such as 0–3)."
        )
    frame = frame.assign(y=relevance.to_numpy(dtype=float))
    ndcgs, reciprocal_ranks, average_precisions, hits, gains = [], [], [], [], np.zeros(k)
    empty = 0
    for _, group in frame.groupby("q", sort=False):
        ordered = group.sort_values("s", ascending=False, kind="stable")
        rel = ordered["y"].to_numpy()
        relevant = rel > 0
        if not relevant.any():
            empty += 1
            continue
        if len(rel) > 1:
            ndcgs.append(skm.ndcg_score([group["y"].to_numpy()], [group["s"].to_numpy()], k=k))
        else:
            ndcgs.append(1.0)
        first = int(np.argmax(relevant))
        reciprocal_ranks.append(1.0 / (first + 1))
        top = relevant[:k]
        precision_at = np.cumsum(top) / np.arange(1, len(top) + 1)
        average_precisions.append(float((precision_at * top).sum() / min(k, int(relevant.sum()))))
        hits.append(bool(top.any()))
        cumulative = np.cumsum(top) / relevant.sum()
        gains[: len(cumulative)] += cumulative
        gains[len(cumulative) :] += cumulative[-1] if len(cumulative) else 0
    if not ndcgs:
        raise AnalyticsError("No query has a relevant item (y_true > 0): ranking metrics are undefined.")
    queries = len(ndcgs)
    return {
        "k": k,
        "queries": queries,
        "queries_without_relevant": empty,
        "ndcg": _round(float(np.mean(ndcgs))),
        "mrr": _round(float(np.mean(reciprocal_ranks))),
        "map": _round(float(np.mean(average_precisions))),
        "hit_rate": _round(float(np.mean(hits))),
        "conventions": (
            f"NDCG@{k} with linear gain (scikit-learn's ndcg_score, as trec_eval); MAP@{k} divides by min(k, "
            "relevant items of the query); relevance > 0 counts as relevant for MRR, MAP and hit rate; ties in "
            "score keep row order; queries without a relevant item are left out."
        ),
        "curves": {"gain": {"x": list(range(1, k + 1)), "y": [round(float(g / queries), 5) for g in gains]}},
        "notes": [],
    }
