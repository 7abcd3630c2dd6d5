"""Adaptive Cards (1.5) for analytics answers: glossary entries and model evaluations."""

from __future__ import annotations

import base64
from typing import Any

from handlers.cards import card, facts, text
from services.analytics import uplift_wording
from services.analytics.commands import METRIC_LABELS
from services.analytics.drift_types import DriftResult
from services.analytics.drift_wording import effect_text
from services.analytics.glossary import Entry, Glossary
from services.analytics.metrics_types import MetricsResult
from services.analytics.uplift_types import UpliftResult
from services.analytics.wording import short
from services.analytics.wording import signed as _signed
from services.quoting import quote


def entry_card(entry: Entry, glossary: Glossary) -> dict[str, Any]:
    """Return the card of a glossary entry: meaning, formula, range, when to use it, pitfalls, related entries."""
    related = [glossary.entries[key].name for key in entry.related if key in glossary.entries]
    body = [
        text(entry.name, size="Large", weight="Bolder"),
        text(entry.meaning),
        facts([("Formula", entry.formula), ("Range", entry.range), ("Good", entry.good), ("Use when", entry.when)]),
    ]
    if entry.pitfalls:
        body += [text("Pitfalls", weight="Bolder"), text("\n".join(f"- {p}" for p in entry.pitfalls))]
    if related:
        body.append(text(f"Related: {', '.join(related)}", isSubtle=True, size="Small"))
    body.append(text(f"Metric glossary v{glossary.version} · ask `explain <metric>`", isSubtle=True, size="Small"))
    return card(body)


def suggestions_text(name: str, suggestions: list[Entry], glossary: Glossary) -> str:
    """Return the reply for a metric the glossary does not have: the closest entries, then all of them."""
    close = ", ".join(f"`{e.key}` ({e.name})" for e in suggestions)
    every = ", ".join(f"`{key}`" for key in glossary.entries)
    lead = f"I have no entry for “{quote(name)}”." + (f" Closest: {close}." if suggestions else "")
    return f"{lead}\n\nThe glossary covers: {every}."


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def evaluation_card(result: MetricsResult, source: str, chart_png: bytes | None) -> dict[str, Any]:
    """Return the card of a model evaluation: headline, explanation, metric table, chart, details on demand."""
    task = {"binary": "Binary classifier", "multiclass": "Multiclass classifier", "regression": "Regression",
            "ranking": "Ranking"}[result.task]  # fmt: skip
    headline = f"{task}: {result.n:,} rows from {source}"
    if result.task == "ranking":
        headline += f", {result.queries:,} queries"
    if result.task == "binary":
        headline += f"; positive class '{short(result.positive_label, 30)}'"
    rows = [(label, _number(getattr(result, key))) for key, label in METRIC_LABELS if getattr(result, key) is not None]
    if result.task == "ranking":
        rows = [(label.replace("@k", f"@{result.k}"), value) for label, value in rows]
    if result.task == "multiclass":
        rows += [("Macro F1", _number(result.macro["f1"])), ("Weighted F1", _number(result.weighted["f1"]))]
    body = [
        text(headline, size="Medium", weight="Bolder"),
        text("\n".join(f"- {line}" for line in result.summary)),
        facts(rows),
    ]
    if chart_png:
        uri = "data:image/png;base64," + base64.b64encode(chart_png).decode()
        body.append({"type": "Image", "url": uri, "altText": f"{task} evaluation chart", "size": "Stretch"})
    elif chart_png is not None:
        body.append(text("(The chart was too large to show here.)", isSubtle=True, size="Small"))
    details = _details(result)
    actions = [{"type": "Action.ShowCard", "title": details[0], "card": card(details[1])}] if details else None
    return card(body, actions)


def _details(result: MetricsResult) -> tuple[str, list[dict[str, Any]]] | None:
    if result.calibration_table:
        pairs = [(f"Decile {r['decile']} ({r['rows']:,} rows)", f"mean predicted {r['predicted']:.4f} · observed "
                  f"rate {r['observed']:.4f}") for r in result.calibration_table]  # fmt: skip
        return "Calibration table", [facts(pairs)]
    if result.task == "multiclass":
        pairs = [(short(c["label"], 40), f"precision {c['precision']:.3f} · recall {c['recall']:.3f} · "
                  f"F1 {c['f1']:.3f} · {c['support']:,} rows") for c in result.per_class]  # fmt: skip
        return "Per-class scores", [facts(pairs)]
    if result.task == "regression":
        residuals = result.residuals
        titles = {"mean": "Mean residual", "std": "Residual SD"}
        return "Residuals", [facts([(titles.get(name, f"Residual {name}"), _number(value))
                                    for name, value in residuals.items()])]  # fmt: skip
    if result.task == "ranking":
        return "Conventions", [text(result.conventions)]
    return None


def _ci(values: tuple[float, float] | None, digits: str = ".3f") -> str:
    return "no interval (too few rows)" if values is None else f"95% CI {values[0]:{digits}} to {values[1]:{digits}}"


def uplift_card(result: UpliftResult, source: str, chart_png: bytes | None) -> dict[str, Any]:
    """Return the card of an uplift analysis: the verdict, effects with intervals, the targeting tests,
    deciles, the drivers that pass their test (with weights), warnings, the chart; balance behind a toggle."""
    binary = result.outcome_kind == "binary"
    balance, rec, ate = result.balance, result.recommendation, result.ate
    ate_text = (f"no interval: {ate.reason}" if ate.ci is None
                else f"95% CI {_signed(ate.ci[0], binary)} to {_signed(ate.ci[1], binary)}")  # fmt: skip
    rows = [
        ("Rows", f"{result.rows.used:,} ({balance.treated:,} treated, {balance.control:,} control)"),
        (
            "ATE (average effect)",
            f"{_signed(ate.estimate, binary)} ({ate_text})" + ("; lower is better" if result.better == "lower" else ""),
        ),
        ("Qini coefficient", f"{result.qini_auc:.3f} ({_ci(result.qini_auc_ci)})"),
        ("Learner", result.learner.replace("_", "-")),
    ]
    if result.cluster.column:
        rows.append(("Clusters", f"{result.cluster.clusters:,} by {short(result.cluster.column, 40)}"))
    if result.uplift_auc is not None:
        rows.append(("Uplift AUC", f"{result.uplift_auc:.3f}"))
    rows += [(f"Uplift@{k}", _signed(v, binary)) for k, v in result.uplift_at_k.items()]
    kind = result.value_kind
    sign = -1.0 if uplift_wording.lower_better(result) else 1.0  # improvements back to the outcome's change
    titles = (
        ("Change, targeted vs no one", "Change, targeted vs everyone", "Treating everyone (change)")
        if sign < 0
        else ("Targeted beats no one by", "Targeted beats everyone by", "Treating everyone")
    )
    tests = [(name, uplift_wording.fact_text(estimate, kind, sign)) for name, estimate in
             zip(titles, (rec.beats_no_one, rec.beats_everyone, rec.treat_everyone), strict=True)]  # fmt: skip
    money = result.cost is not None
    deciles = [
        (f"Decile {d.decile}", f"uplift {uplift_wording.decile_text(d, binary)} · {d.rows:,} rows"
         + (f" · value/person {d.value_uplift_per_person:+,.2f}" if money and d.value_uplift_per_person
            is not None else ""))
        for d in result.deciles
    ]  # fmt: skip
    body = [
        text(result.summary[0], size="Medium", weight="Bolder", **({} if rec.target else {"color": "Attention"})),
        text(f"Uplift analysis of {source}", isSubtle=True, size="Small"),
        text(uplift_wording.arms_text(result)),
        *([text(note)] if (note := uplift_wording.direction_note(result)) else []),
        facts(rows),
        text(f"Targeting, measured on rows not used to choose the share (totals "
             f"{'of ' if sign < 0 else ''}{uplift_wording.unit(result)})",
             weight="Bolder"),
        facts(tests),
    ]  # fmt: skip
    if deciles:
        body += [text("Deciles of predicted uplift (1 = highest)", weight="Bolder"), facts(deciles)]
    else:
        body.append(text("Deciles: the model found no differences to rank by (every row has the same predicted "
                         "uplift)."))  # fmt: skip
    if result.drivers:
        body += [text("Drivers (effect differs between groups; Holm-adjusted test)", weight="Bolder"),
                 facts([(short(d.name, 40), f"weight {d.weight:.2f} · {d.direction} · "
                         f"adj. p {d.p_value_adjusted:.2g}") for d in result.drivers])]  # fmt: skip
    else:
        body.append(text("Drivers: none pass the heterogeneity test, so none are named."))
    for warning in result.warnings:
        body.append(text(f"⚠ {warning}", color="Attention"))
    if chart_png:
        uri = "data:image/png;base64," + base64.b64encode(chart_png).decode()
        body.append({"type": "Image", "url": uri, "altText": "Qini curve, uplift by decile, profit", "size": "Stretch"})
    balance_rows = [(short(r.name, 40), f"SMD {r.smd:.3f} · adj. p {r.p_value_adjusted:.2g}"
                     + (" · flagged" if r.flagged else "")) for r in balance.smd[:15]]  # fmt: skip
    details = card([text(f"Covariate balance: {balance.rule}"), facts(balance_rows),
                    text(result.conventions, isSubtle=True, size="Small")])  # fmt: skip
    return card(body, [{"type": "Action.ShowCard", "title": "Balance and conventions", "card": details}])


def drift_card(result: DriftResult, names: tuple[str, str], chart_png: bytes | None) -> dict[str, Any]:
    """Return the card of a drift analysis: verdict, top drifted columns with effect sizes, adversarial AUC,
    the chart, and every column behind a "Show all columns" toggle."""
    drifted = result.drifted
    schema = result.schema_changed
    verdict = "Data drift detected" if result.dataset_drift else "Schema changed" if schema else "No data drift"
    rows = result.rows
    body = [
        text(
            f"{verdict}: {names[1]} against {names[0]}",
            size="Medium",
            weight="Bolder",
            color="Attention" if drifted or schema else "Good",
        ),  # fmt: skip
        text(f"{rows.reference:,} reference and {rows.current:,} current rows", isSubtle=True, size="Small"),
        text("\n".join(f"- {line}" for line in result.summary)),
    ]
    if drifted:
        body += [text("Drifted columns", weight="Bolder"),
                 facts([(short(c.name, 40), f"{c.reason} ({effect_text(c)})" if "significant" not in c.reason
                         else effect_text(c)) for c in drifted[:8]])]  # fmt: skip
    adversarial = result.adversarial
    if adversarial:
        low, high = adversarial.auc_ci
        body.append(facts([("Adversarial ROC AUC", f"{adversarial.auc:.3f} (95% CI {low:.3f}–{high:.3f})")]))
    if chart_png:
        uri = "data:image/png;base64," + base64.b64encode(chart_png).decode()
        body.append({"type": "Image", "url": uri, "altText": "Distributions of drifted columns", "size": "Stretch"})
    every = facts([(f"{short(c.name, 40)} ({c.kind})", ("DRIFT · " if c.drifted else "") + effect_text(c))
                   for c in result.columns])  # fmt: skip
    rules = text(result.rules["gate"] + ". PSI: " + result.rules["psi"] + ".", isSubtle=True, size="Small")
    return card(body, [{"type": "Action.ShowCard", "title": "Show all columns", "card": card([every, rules])}])
