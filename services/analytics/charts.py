"""PNG charts of analysis results (matplotlib, headless), kept under a byte limit."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and Lambda
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

MAX_PNG_BYTES = 1_000_000


def to_png(figure: Any, max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the figure as PNG bytes, lowering the resolution until it fits in `max_bytes`; closes the figure."""
    try:
        while True:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
            data = buffer.getvalue()
            if len(data) <= max_bytes or dpi <= 30:
                if len(data) > max_bytes:
                    raise ValueError(f"the chart needs {len(data)} bytes, over the {max_bytes}-byte limit")
                return data
            dpi = int(dpi * 0.75)
    finally:
        plt.close(figure)


def metrics_chart(result: dict[str, Any], max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the chart of an evaluation: ROC, PR and calibration curves (binary), the confusion matrix
    (multiclass), predicted against actual (regression), or the cumulative gain by rank (ranking)."""
    task = result["task"]
    if task == "binary" and "curves" in result:
        panels = 3 if result.get("calibration_table") else 2
        figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))
        roc, pr = result["curves"]["roc"], result["curves"]["pr"]
        axes[0].plot(roc["x"], roc["y"], label=f"model (AUC {result['roc_auc']:.3f})")
        axes[0].plot([0, 1], [0, 1], "--", color="grey", label="random")
        axes[0].set(title="ROC curve", xlabel="false positive rate", ylabel="true positive rate (recall)")
        axes[1].plot(pr["x"], pr["y"], label=f"model (AP {result['pr_auc']:.3f})")
        axes[1].axhline(result["base_rate"], linestyle="--", color="grey", label=f"random ({result['base_rate']:.3f})")
        axes[1].set(title="Precision–recall curve", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
        if panels == 3:
            table = result["calibration_table"]
            predicted, observed = [r["predicted"] for r in table], [r["observed"] for r in table]
            top = max(max(predicted), max(observed)) * 1.05
            axes[2].plot(predicted, observed, "o-", label=f"deciles (calibration {result['calibration']:.2f})")
            axes[2].plot([0, top], [0, top], "--", color="grey", label="perfect")
            axes[2].set(title="Calibration", xlabel="mean predicted probability", ylabel="observed rate")
        for axis in axes:
            axis.legend(loc="best", fontsize=8)
            axis.grid(alpha=0.3)
    elif task == "multiclass" or task == "binary":
        figure, axis = plt.subplots(figsize=(5, 4.2))
        if task == "multiclass":
            labels, matrix = result["labels"], result["confusion_matrix"]["rows_true_columns_predicted"]
        else:
            c = result["confusion_matrix"]
            labels, matrix = ["negative", "positive"], [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
        image = axis.imshow(matrix, cmap="Blues")
        ticks = range(len(labels))
        axis.set(title="Confusion matrix", xlabel="predicted", ylabel="true", xticks=ticks, yticks=ticks)
        axis.set_xticklabels(labels)
        axis.set_yticklabels(labels)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axis.text(j, i, str(count), ha="center", va="center", fontsize=8)
        figure.colorbar(image, ax=axis)
    elif task == "regression":
        figure, axis = plt.subplots(figsize=(5, 4.2))
        scatter = result["curves"]["scatter"]
        axis.scatter(scatter["x"], scatter["y"], s=8, alpha=0.6)
        low, high = min(scatter["x"] + scatter["y"]), max(scatter["x"] + scatter["y"])
        axis.plot([low, high], [low, high], "--", color="grey", label="perfect")
        axis.set(title=f"Predicted vs actual (R² {result['r2']:.3f})", xlabel="predicted", ylabel="actual")
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    else:
        figure, axis = plt.subplots(figsize=(5, 4.2))
        gain = result["curves"]["gain"]
        axis.plot(gain["x"], gain["y"], "o-", label="model")
        title = f"Share of relevant items found by rank (NDCG@{result['k']} {result['ndcg']:.3f})"
        axis.set(title=title,
                 xlabel="rank", ylabel="share of relevant items", ylim=(0, 1.02))  # fmt: skip
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)


def uplift_chart(result: dict[str, Any], max_bytes: int = MAX_PNG_BYTES, dpi: int = 110) -> bytes:
    """Return the uplift chart: the Qini curve against random targeting, actual uplift per decile, and the
    profit of treating the top share (when a cost was given)."""
    panels = 3 if "profit" in result["curves"] else 2
    figure, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 3.8))
    qini = result["curves"]["qini"]
    axes[0].plot(qini["x"], qini["y"], label=f"model (Qini {result['qini_auc']:.3f})")
    axes[0].plot([0, qini["x"][-1]], [0, qini["y"][-1]], "--", color="grey", label="random targeting")
    axes[0].set(title="Qini curve", xlabel="people targeted (by predicted uplift)", ylabel="incremental outcome")
    deciles = result["deciles"]
    lifts = [d["uplift"] if d["uplift"] is not None else 0.0 for d in deciles]
    axes[1].bar([d["decile"] for d in deciles], lifts, color=["tab:green" if v >= 0 else "tab:red" for v in lifts])
    axes[1].axhline(result["ate"]["estimate"], linestyle="--", color="grey", label="average effect")
    axes[1].set(title="Actual uplift by decile", xlabel="decile of predicted uplift (1 = highest)",
                ylabel="treated − control outcome", xticks=range(1, 11))  # fmt: skip
    if panels == 3:
        profit = result["curves"]["profit"]
        axes[2].plot([0.0] + [s * 100 for s in profit["share"]], [0.0] + profit["profit"], "o-", markersize=3)
        axes[2].axhline(0, color="grey", linewidth=0.8)
        best = result["recommendation"]
        if best["fraction"]:
            axes[2].axvline(
                best["fraction"] * 100, linestyle="--", color="tab:green", label=f"best: top {best['fraction']:.0%}"
            )
        axes[2].set(title="Profit after treatment cost", xlabel="% treated (by predicted uplift)", ylabel="profit")
    for axis in axes:
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)


def drift_chart(result: dict[str, Any], reference: Any, current: Any, max_bytes: int = MAX_PNG_BYTES,
                dpi: int = 110) -> bytes:  # fmt: skip
    """Return the drift chart: reference against current distributions of the top drifted columns (up to
    four), and the adversarial importances when adversarial validation ran."""
    import numpy as np

    shown = [c for c in result["columns"] if c["drifted"] and c["kind"] in ("numeric", "categorical", "boolean")][:4]
    if not shown:
        shown = [c for c in result["columns"] if c["kind"] in ("numeric", "categorical", "boolean")][:2]
    importances = (result.get("adversarial") or {}).get("importances") or []
    panels = len(shown) + (1 if importances else 0)
    figure, axes = plt.subplots(1, max(panels, 1), figsize=(4 * max(panels, 1), 3.6), squeeze=False)
    axes = axes[0]
    for axis, column in zip(axes, shown, strict=False):
        name = column["name"]
        r, c = reference[name].dropna(), current[name].dropna()
        if column["kind"] == "numeric":
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
            axis.set_xticklabels(shares.index, rotation=45, ha="right", fontsize=8)
        effect = column.get("wasserstein_normalized", column.get("jensen_shannon"))
        missing = column["missing_share"]
        if "missing" in column["reason"]:
            title = f"{name}: missing {missing['reference']:.0%} → {missing['current']:.0%}"
        else:
            title = f"{name}" + (f" (effect {effect:.2f})" if effect is not None else "")
        axis.set_title(title + (" — drifted" if column["drifted"] else ""), fontsize=10)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    if importances:
        axis = axes[-1]
        top = importances[:10][::-1]
        axis.barh([i["name"] for i in top], [max(i["importance"], 0) for i in top], color="tab:purple")
        auc = result["adversarial"]["auc"]
        axis.set(title=f"Adversarial importances (AUC {auc:.2f})", xlabel="drop in ROC AUC when shuffled")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)
