"""Typed results of a model evaluation (services/analytics/metrics.py): one frozen dataclass for the four
tasks, read by attribute (the card, the wording, the chart, monitor floors) and turned by `to_dict()` into the
plain data the CLI's `--json` prints (docs/analytics.md). A metric a task does not have is None and absent
from `to_dict()`. Nested tables (confusion matrix, curves, per-class scores, calibration deciles) stay plain
dicts and lists: they are data to draw or print, not read field by field."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from services.analytics.results import Data, plain

_SCORED = ("kind", "positive_label", "base_rate", "majority_share", "threshold", "threshold_rule", "accuracy",
           "precision", "recall", "f1", "confusion_matrix", "predicted_positive_share", "roc_auc", "gini", "pr_auc",
           "curves", "notes", "inverted_hint", "log_loss", "normalized_entropy", "ne_base_rate", "calibration",
           "prediction_bias", "brier", "ece", "calibration_table", "recalibration_w")  # fmt: skip
_CLASSES = ("kind", "positive_label", "accuracy", "precision", "recall", "f1", "confusion_matrix",
            "predicted_positive_share", "base_rate", "majority_share", "notes")  # fmt: skip
_MULTICLASS = ("labels", "accuracy", "majority_share", "majority_label", "macro", "weighted", "per_class",
               "confusion_matrix", "notes", "log_loss", "log_loss_of_class_shares", "probability_columns")  # fmt: skip
_REGRESSION = ("mae", "rmse", "r2", "baseline", "residuals", "curves", "notes")
_RANKING = ("k", "queries", "queries_without_relevant", "ndcg", "mrr", "map", "hit_rate", "conventions", "curves",
            "notes")  # fmt: skip


@dataclass(frozen=True)
class MetricsResult(Data):
    """An evaluation of scores against labels.

    Every task: `task` (binary, multiclass, regression, ranking), `n` rows evaluated, `rows_dropped` (a
    missing label or score), `columns` ({"y_true", "y_score"[, "query"]}), `notes` and `summary` (sentences).
    Binary: `kind` ("probabilities", "scores" or "predicted classes": threshold metrics only), `positive_label`
    (the larger label unless `positive=` chose), `base_rate`, `majority_share`, accuracy, precision, recall,
    f1 and `confusion_matrix` ({tn, fp, fn, tp}) at `threshold` (`threshold_rule` "0.5", "given" or
    "best-f1"), roc_auc, gini (2·AUC − 1), pr_auc (average precision), `curves` ({"roc", "pr"}: {"x", "y"});
    `inverted_hint` True when the AUC is clearly below 0.5; with probabilities, log_loss,
    normalized_entropy, calibration (mean prediction / base rate), prediction_bias, brier, ece (10 equal-width
    bins) and `calibration_table` (deciles), `recalibration_w` (None when no w matches).
    Multiclass: labels, accuracy, majority_share and _label, macro and weighted {precision, recall, f1},
    per_class rows, confusion_matrix {labels, rows_true_columns_predicted}; with per-class probability
    columns, log_loss, log_loss_of_class_shares and probability_columns. Regression: mae, rmse, r2, baseline
    {mae_of_median, rmse_of_mean}, residuals {mean, std, p5, p50, p95}, curves {"scatter"}. Ranking: k,
    queries, queries_without_relevant, ndcg, mrr, map, hit_rate (all @k), conventions, curves {"gain"}.
    Spark (services/analytics/spark_metrics.py): `engine` "spark" and `approximations` (how the rows were
    counted, which numbers are exact and the bounds of the others); both absent on the local path."""

    task: str
    n: int
    rows_dropped: int
    columns: dict[str, str]
    notes: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    kind: str | None = None
    positive_label: str | None = None
    base_rate: float | None = None
    majority_share: float | None = None
    threshold: float | None = None
    threshold_rule: str | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    confusion_matrix: dict[str, Any] | None = None
    predicted_positive_share: float | None = None
    roc_auc: float | None = None
    gini: float | None = None
    pr_auc: float | None = None
    curves: dict[str, Any] | None = None
    inverted_hint: bool = False
    log_loss: float | None = None
    normalized_entropy: float | None = None
    ne_base_rate: str | None = None
    calibration: float | None = None
    prediction_bias: float | None = None
    brier: float | None = None
    ece: float | None = None
    calibration_table: tuple[dict[str, Any], ...] | None = None
    recalibration_w: float | None = None
    labels: tuple[str, ...] | None = None
    majority_label: str | None = None
    macro: dict[str, float] | None = None
    weighted: dict[str, float] | None = None
    per_class: tuple[dict[str, Any], ...] | None = None
    log_loss_of_class_shares: float | None = None
    probability_columns: dict[str, str] | None = None
    mae: float | None = None
    rmse: float | None = None
    r2: float | None = None
    baseline: dict[str, float] | None = None
    residuals: dict[str, float] | None = None
    k: int | None = None
    queries: int | None = None
    queries_without_relevant: int | None = None
    ndcg: float | None = None
    mrr: float | None = None
    map: float | None = None
    hit_rate: float | None = None
    conventions: str | None = None
    approximations: dict[str, Any] | None = None  # the Spark path: how it counted, which numbers are bounded
    engine: str | None = None  # "spark" when Spark computed the aggregates (None: this process)

    def value(self, name: str) -> float | None:
        """Return the metric called `name` (a field such as "roc_auc") as a number, or None when absent."""
        found = getattr(self, name, None) if name in _METRIC_FIELDS else None
        return float(found) if isinstance(found, int | float) and not isinstance(found, bool) else None

    def _keys(self) -> tuple[str, ...]:
        if self.task == "binary":
            return _CLASSES if self.kind == "predicted classes" else _SCORED
        return {"multiclass": _MULTICLASS, "regression": _REGRESSION}.get(self.task, _RANKING)

    def to_dict(self) -> dict[str, Any]:
        """Return the evaluation as plain data: the metrics of its task, in a fixed order (the CLI's `--json`)."""
        data: dict[str, Any] = {"task": self.task, "n": self.n, "rows_dropped": self.rows_dropped}
        for key in self._keys():
            value = getattr(self, key)
            if key == "inverted_hint":
                present = value
            elif key == "recalibration_w":
                present = self.log_loss is not None  # None is its answer when no w matches
            else:
                present = value is not None
            if present:
                data[key] = plain(value)
        data["columns"] = plain(self.columns)
        if self.approximations is not None:
            data["approximations"] = plain(self.approximations)
        data["summary"] = list(self.summary)
        if self.engine is not None:
            data["engine"] = self.engine
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricsResult:
        """Return the result from plain data (`to_dict()`'s, or the evaluation's working dict)."""
        values = {key: value for key, value in data.items() if key in _FIELDS}
        for key in ("notes", "summary", "calibration_table", "labels", "per_class"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


_FIELDS = frozenset(f.name for f in fields(MetricsResult))
_METRIC_FIELDS = _FIELDS - {"task", "columns", "notes", "summary", "kind", "positive_label", "threshold_rule",
                            "ne_base_rate", "majority_label", "conventions", "inverted_hint",
                            "approximations", "engine"}  # fmt: skip
