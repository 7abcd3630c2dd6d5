"""Uplift analysis of a randomized experiment: who to treat, what it earns net of cost, how sure we are.

Pipeline: checks (arm sizes, covariate balance by standardised mean differences, outcome rates) → average
treatment effect with a normal-approximation 95% interval → conditional effects from an S-learner and a
T-learner (scikit-learn gradient boosting, cross-fitted: every row is scored by models that never saw it)
→ the learner with the higher Qini coefficient on those held-out scores → Qini, uplift AUC, uplift@k,
deciles, a bootstrap interval for Qini → the profit of treating the top k% (with revenue and cost) → the
features that drive predicted uplift (a surrogate model, permutation importance on held-out rows).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold

from services.analytics.errors import AnalyticsError
from services.analytics.tables import require_column
from services.analytics.uplift_metrics import (
    bootstrap_qini,
    decile_table,
    qini_auc,
    qini_curve,
    uplift_at_k,
    uplift_auc,
)
from services.quoting import quote

TREATED_NAMES = {"1", "1.0", "true", "yes", "y", "t", "treatment", "treated", "test", "called", "contacted"}
MAX_TRAIN_ROWS = 100_000  # per model fit: beyond this, a uniform sample trains (stated in the output)
SMD_WARNING = 0.1
MIN_ARM = 50
K_SHARES = (0.1, 0.2, 0.3, 0.5)
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key)$|^id[_\s-]", re.I)


def _binary(series: pd.Series, column: str, role: str) -> tuple[np.ndarray, str]:
    values = series.dropna().unique()
    if len(values) != 2:
        raise AnalyticsError(
            f"The {role} column '{quote(column, 40)}' must have exactly two values (treated and not), "
            f"it has {len(values)}."
        )
    treated = next((v for v in values if str(v).strip().lower() in TREATED_NAMES), sorted(values, key=str)[-1])
    return (series == treated).to_numpy(dtype=float), str(treated)


def _features(table: pd.DataFrame, exclude: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """Return the model features (numeric as floats, text as categories) and the columns left out as ids/dates."""
    kept, skipped = {}, []
    for column in table.columns:
        if column in exclude:
            continue
        series = table[column]
        if pd.api.types.is_datetime64_any_dtype(series) or _ID_NAME.search(str(column)):
            skipped.append(str(column))
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            if pd.api.types.is_integer_dtype(series) and series.is_unique and len(series) > 50:
                skipped.append(str(column))  # a row counter, not a feature
            else:
                kept[str(column)] = series.astype(float)
        else:
            if series.nunique() > 0.5 * len(series) and len(series) > 50:
                skipped.append(str(column))  # free text or identifiers
                continue
            top = series.value_counts().index[:30]
            kept[str(column)] = series.where(series.isin(top), "other").astype("category")
    if not kept:
        raise AnalyticsError("The table has no feature columns besides treatment and outcome: add customer attributes.")
    return pd.DataFrame(kept), skipped


def balance(features: pd.DataFrame, t: np.ndarray) -> list[dict[str, Any]]:
    """Return the largest absolute standardised mean difference between arms per feature, largest first."""
    rows = []
    for column in features.columns:
        series = features[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            dummies = pd.get_dummies(series).to_numpy(dtype=float)
        else:
            dummies = series.fillna(series.mean()).to_numpy(dtype=float)[:, None]
        a, b = dummies[t == 1], dummies[t == 0]
        pooled = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2)
        smd = np.divide(a.mean(axis=0) - b.mean(axis=0), pooled, out=np.zeros(pooled.shape), where=pooled > 0)
        rows.append({"name": column, "smd": round(float(np.abs(smd).max()), 4)})
    return sorted(rows, key=lambda r: -r["smd"])


def average_effect(y: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """Return the difference in mean outcome (treated − control) with its 95% normal-approximation interval."""
    a, b = y[t == 1], y[t == 0]
    estimate = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    return {"estimate": estimate, "ci": [estimate - 1.96 * se, estimate + 1.96 * se], "se": se}


def _model(binary: bool, seed: int):
    options = {"max_iter": 60, "learning_rate": 0.1, "max_leaf_nodes": 15, "random_state": seed,
               "categorical_features": "from_dtype"}  # fmt: skip
    return HistGradientBoostingClassifier(**options) if binary else HistGradientBoostingRegressor(**options)


def _predict(model: Any, features: pd.DataFrame, binary: bool) -> np.ndarray:
    return model.predict_proba(features)[:, 1] if binary else model.predict(features)


def _fit(model: Any, features: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> Any:
    if len(y) > MAX_TRAIN_ROWS:
        keep = rng.choice(len(y), MAX_TRAIN_ROWS, replace=False)
        features, y = features.iloc[keep], y[keep]
    return model.fit(features, y)


def cross_fitted_uplift(
    features: pd.DataFrame, y: np.ndarray, t: np.ndarray, binary: bool, seed: int = 0
) -> dict[str, np.ndarray]:
    """Return out-of-fold uplift predictions of the S-learner and the T-learner (5 folds, 2 above 100k rows)."""
    folds = 2 if len(y) > 100_000 else 5
    rng = np.random.default_rng(seed)
    s_learner, t_learner = np.zeros(len(y)), np.zeros(len(y))
    with_t = features.assign(_treatment=t)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(features):
        s_model = _fit(_model(binary, seed), with_t.iloc[train], y[train], rng)
        held_out = with_t.iloc[test]
        s_learner[test] = _predict(s_model, held_out.assign(_treatment=1.0), binary) - _predict(
            s_model, held_out.assign(_treatment=0.0), binary
        )
        treated, control = train[t[train] == 1], train[t[train] == 0]
        model_t = _fit(_model(binary, seed), features.iloc[treated], y[treated], rng)
        model_c = _fit(_model(binary, seed), features.iloc[control], y[control], rng)
        t_learner[test] = _predict(model_t, features.iloc[test], binary) - _predict(
            model_c, features.iloc[test], binary
        )
    return {"s_learner": s_learner, "t_learner": t_learner, "folds": folds}


def drivers(features: pd.DataFrame, uplift: np.ndarray, seed: int = 0, top: int = 5) -> list[dict[str, Any]]:
    """Return the features that drive predicted uplift: permutation importance of a surrogate model on held-out
    rows, with the direction (higher value → more or less uplift, or the category with the most uplift)."""
    rng = np.random.default_rng(seed)
    sample = rng.permutation(len(uplift))[:25_000]
    split = int(len(sample) * 0.8)
    train, test = sample[:split], sample[split:]
    surrogate = _model(False, seed).fit(features.iloc[train], uplift[train])
    importance = permutation_importance(
        surrogate, features.iloc[test], uplift[test], n_repeats=3, random_state=seed, scoring="r2"
    )
    found = []
    for index in np.argsort(importance.importances_mean)[::-1][:top]:
        name = str(features.columns[index])
        value = float(importance.importances_mean[index])
        if value < 0.02:  # below this the surrogate barely loses accuracy without the feature: noise
            break
        column = features[name].iloc[test]
        if isinstance(column.dtype, pd.CategoricalDtype):
            means = pd.Series(uplift[test]).groupby(column.to_numpy()).mean()
            direction = f"most uplift when {name} is '{means.idxmax()}'"
        else:
            correlation = pd.Series(column.to_numpy()).corr(pd.Series(uplift[test]), method="spearman")
            direction = f"higher {name} → {'more' if correlation > 0 else 'less'} uplift"
        found.append({"name": name, "importance": round(value, 4), "direction": direction})
    return found


def _value(table: pd.DataFrame, y: np.ndarray, revenue: str | None, binary: bool) -> np.ndarray | None:
    if revenue:
        amounts = pd.to_numeric(require_column(table, revenue, "revenue"), errors="coerce").fillna(0).to_numpy()
        return y * amounts if binary else amounts * (y != 0)
    return None if binary else y


def decide(
    uplift: np.ndarray,
    y_value: np.ndarray,
    t: np.ndarray,
    cost: float,
    budget: int | None,
    deciles: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Return the recommendation and the profit curve for treating the top share by predicted uplift.

    Incremental value of the top share f = (mean value of treated − of control within it) × people in it,
    measured on the experiment's own rows; profit = incremental value − cost × people. Shares are compared
    in steps of 5% (finer steps chase noise); a budget caps the people treated. `deciles` is the decile
    table of the same ranking with the value uplift per person (`decile_table(..., value=y_value)`)."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    value, treated = y_value[order], t[order]
    n = len(order)
    shares = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    profits, incrementals = [], []
    for share in shares:
        top = int(round(n * share))
        v, tt = value[:top], treated[:top]
        lift = v[tt == 1].mean() - v[tt == 0].mean() if (tt == 1).any() and (tt == 0).any() else 0.0
        incrementals.append(float(lift * top))
        profits.append(float(lift * top - cost * top))
    allowed = [i for i, share in enumerate(shares) if budget is None or int(round(n * share)) <= budget]
    best = max(allowed, key=lambda i: profits[i]) if allowed else None
    worth = [d["decile"] for d in deciles if (d["value_uplift_per_person"] or 0) >= cost]
    break_even = 0
    for d in deciles:  # the last decile of the leading run that pays for its own cost
        if (d["value_uplift_per_person"] or 0) < cost:
            break
        break_even = d["decile"]
    if best is None or profits[best] <= 0:
        recommendation = {"fraction": 0.0, "people": 0, "expected_profit": 0.0}
    else:
        recommendation = {"fraction": float(shares[best]), "people": int(round(n * shares[best])),
                          "expected_profit": profits[best]}  # fmt: skip
    recommendation |= {
        "break_even_decile": break_even,
        "profitable_deciles": worth,
        "profit_treat_all": profits[-1],
        "incremental_value_treat_all": incrementals[-1],
        "budget_limited": budget is not None and len(allowed) < len(shares),
    }
    return recommendation, {"share": shares.tolist(), "profit": profits}


def analyse(
    table: pd.DataFrame,
    treatment: str,
    outcome: str,
    *,
    score: str | None = None,
    revenue: str | None = None,
    cost: float | None = None,
    budget: int | None = None,
    bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Return the uplift analysis as plain data (see the module docstring); AnalyticsError for unusable input."""
    t_raw = require_column(table, treatment, "treatment")
    y_raw = require_column(table, outcome, "outcome")
    rows = len(table)
    keep = t_raw.notna() & y_raw.notna()
    if score:
        keep &= pd.to_numeric(require_column(table, score, "score"), errors="coerce").notna()
    table = table.loc[keep].reset_index(drop=True)
    t, treated_label = _binary(table[treatment], treatment, "treatment")
    y_series = pd.to_numeric(table[outcome], errors="coerce")
    if y_series.isna().any():
        y, _ = _binary(table[outcome], outcome, "outcome")
        binary = True
    else:
        y = y_series.to_numpy(dtype=float)
        binary = set(np.unique(y)) <= {0.0, 1.0}
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    if min(n_t, n_c) < 10:
        raise AnalyticsError(f"One arm is nearly empty ({n_t} treated, {n_c} control): an uplift model needs both.")
    exclude = {treatment, outcome} | {c for c in (score, revenue) if c}
    features, skipped = _features(table, exclude)
    warnings = []
    smd = balance(features, t)
    unbalanced = [r for r in smd if r["smd"] > SMD_WARNING]
    if unbalanced:
        names = ", ".join(f"{r['name']} (SMD {r['smd']:.2f})" for r in unbalanced[:3])
        warnings.append(f"The arms differ on {names}: the experiment may not be randomized, so effects may be biased.")
    if min(n_t, n_c) < MIN_ARM:
        warnings.append(f"Only {min(n_t, n_c)} rows in the smaller arm: every estimate here is very uncertain.")
    ate = average_effect(y, t)

    if score:
        uplift = pd.to_numeric(table[score]).to_numpy(dtype=float)
        learner, learners, folds = "given score", {}, 0
    else:
        fitted = cross_fitted_uplift(features, y, t, binary, seed)
        folds = fitted["folds"]
        learners = {name: {"qini_auc": qini_auc(y, fitted[name], t)} for name in ("s_learner", "t_learner")}
        learner = max(learners, key=lambda name: learners[name]["qini_auc"])
        uplift = fitted[learner]
    qini = qini_auc(y, uplift, t)
    interval = bootstrap_qini(y, uplift, t, resamples=bootstrap, seed=seed)
    if interval["ci"][0] <= 0 <= interval["ci"][1]:
        warnings.append("The Qini interval includes 0: this ranking is not reliably better than random targeting.")
    x, curve = qini_curve(y, uplift, t)
    step = max(1, len(x) // 200)
    y_value = _value(table, y, revenue, binary)
    result: dict[str, Any] = {
        "rows": {"total": rows, "used": int(len(t)), "dropped": int(rows - len(t))},
        "treatment_label": treated_label,
        "outcome_kind": "binary" if binary else "numeric",
        "balance": {
            "treatment_share": round(n_t / len(t), 4),
            "treated": n_t,
            "control": n_c,
            "outcome_treated": float(y[t == 1].mean()),
            "outcome_control": float(y[t == 0].mean()),
            "smd": smd,
            "randomized_looking": not unbalanced,
        },  # fmt: skip
        "ate": ate,
        "learner": learner,
        "learners": learners,
        "qini_auc": qini,
        "qini_auc_ci": interval["ci"],
        "qini_bootstrap": {k: interval[k] for k in ("resamples", "level", "points")},
        "uplift_auc": uplift_auc(y, uplift, t) if binary else None,
        "uplift_at_k": {f"{int(k * 100)}%": uplift_at_k(y, uplift, t, k) for k in K_SHARES},
        "deciles": decile_table(y, uplift, t, y_value),
        "curves": {
            "qini": {"x": x[::step].tolist() + [float(x[-1])], "y": curve[::step].tolist() + [float(curve[-1])]}
        },
        "features": list(features.columns),
        "skipped_columns": skipped,
        "training": {"folds": folds, "max_rows_per_model": MAX_TRAIN_ROWS} if folds else {},
        "conventions": (
            "Qini coefficient = scikit-uplift qini_auc_score (negative_effect=True); uplift AUC = scikit-uplift "
            "uplift_auc_score (binary outcomes); uplift@k = treated minus control mean outcome in the top k% "
            "(strategy 'overall'); deciles ordered by predicted uplift, decile 1 highest; Qini interval: "
            f"{interval['resamples']} bootstrap resamples, 95% percentile."
        ),
        "drivers": drivers(features, uplift, seed) if len(uplift) >= 200 else [],
        "warnings": warnings,
    }
    if cost is not None:
        if y_value is None:
            raise AnalyticsError(
                "A cost needs a value per success: add revenue=<column> (e.g. the amount owed), "
                "or use a numeric outcome such as the amount paid."
            )
        result["recommendation"], result["curves"]["profit"] = decide(
            uplift, y_value, t, cost, budget, result["deciles"]
        )
        result["cost"] = cost
        result["budget"] = budget
    result["summary"] = summarise(result)
    return result


def _money(value: float) -> str:
    return f"{'-' if value < 0 else ''}{abs(value):,.0f}"


def summarise(r: dict[str, Any]) -> list[str]:
    """Return the plain-language reading, the decision first."""
    says = []
    rec = r.get("recommendation")
    if rec:
        if rec["fraction"]:
            says.append(
                f"Treating the top {rec['fraction']:.0%} ({rec['people']:,} people) earns an estimated "
                f"{_money(rec['expected_profit'])} more than treating no one, after costs; treating everyone would "
                f"earn {_money(rec['profit_treat_all'])}."
            )
        else:
            says.append(f"No share of the population earns its cost: treating everyone would earn "
                        f"{_money(rec['profit_treat_all'])} after costs.")  # fmt: skip
        if rec["break_even_decile"]:
            says.append(f"Deciles 1–{rec['break_even_decile']} each pay for their own treatment cost.")
    ate, low, high = r["ate"]["estimate"], *r["ate"]["ci"]
    unit = " points" if r["outcome_kind"] == "binary" else ""
    scale = 100 if r["outcome_kind"] == "binary" else 1
    says.append(f"Average effect of treatment: {ate * scale:+.2f}{unit} (95% interval {low * scale:+.2f} to "
                f"{high * scale:+.2f}{unit}).")  # fmt: skip
    lo, hi = r["qini_auc_ci"]
    says.append(f"Qini coefficient {r['qini_auc']:.3f} (95% interval {lo:.3f} to {hi:.3f}) with the "
                f"{r['learner'].replace('_', '-')}.")  # fmt: skip
    top = r["deciles"][0]
    if r["deciles"] and top["uplift"] is not None and r["deciles"][-1]["cumulative_incremental"]:
        total = r["deciles"][-1]["cumulative_incremental"]
        share = top["uplift"] * top["rows"] / total if total > 0 else None
        if share is not None and share > 0:
            says.append(f"The top 10% holds {share:.0%} of the incremental outcome.")
    if r["drivers"]:
        says.append("Uplift is driven by " + "; ".join(d["direction"] for d in r["drivers"][:3]) + ".")
    return says + r["warnings"]
