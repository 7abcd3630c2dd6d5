"""Uplift analysis of a randomized experiment: who to treat, what it earns net of cost, how sure we are.

Pipeline: checks (arm sizes, covariate balance by standardised mean differences, outcome rates) → average
treatment effect with a normal-approximation 95% interval → conditional effects from an S-learner and a
T-learner (scikit-learn gradient boosting, cross-fitted: every row is scored by models that never saw it)
→ the learner with the higher Qini coefficient on those held-out scores → Qini, uplift AUC, uplift@k,
deciles, a bootstrap interval for Qini → the profit of treating the top k% (with revenue and cost) → the
features that drive predicted uplift (a surrogate model, permutation importance on held-out rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold

from services.analytics.columns import ColumnKind, infer_kind, kind_notes, read_as
from services.analytics.errors import AnalyticsError
from services.analytics.tables import require_column
from services.analytics.uplift_decision import (
    DRIVER_ALPHA,
    Z95,
    balance_tests,
    decide_targeting,
    difference,
    heterogeneity,
    profit_curve,
)
from services.analytics.uplift_metrics import (
    bootstrap_qini,
    decile_table,
    qini_auc,
    qini_curve,
    uplift_at_k,
    uplift_auc,
)
from services.analytics.wording import short
from services.analytics.wording import signed as _signed
from services.quoting import quote

TREATED_NAMES = {"1", "1.0", "true", "yes", "y", "t", "treatment", "treated", "test", "called", "contacted"}
MAX_TRAIN_ROWS = 100_000  # per model fit: beyond this, a uniform sample trains (stated in the output)
MIN_ARM = 50  # below this many rows in an arm, the answer warns that every estimate is very uncertain
MIN_FIT_ARM = 10  # fitting learners needs this many rows per arm; given scores need only non-empty arms
K_SHARES = (0.1, 0.2, 0.3, 0.5)


def _binary(series: pd.Series, column: str, role: str) -> tuple[np.ndarray, str]:
    values = series.dropna().unique()
    if len(values) != 2:
        raise AnalyticsError(
            f"The {role} column '{quote(column, 40)}' must have exactly two values"
            f"{' (treated and not)' if role == 'treatment' else ''}, it has {len(values)}."
        )
    treated = next((v for v in values if str(v).strip().lower() in TREATED_NAMES), sorted(values, key=str)[-1])
    return (series == treated).to_numpy(dtype=float), str(treated)


def _features(
    table: pd.DataFrame,
    exclude: set[str],
    required: bool = True,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    """Return the model features (numbers as floats, categories with their 30 most frequent values and 'other')
    and every column's kind (services/analytics/columns.py); identifiers and dates are left out."""
    kept, kinds = {}, {}
    for column in table.columns:
        if column in exclude:
            continue
        series = table[column]
        sample = series.sample(min(5_000, len(series)), random_state=0)  # sorted files: first rows unrepresentative
        kinds[str(column)] = kind = infer_kind(sample, str(column), categorical, numeric)
        if kind.kind in ("identifier", "datetime"):
            continue
        series = read_as(series, kind.kind)  # text numbers parsed, float integer codes as integers
        if kind.kind == "numeric" or (kind.kind == "boolean" and pd.api.types.is_numeric_dtype(series)):
            kept[str(column)] = series.astype(float)
        else:
            text = series.map(str).where(series.notna())  # missing stays missing (NaN), not a category
            top = text.value_counts().index[:30]
            kept[str(column)] = text.where(text.isin(top) | text.isna(), "other").astype("category")
    if not kept and required:
        raise AnalyticsError("The table has no feature columns besides treatment and outcome: add customer attributes.")
    return pd.DataFrame(kept, index=table.index), kinds


def average_effect(y: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """Return the difference in mean outcome (treated − control) with its 95% normal-approximation interval."""
    estimate, se = difference(y, t, float(y.var(ddof=1)) if y.size > 1 else 0.0)
    return {"estimate": estimate, "ci": [estimate - Z95 * se, estimate + Z95 * se], "se": se}


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
    """Return out-of-fold uplift predictions of the S-learner and the T-learner (3 folds, 2 above 100k rows:
    3 rather than 5 keeps a 10,000-row analysis under 1.5 s in chat, 9 model fits instead of 15)."""
    folds = 2 if len(y) > 100_000 else 3
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


def drivers(
    features: pd.DataFrame,
    y: np.ndarray,
    t: np.ndarray,
    uplift: np.ndarray,
    binary: bool,
    seed: int = 0,
    top: int = 5,
) -> list[dict[str, Any]]:
    """Return the features whose groups show different measured effects (Holm-adjusted heterogeneity test at
    2.5%, see uplift_decision), strongest first, each with its weight: the permutation importance of a surrogate
    model of the predicted uplift, as a share of the named drivers' total (equal shares if the surrogate
    gives none). Empty when no feature passes: then no driver is named."""
    tested = [r for r in heterogeneity(features, y, t) if r["p_value_adjusted"] < DRIVER_ALPHA]
    if not tested:
        return []
    tested = sorted(tested, key=lambda r: r["p_value"])[:top]
    names = [r["name"] for r in tested]
    weights = dict.fromkeys(names, 1.0)
    if len(names) > 1 and len(uplift) >= 200:
        rng = np.random.default_rng(seed)
        sample = rng.permutation(len(uplift))[:25_000]
        split = int(len(sample) * 0.8)
        train, test = sample[:split], sample[split:]
        surrogate = _model(False, seed).fit(features.iloc[train], uplift[train])
        importance = permutation_importance(surrogate, features.iloc[test], uplift[test], n_repeats=3,
                                            random_state=seed, scoring="r2")  # fmt: skip
        found = {str(c): max(float(v), 0.0) for c, v in zip(features.columns, importance.importances_mean, strict=True)}
        if sum(found[name] for name in names) > 0:
            weights = {name: found[name] for name in names}
    total = sum(weights.values())
    result = []
    for row in tested:
        groups = sorted(row["groups"], key=lambda g: -g["effect"])
        best, worst = groups[0], groups[-1]
        result.append({
            "name": row["name"], "weight": round(weights[row["name"]] / total, 3),
            "p_value_adjusted": row["p_value_adjusted"], "split": row["split"], "groups": groups,
            "direction": f"effect {_signed(best['effect'], binary)} when {_group_text(row, best)}, "
                         f"{_signed(worst['effect'], binary)} when {_group_text(row, worst)}",
        })  # fmt: skip
    return sorted(result, key=lambda d: -d["weight"])


def _value(table: pd.DataFrame, y: np.ndarray, revenue: str | None, binary: bool) -> np.ndarray | None:
    if revenue:
        amounts = pd.to_numeric(require_column(table, revenue, "revenue"), errors="coerce").fillna(0).to_numpy()
        return y * amounts if binary else amounts * (y != 0)
    return None if binary else y


def _group_text(row: dict[str, Any], group: dict[str, Any]) -> str:
    name = short(row["name"], 40)
    if row["split"] == "categories":
        return f"{name} is '{short(group['group'], 30)}'"
    return f"{name} is {short(group['group'], 30)} its {row['split']}"


def break_even(deciles: list[dict[str, Any]], cost: float) -> int:
    """Return the last decile of the leading run whose value uplift per person covers the cost (0 if none)."""
    last = 0
    for d in deciles:
        if (d["value_uplift_per_person"] or 0) < cost:
            break
        last = d["decile"]
    return last


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
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Return the uplift analysis as plain data (see the module docstring); AnalyticsError for unusable input.

    Without a cost, the decision uses cost 0 and the outcome (or outcome × revenue) as the value. `categorical`,
    `numeric` and `ignore` override the kinds read from the features (services/analytics/columns.py)."""
    t_raw = require_column(table, treatment, "treatment")
    y_raw = require_column(table, outcome, "outcome")
    if revenue:
        require_column(table, revenue, "revenue")
    rows = len(table)
    keep = t_raw.notna() & y_raw.notna()
    if score:
        keep &= pd.to_numeric(require_column(table, score, "score"), errors="coerce").notna()
    table = table.loc[keep].reset_index(drop=True)
    if table.empty:
        raise AnalyticsError(f"Every row misses the treatment or the outcome{' or the score' if score else ''}.")
    t, treated_label = _binary(table[treatment], treatment, "treatment")
    y_series = pd.to_numeric(table[outcome], errors="coerce")
    if y_series.isna().any():
        y, _ = _binary(table[outcome], outcome, "outcome")
        binary = True
    else:
        y = y_series.to_numpy(dtype=float)
        binary = set(np.unique(y)) <= {0.0, 1.0}
    if cost is not None and binary and not revenue:  # refused before any model runs
        raise AnalyticsError(
            "A cost needs a value per success: add revenue=<column> (e.g. the amount owed), "
            "or use a numeric outcome such as the amount paid."
        )
    if cost is not None and cost < 0:
        raise AnalyticsError("The cost per person treated cannot be negative.")
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    smallest = 1 if score else MIN_FIT_ARM
    if min(n_t, n_c) < smallest:
        raise AnalyticsError(
            f"One arm is {'empty' if min(n_t, n_c) == 0 else 'nearly empty'} ({n_t} treated, {n_c} control): "
            + ("uplift needs both arms." if score else f"fitting an uplift model needs at least {MIN_FIT_ARM} rows "
               "in each arm (with score=<column>, any experiment with both arms can be evaluated).")
        )  # fmt: skip
    exclude = {treatment, outcome} | {c for c in (score, revenue) if c}
    for name in (*categorical, *numeric, *ignore):
        require_column(table, name, "an option")
    features, kinds = _features(table.drop(columns=[c for c in ignore if c not in exclude]), exclude,
                                required=not score, categorical=categorical, numeric=numeric)  # fmt: skip
    warnings = []
    checks = balance_tests(features, t)
    unbalanced = [r for r in checks if r["flagged"]]
    if unbalanced:
        names = ", ".join(f"{short(r['name'], 40)} (SMD {r['smd']:.2f}, adj. p {r['p_value_adjusted']:.2g})"
                          for r in unbalanced[:3])  # fmt: skip
        warnings.append(f"The arms differ on {names}: the experiment may not be randomized, so effects may be biased.")
    if min(n_t, n_c) < MIN_ARM:
        warnings.append(
            f"Only {min(n_t, n_c)} rows in the smaller arm: every estimate here is very uncertain and the "
            "intervals are wide."
        )
    ate = average_effect(y, t)
    if binary:  # a difference of two rates lies in [-1, 1]; tiny arms would otherwise print "+123 points"
        ate["ci"] = [max(ate["ci"][0], -1.0), min(ate["ci"][1], 1.0)]

    if score:
        uplift = pd.to_numeric(table[score]).to_numpy(dtype=float)
        learner, learners, folds, scores = "given score", {}, 0, {"given score": uplift}
    else:
        fitted = cross_fitted_uplift(features, y, t, binary, seed)
        folds = fitted["folds"]
        scores = {name: fitted[name] for name in ("s_learner", "t_learner")}
        learners = {name: {"qini_auc": qini_auc(y, scores[name], t)} for name in scores}
        learner = max(learners, key=lambda name: learners[name]["qini_auc"])
        uplift = scores[learner]
    qini = qini_auc(y, uplift, t)
    interval = bootstrap_qini(y, uplift, t, resamples=bootstrap, seed=seed)
    if interval["ci"] is None:
        warnings.append("Too few rows in an arm for a bootstrap interval of the Qini coefficient.")
    elif interval["ci"][0] <= 0 <= interval["ci"][1]:
        warnings.append("The Qini interval includes 0: this ranking is not reliably better than random targeting.")
    x, curve = qini_curve(y, uplift, t)
    step = max(1, len(x) // 200)
    y_value = _value(table, y, revenue, binary)
    value = y if y_value is None else y_value
    deciles = decile_table(y, uplift, t, value)
    decision = decide_targeting(scores, value, t, cost or 0.0, budget, seed)
    decision["break_even_decile"] = break_even(deciles, cost or 0.0)
    decision["expected_profit"] = decision["beats_no_one"]["estimate"] if decision["target"] else 0.0
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
            "smd": checks,
            "randomized_looking": not unbalanced,
            "rule": "a feature is flagged when Welch's t or chi-square (Holm-adjusted) p < 0.05 and its SMD > 0.1",
        },  # fmt: skip
        "ate": ate,
        "learner": learner,
        "learners": learners,
        "qini_auc": qini,
        "qini_auc_ci": interval["ci"],
        "qini_bootstrap": {k: interval[k] for k in ("resamples", "level", "points")},
        "uplift_auc": uplift_auc(y, uplift, t) if binary else None,
        "uplift_at_k": {f"{int(k * 100)}%": uplift_at_k(y, uplift, t, k) for k in K_SHARES},
        "deciles": deciles,
        "curves": {
            "qini": {"x": x[::step].tolist() + [float(x[-1])], "y": curve[::step].tolist() + [float(curve[-1])]},
            "profit": profit_curve(uplift, value, t, cost or 0.0),
        },
        "features": list(features.columns),
        "skipped_columns": [n for n, k in kinds.items() if k.kind in ("identifier", "datetime")] + list(ignore),
        "column_kinds": {n: {"kind": k.kind, "detail": k.detail} for n, k in kinds.items()},
        "kind_notes": kind_notes(kinds),
        "training": {"folds": folds, "max_rows_per_model": MAX_TRAIN_ROWS} if folds else {},
        "conventions": (
            "Qini coefficient = scikit-uplift qini_auc_score (negative_effect=True); uplift AUC = scikit-uplift "
            "uplift_auc_score (binary outcomes); uplift@k = treated minus control mean outcome in the top k% "
            "(strategy 'overall'); deciles ordered by predicted uplift, decile 1 highest; Qini interval: "
            f"{interval['resamples']} bootstrap resamples, 95% percentile. Targeting: {decision['rule']}."
        ),
        "drivers": drivers(features, y, t, uplift, binary, seed),
        "recommendation": decision,
        "cost": cost,
        "budget": budget,
        "value_kind": "money" if (revenue or cost is not None) else ("successes" if binary else "outcome"),
        "warnings": warnings,
    }
    result["summary"] = summarise(result)
    return result


def _amount(value: float, kind: str) -> str:
    """Return a total for people: money, successes and large totals as whole numbers, small ones with 4 digits."""
    if kind == "outcome" and abs(value) < 1000:
        return f"{value:,.4g}"
    return f"{'-' if round(value) < 0 else ''}{abs(value):,.0f}"


def _interval(estimate: dict[str, Any], kind: str) -> str:
    low, high = estimate["ci"]
    unit = " successes" if kind == "successes" else ""
    return f"{_amount(estimate['estimate'], kind)}{unit} (95% interval {_amount(low, kind)} to {_amount(high, kind)})"


def _deciles_text(last: int) -> str:
    return "Decile 1 pays" if last == 1 else f"Deciles 1–{last} each pay"


def _verdict(r: dict[str, Any]) -> str:
    rec, kind = r["recommendation"], r["value_kind"]
    gain = "earns" if kind == "money" else "adds"
    after = " after costs" if r.get("cost") else ""
    if rec["target"]:
        return (
            f"Treat the top {rec['fraction']:.0%} ({rec['people']:,} people) by predicted uplift: measured on rows "
            f"not used to choose it, that {gain} {_interval(rec['beats_no_one'], kind)}{after} over treating no one, "
            f"and {_interval(rec['beats_everyone'], kind)} over treating everyone."
        )
    everyone = rec["treat_everyone"]
    if rec["treat_everyone_pays"]:
        return (
            f"The experiment shows no targeting value: treating everyone {gain} {_interval(everyone, kind)}{after}, "
            "and no share chosen by the model reliably beats that."
        )
    return (
        f"The experiment shows no targeting value, and no evidence that treatment pays: treating everyone "
        f"{gain} {_interval(everyone, kind)}{after}, and no share chosen by the model reliably beats treating "
        "no one."
    )


def summarise(r: dict[str, Any]) -> list[str]:
    """Return the plain-language reading: the verdict the data supports first, then the evidence."""
    says = [_verdict(r)]
    binary = r["outcome_kind"] == "binary"
    rec = r["recommendation"]
    if not r["balance"]["randomized_looking"]:
        says.append(r["warnings"][0])
    low, high = r["ate"]["ci"]
    says.append(f"Average effect of treatment: {_signed(r['ate']['estimate'], binary)} (95% interval "
                f"{_signed(low, binary)} to {_signed(high, binary)}).")  # fmt: skip
    if r["qini_auc_ci"] is not None:
        lo, hi = r["qini_auc_ci"]
        says.append(f"Qini coefficient {r['qini_auc']:.3f} (95% interval {lo:.3f} to {hi:.3f}) with the "
                    f"{r['learner'].replace('_', '-')}.")  # fmt: skip
    if rec["target"] and rec["break_even_decile"] and r.get("cost"):
        says.append(f"{_deciles_text(rec['break_even_decile'])} for their own treatment cost.")
    top, total = r["deciles"][0], r["deciles"][-1]["cumulative_incremental"]
    share = top["uplift"] * top["rows"] / total if top["uplift"] is not None and total > 0 else None
    if low > 0 and share is not None and 0 < share <= 1:  # a share of a total that is clearly above 0
        says.append(f"The top 10% by predicted uplift holds {share:.0%} of the incremental outcome.")
    if r["drivers"]:
        says.append(
            "The effect differs by "
            + "; ".join(
                f"{short(d['name'], 40)} (weight {d['weight']:.2f}: {d['direction']})" for d in r["drivers"][:3]
            )
            + "."
        )
    else:
        says.append("No feature changes the measured effect reliably: no drivers are named.")
    return says + [w for w in r["warnings"] if w not in says] + r.get("kind_notes", [])
