"""PNG charts of analysis results (matplotlib, headless), kept under a byte limit."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and Lambda
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

if TYPE_CHECKING:
    from services.analytics.drift_types import DriftResult
    from services.analytics.metrics_types import MetricsResult
    from services.analytics.uplift_types import UpliftResult

MAX_PNG_BYTES = 1_000_000
CARD_WIDTH_INCHES = 5.0  # at the 80 dpi used for Teams, 400 px: a chat pane shows it without shrinking
PANEL_HEIGHT_INCHES = 3.0
# Fonts sized for that width: 10 pt at 80 dpi is about 11 px, legible in a card without zooming.
CARD_FONTS = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
              "xtick.labelsize": 9, "ytick.labelsize": 9}  # fmt: skip


def card_fonts(chart: Any) -> Any:
    """Decorate a chart function so that every text it draws uses CARD_FONTS."""

    @functools.wraps(chart)
    def drawn(*args: Any, **kwargs: Any) -> bytes:
        with plt.rc_context(CARD_FONTS):
            return chart(*args, **kwargs)

    return drawn


def stacked(panels: int, height: float = PANEL_HEIGHT_INCHES) -> tuple[Any, list[Any]]:
    """Return a figure one card wide with `panels` axes stacked vertically (one panel per row)."""
    figure, axes = plt.subplots(panels, 1, figsize=(CARD_WIDTH_INCHES, height * panels), squeeze=False)
    return figure, list(axes[:, 0])


def to_png(figure: Any, max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the figure as PNG bytes that fit in `max_bytes`: first as drawn, then with a 64-colour palette
    (line charts lose nothing visible), then at lower resolutions; closes the figure."""
    try:
        while True:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi)  # tight_layout already fitted it: no second draw
            data = buffer.getvalue()
            if len(data) > max_bytes:
                data = _palette(data)
            if len(data) <= max_bytes or dpi <= 30:
                if len(data) > max_bytes:
                    raise ValueError(f"the chart needs {len(data)} bytes, over the {max_bytes}-byte limit")
                return data
            dpi = int(dpi * 0.85)
    finally:
        plt.close(figure)


def _palette(png: bytes) -> bytes:
    """Return the PNG re-encoded with an adaptive 64-colour palette (Pillow, which matplotlib depends on)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@card_fonts
def metrics_chart(result: MetricsResult, max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the chart of an evaluation, one panel per row: ROC, PR and calibration curves (binary), the
    confusion matrix (multiclass, or predicted classes), predicted against actual (regression), or the
    cumulative gain by rank (ranking)."""
    task = result.task
    if task == "binary" and result.curves is not None:
        panels = 3 if result.calibration_table else 2
        figure, axes = stacked(panels)
        roc, pr = result.curves["roc"], result.curves["pr"]
        axes[0].plot(roc["x"], roc["y"], label=f"model (AUC {result.roc_auc:.3f})")
        axes[0].plot([0, 1], [0, 1], "--", color="grey", label="random")
        axes[0].set(title="ROC curve", xlabel="false positive rate", ylabel="recall")
        axes[1].plot(pr["x"], pr["y"], label=f"model (AP {result.pr_auc:.3f})")
        axes[1].axhline(result.base_rate, linestyle="--", color="grey", label=f"random ({result.base_rate:.3f})")
        axes[1].set(title="Precision–recall curve", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
        if panels == 3:
            table = result.calibration_table
            predicted, observed = [r["predicted"] for r in table], [r["observed"] for r in table]
            top = max(max(predicted), max(observed)) * 1.05
            axes[2].plot(predicted, observed, "o-", label=f"deciles (calibration {result.calibration:.2f})")
            axes[2].plot([0, top], [0, top], "--", color="grey", label="perfect")
            axes[2].set(title="Calibration", xlabel="mean predicted probability", ylabel="observed rate")
        for axis in axes:
            axis.legend(loc="best")
            axis.grid(alpha=0.3)
    elif task == "multiclass" or task == "binary":
        figure, (axis,) = stacked(1, height=4.2)
        if task == "multiclass":
            labels, matrix = result.labels, result.confusion_matrix["rows_true_columns_predicted"]
        else:
            c = result.confusion_matrix
            labels, matrix = ["negative", "positive"], [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
        shown = [label if len(label) <= 12 else label[:11] + "…" for label in map(str, labels)]
        image = axis.imshow(matrix, cmap="Blues")
        ticks = range(len(labels))
        axis.set(title="Confusion matrix", xlabel="predicted", ylabel="true", xticks=ticks, yticks=ticks)
        axis.set_xticklabels(shown, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
        axis.set_yticklabels(shown)
        if len(labels) <= 12:  # beyond that the counts would overlap; the colours still show the pattern
            peak = max(max(row) for row in matrix) or 1
            for i, row in enumerate(matrix):
                for j, count in enumerate(row):
                    axis.text(j, i, f"{count:,}", ha="center", va="center",
                              color="white" if count > peak / 2 else "black")  # fmt: skip
        figure.colorbar(image, ax=axis, shrink=0.8)
    elif task == "regression":
        figure, (axis,) = stacked(1, height=4.0)
        scatter = result.curves["scatter"]
        axis.scatter(scatter["x"], scatter["y"], s=10, alpha=0.6)
        low, high = min(scatter["x"] + scatter["y"]), max(scatter["x"] + scatter["y"])
        axis.plot([low, high], [low, high], "--", color="grey", label="perfect")
        axis.set(title=f"Predicted vs actual (R² {result.r2:.3f})", xlabel="predicted", ylabel="actual")
        axis.legend()
        axis.grid(alpha=0.3)
    else:
        figure, (axis,) = stacked(1, height=3.4)
        gain = result.curves["gain"]
        axis.plot(gain["x"], gain["y"], "o-", label=f"model (NDCG@{result.k} {result.ndcg:.3f})")
        axis.set(title="Relevant items found by rank", xlabel="rank", ylabel="share of relevant items",
                 ylim=(0, 1.02))  # fmt: skip
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)


@card_fonts
def uplift_chart(result: UpliftResult, max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the uplift chart, one panel per row: the Qini curve against random targeting, actual uplift per
    decile, and the profit (or incremental outcome) of treating each share, with the recommended share."""
    profit = result.curves.get("profit")
    figure, axes = stacked(3 if profit else 2, height=2.8)
    qini = result.curves["qini"]
    axes[0].plot(qini["x"], qini["y"], label=f"model (Qini {result.qini_auc:.3f})")
    axes[0].plot([0, qini["x"][-1]], [0, qini["y"][-1]], "--", color="grey", label="random")
    axes[0].set(title="Qini curve", xlabel="people targeted, by predicted uplift", ylabel="extra successes")
    deciles = result.deciles
    binary = result.outcome_kind == "binary"
    scale = 100 if binary else 1
    lifts = [d.uplift * scale if d.uplift is not None else 0.0 for d in deciles]  # none: no ranking, no bars
    axes[1].bar([d.decile for d in deciles], lifts, color=["tab:green" if v >= 0 else "tab:red" for v in lifts])
    axes[1].axhline(result.ate.estimate * scale, linestyle="--", color="grey", label="average effect")
    axes[1].set(title="Actual uplift by decile", xlabel="decile of predicted uplift (1 = highest)",
                ylabel="points" if binary else "treated − control", xticks=range(1, 11))  # fmt: skip
    if profit:
        money = result.cost is not None
        axes[2].plot(
            [s * 100 for s in profit["share"]], profit["profit"], "o-", markersize=3, label="in-sample (optimistic)"
        )
        axes[2].axhline(0, color="grey", linewidth=0.8)
        rec = result.recommendation
        if rec.target:
            axes[2].axvline(rec.fraction * 100, linestyle="--", color="tab:green",
                            label=f"recommended: top {rec.fraction:.0%}")  # fmt: skip
        axes[2].set(title="Profit after cost" if money else "Incremental outcome",
                    xlabel="% treated, by predicted uplift", ylabel="profit" if money else "total")  # fmt: skip
    for axis in axes:
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best")
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)


@card_fonts
def drift_chart(result: DriftResult, reference: Any, current: Any, max_bytes: int = MAX_PNG_BYTES,
                dpi: int = 110) -> bytes:  # fmt: skip
    """Return the drift chart, one panel per row: reference against current distributions of the top drifted
    columns (up to three), and the adversarial importances when adversarial validation ran."""
    import numpy as np
    import pandas as pd

    shown = [c for c in result.columns if c.drifted and c.kind in ("numeric", "categorical", "boolean")][:3]
    if not shown:
        shown = [c for c in result.columns if c.kind in ("numeric", "categorical", "boolean")][:2]
    importances = result.adversarial.importances if result.adversarial else ()
    panels = len(shown) + (1 if importances else 0)
    figure, axes = stacked(max(panels, 1), height=2.7)
    for axis, column in zip(axes, shown, strict=False):
        name = column.name
        r, c = reference[name].dropna(), current[name].dropna()
        if column.kind == "boolean":  # one spelling for both sides (0.0/1.0, True/False, "1" are 0/1)
            from services.analytics.columns import as_booleans

            r, c = as_booleans(r).dropna(), as_booleans(c).dropna()
        if column.kind == "numeric":
            r, c = pd.to_numeric(r, errors="coerce").dropna(), pd.to_numeric(c, errors="coerce").dropna()
            both = np.concatenate([r.to_numpy(dtype=float), c.to_numpy(dtype=float)])
            low, high = np.percentile(both, [0.5, 99.5])
            bins = np.linspace(low, high, 40) if high > low else 10
            axis.hist(r, bins=bins, alpha=0.5, density=True, label="reference")
            axis.hist(c, bins=bins, alpha=0.5, density=True, label="current")
        else:
            shares = (
                r.astype(str).value_counts(normalize=True).rename("reference").to_frame()
                .join(c.astype(str).value_counts(normalize=True).rename("current"), how="outer").fillna(0)
                .sort_values("reference", ascending=False).head(12)
            )  # fmt: skip
            positions = np.arange(len(shares))
            axis.bar(positions - 0.2, shares["reference"], width=0.4, label="reference")
            axis.bar(positions + 0.2, shares["current"], width=0.4, label="current")
            axis.set_xticks(positions)
            axis.set_xticklabels([str(v)[:14] for v in shares.index], rotation=45, ha="right")
        effect = column.wasserstein_normalized if column.wasserstein_normalized is not None else column.jensen_shannon
        missing = column.missing_share
        if "missing" in column.reason:
            title = f"{str(name)[:24]}: missing {missing.reference:.0%} → {missing.current:.0%}"
        else:
            title = f"{str(name)[:24]}" + (f" (effect {effect:.2f})" if effect is not None else "")
        axis.set_title(title + (" — drifted" if column.drifted else ""))
        axis.legend()
        axis.grid(alpha=0.3)
    if importances:
        axis = axes[-1]
        top = importances[:10][::-1]
        axis.barh([str(i.name)[:18] for i in top], [max(i.importance, 0) for i in top], color="tab:purple")
        auc = result.adversarial.auc if result.adversarial else 0.5
        axis.set(title=f"Adversarial importances (AUC {auc:.2f})", xlabel="drop in ROC AUC when shuffled")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)
