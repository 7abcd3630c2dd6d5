"""How a model evaluation is worded: what the numbers say together, the most important first.

Every comparison word ("below", "equals", "above", "worse than") is chosen from the numbers as they are shown
(rounded to the digits printed), so a sentence never states two numbers that contradict its own word
(tests/test_metrics.py checks every sentence over a grid of values)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from services.analytics.wording import short

if TYPE_CHECKING:
    from services.analytics.metrics_types import MetricsResult

AUC_BANDS = ((0.9, "strong"), (0.8, "good"), (0.7, "useful"), (0.5, "weak"))  # below 0.5: worse than chance
ECE_BINS = 10  # the bins of services.analytics.metrics.expected_calibration_error
CALIBRATION_BAND = 0.1  # calibration within 1 ± this is "close to the observed rate"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%" if value < 0.995 or value == 1 else f"{value * 100:.2f}%"


def compare(value: float, reference: float, fmt: str = ".3f") -> str:
    """Return "below", "equal to" or "above": `value` against `reference` as both are shown (format `fmt`)."""
    a, b = float(format(value, fmt)), float(format(reference, fmt))
    return "below" if a < b else "equal to" if a == b else "above"


def auc_quality(auc: float) -> str:
    """Return the reading of a ROC AUC as shown with three digits."""
    shown = round(auc, 3)
    for bound, word in AUC_BANDS:
        if shown >= bound:
            return word if shown > 0.5 or word != "weak" else "no better than chance"
    return "worse than chance"


def accuracy_sentence(accuracy: float, majority: float, what: str) -> str | None:
    """Return the sentence on accuracy against the majority share (None when accuracy is clearly above it)."""
    word = compare(accuracy, majority)
    if word == "above" and round(accuracy - majority, 3) > 0.005:
        return None
    if word == "below":
        # not the accuracy paradox (a high accuracy that says nothing): worse than a constant guess, which
        # inverted scores or a threshold on the wrong side give
        return (f"Accuracy {accuracy:.3f} is below the majority share {majority:.3f}: always predicting {what} "
                "would be right more often; check that the scores are not inverted and the threshold; read "
                "recall and PR AUC.")  # fmt: skip
    if word == "equal to":
        return (f"Accuracy {accuracy:.3f} equals the majority share {majority:.3f}: the model may be predicting "
                f"{what} for everyone (the accuracy paradox); read recall and PR AUC.")  # fmt: skip
    return (f"Accuracy {accuracy:.3f} is only just above the majority share {majority:.3f}: barely better than "
            f"always predicting {what}; read recall and PR AUC.")  # fmt: skip


def normalized_entropy_sentence(ne: float) -> str:
    """Return the sentence on normalized entropy: below 1 removes uncertainty, 1 is the base rate, above is worse."""
    word = compare(ne, 1.0)
    if word == "below":
        return (f"Normalized entropy {ne:.3f}: the model removes {(1 - ne) * 100:.0f}% of the uncertainty of "
                "predicting the base rate.")  # fmt: skip
    if word == "equal to":
        return f"Normalized entropy {ne:.3f}: no better than predicting the base rate for everyone."
    return (f"Normalized entropy {ne:.3f}: worse than predicting the base rate for everyone (above 1: its "
            "probabilities are confidently wrong).")  # fmt: skip


def calibration_sentence(calibration: float, w: float | None) -> str:
    """Return the sentence on calibration (mean prediction / observed rate)."""
    shown = round(calibration, 2)
    if shown > 1 + CALIBRATION_BAND:
        fix = f" If negatives were downsampled in training, recalibrate with w ≈ {w:.3g}." if w and w < 1 else ""
        return (
            f"Calibration {calibration:.2f}: predictions average {calibration:.2f}× the observed rate (too high).{fix}"
        )
    if shown < 1 - CALIBRATION_BAND:
        return (f"Calibration {calibration:.2f}: predictions average only {calibration:.2f}× the observed rate (too "
                "low); recalibrate (Platt or isotonic) before using them as probabilities.")  # fmt: skip
    return (f"Calibration {calibration:.2f}: on average the probabilities are within {CALIBRATION_BAND:.0%} of the "
            "observed rate.")  # fmt: skip


def explain(result: MetricsResult) -> list[str]:
    """Return plain-language sentences on what the numbers say together, the most important first."""
    task, says = result.task, []
    if task == "binary":
        says += _explain_binary(result)
    elif task == "multiclass":
        says += _explain_multiclass(result)
    elif task == "regression":
        says += _explain_regression(result)
    else:
        says += _explain_ranking(result)
    if result.rows_dropped:
        says.append(f"{result.rows_dropped} rows with a missing label or score were left out.")
    return says + list(result.notes)


def _explain_multiclass(r: MetricsResult) -> list[str]:
    says = [f"Accuracy {r.accuracy:.3f} over {len(r.labels)} classes; macro F1 {r.macro['f1']:.3f}."]
    line = accuracy_sentence(r.accuracy, r.majority_share, f"the most common class ('{short(r.majority_label)}')")
    if line:
        says.append(line)
    if r.log_loss is not None:
        says.append(f"Multiclass log loss {r.log_loss:.3f} from the per-class probabilities, "
                    f"{compare(r.log_loss, r.log_loss_of_class_shares)} {r.log_loss_of_class_shares:.3f} for "
                    "always predicting the class shares (lower is better).")  # fmt: skip
    weakest = min(r.per_class, key=lambda c: c["f1"])
    says.append(
        f"The weakest class is '{short(weakest['label'])}' (F1 {weakest['f1']:.3f}, {weakest['support']} rows)."
    )
    return says


def _explain_regression(r: MetricsResult) -> list[str]:
    r2, rmse, mae, baseline = r.r2, r.rmse, r.mae, r.baseline["rmse_of_mean"]
    shown = round(r2, 3)
    reading = (f"the model explains {shown * 100:.0f}% of the variance" if shown > 0 else
               "no better than predicting the mean" if shown == 0 else "worse than predicting the mean")  # fmt: skip
    says = [f"R² {r2:.3f}: {reading}."]
    says.append(f"RMSE {rmse:.4g}, {compare(rmse, baseline, '.4g')} {baseline:.4g} for always predicting the mean; "
                f"MAE {mae:.4g}.")  # fmt: skip
    if mae and rmse > 1.5 * mae:
        says.append(f"RMSE is {rmse / mae:.1f}× MAE: a few large errors dominate; look at the worst residuals.")
    return says


def _explain_ranking(r: MetricsResult) -> list[str]:
    says = [f"NDCG@{r.k} {r.ndcg:.3f} over {r.queries} queries; MRR {r.mrr:.3f} puts the first relevant "
            f"result at about rank {1 / max(r.mrr, 1e-9):.1f} on average."]  # fmt: skip
    says.append(f"{_pct(r.hit_rate)} of queries have a relevant item in the top {r.k}; MAP@{r.k} {r.map:.3f}.")
    if r.queries_without_relevant:
        says.append(f"{r.queries_without_relevant} queries without any relevant item were left out.")
    return says


def _explain_binary(r: MetricsResult) -> list[str]:
    says = []
    positive = f"'{short(r.positive_label)}'"
    if r.roc_auc is None:  # predicted classes only
        says.append(f"Accuracy {r.accuracy:.3f}, precision {r.precision:.3f}, recall {r.recall:.3f}, "
                    f"F1 {r.f1:.3f} for the positive class {positive}.")  # fmt: skip
    else:
        auc = r.roc_auc
        says.append(f"ROC AUC {auc:.3f} (Gini {2 * auc - 1:.3f}) for the positive class {positive}: the ranking is "
                    f"{auc_quality(auc)} — a random positive outscores a random negative {auc * 100:.0f}% of the "
                    "time (0.5 is chance).")  # fmt: skip
        lift = r.pr_auc / r.base_rate if r.base_rate else math.nan
        says.append(f"PR AUC {r.pr_auc:.3f} against a base rate of {_pct(r.base_rate)} ({lift:.1f}× random).")
        says.append(f"At threshold {r.threshold:.3g}: precision {r.precision:.3f}, recall {r.recall:.3f}, "
                    f"F1 {r.f1:.3f}; the model flags {_pct(r.predicted_positive_share)} of rows.")  # fmt: skip
    majority = "the positive class" if r.base_rate > 0.5 else "the negative class" if r.base_rate < 0.5 else (
        "either class")  # fmt: skip
    line = accuracy_sentence(r.accuracy, r.majority_share, majority)
    if line:
        says.append(line)
    if r.calibration is not None:
        says.append(normalized_entropy_sentence(r.normalized_entropy))
        says.append(calibration_sentence(r.calibration, r.recalibration_w))
        says.append(f"Expected calibration error {r.ece:.3f}: in {ECE_BINS} equal-width bins of predicted "
                    "probability, the mean prediction and the observed rate differ by "
                    f"{r.ece * 100:.1f} points on average (weighted by rows).")  # fmt: skip
    return says
