"""Uplift decisions with stated error rates: whom to treat, which features drive the effect, was it randomized.

Every rule here is a test whose false-positive rate is bounded (measured by bench/uplift_error_rates.py):
- Targeting: the share treated is chosen on one half of the rows and its value measured on the other half,
  then the halves swap (cross-fitting). Targeting is recommended only when the lower ends of the 95%
  intervals of both "targeted beats treating no one" and "targeted beats treating everyone" are above 0.
  Both must hold, so under no real heterogeneity a recommendation comes in at most 2.5% of experiments.
- Drivers: a feature is named only when the measured effect (treated minus control) differs between its
  groups (below/above its median, or its categories), by a heterogeneity test at 2.5% with Holm's correction
  over every feature tested, so a driver is named in under 5% of experiments without any.
- Balance: a feature makes the experiment look unrandomized only when its arms differ by a test (Holm over
  features, 5%) and by a standardised mean difference above 0.1, so large samples do not flag trivia and
  small samples do not flag chance.
With clusters (services/analytics/uplift_clusters.py) the halves split whole clusters, every difference has a
CR2 error with a t quantile, and the driver and balance tests use those errors instead of row-level ones.
Our own code, because no maintained library offers these decisions on an uplift ranking; the statistics
(normal intervals, chi-square tails) are scipy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from services.analytics import progress, uplift_clusters
from services.analytics.uplift_types import Decision, Estimate
from services.analytics.uplift_wording import group_name

Z95 = float(stats.norm.ppf(0.975))
ALPHA = 0.05
# Drivers are tested at 2.5% (Holm over features): at 5% the measured false-driver rate was 5-6% in 100 null
# experiments (the chi-square approximation is slightly liberal), over the 5% goal; 2.5% keeps it under.
DRIVER_ALPHA = 0.025
SMD_GATE = 0.1
SHARES = np.round(np.arange(0.0, 1.0001, 0.05), 2)  # 0 = treat no one, 1 = treat everyone
MIN_GROUP_ARM = 20  # a group needs this many rows per arm to enter a heterogeneity test


def holm(p_values: list[float]) -> list[float]:
    """Return Holm-adjusted p-values (same order): controls the chance of any false claim at the level used."""
    order = np.argsort(p_values)
    adjusted, running = np.empty(len(p_values)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def difference(value: np.ndarray, t: np.ndarray, fallback_variance: float) -> tuple[float, float]:
    """Return (treated mean − control mean, its standard error) of `value`; an arm with fewer than two rows
    borrows `fallback_variance` (the variance of all rows), so tiny arms get a wide interval, not none."""
    estimate, se, _ = uplift_clusters.difference(value, t, None, fallback_variance)
    return estimate, se


def _descending(uplift: np.ndarray) -> np.ndarray:
    """Return row indices by uplift, highest first; ties reversed from row order, as the curves order them."""
    return np.argsort(uplift, kind="mergesort")[::-1]


def _in_sample_profits(order: np.ndarray, value: np.ndarray, t: np.ndarray, cost: float) -> np.ndarray:
    """Return the profit (incremental value − cost × people) of treating each share in SHARES of the rows in
    `order` (indices, highest predicted uplift first), measured on those rows: treated minus control mean
    value in the top share, times its people."""
    v, tt = value[order], t[order]
    n = len(order)
    cum_t, cum_vt = np.r_[0, np.cumsum(tt)], np.r_[0.0, np.cumsum(v * tt)]
    cum_vc = np.r_[0.0, np.cumsum(v * (1 - tt))]
    tops = np.round(SHARES * n).astype(int)
    treated, control = cum_t[tops], tops - cum_t[tops]
    lift = np.where((treated > 0) & (control > 0),
                    cum_vt[tops] / np.maximum(treated, 1) - cum_vc[tops] / np.maximum(control, 1), 0.0)  # fmt: skip
    return (lift - cost) * tops


def profit_curve(uplift: np.ndarray, value: np.ndarray, t: np.ndarray, cost: float) -> dict[str, list[float]]:
    """Return the in-sample profit of treating each share (0%, 5%, … 100%) by predicted uplift, for charts."""
    return {"share": SHARES.tolist(), "profit": _in_sample_profits(_descending(uplift), value, t, cost).tolist()}


def _estimate(parts: list[tuple[float, float, float]], reason: str) -> Estimate:
    """Sum (estimate, se, degrees of freedom) parts; the quantile uses the smallest degrees of freedom."""
    estimate = float(sum(e for e, _, _ in parts))
    se = float(np.sqrt(sum(s * s for _, s, _ in parts)))
    return Estimate.of(estimate, se, uplift_clusters.quantile(min(d for _, _, d in parts)), reason)


def decide_targeting(
    scores: dict[str, np.ndarray],
    value: np.ndarray,
    t: np.ndarray,
    cost: float,
    budget: int | None,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> Decision:
    """Return the targeting decision with intervals measured on rows not used to choose.

    `scores`: out-of-fold uplift predictions per learner; the learner and the share are chosen together on one
    half (stratified by arm; whole clusters with `clusters`) and evaluated on the other, then the halves swap.
    Profit of a group = (treated − control mean value in it − cost) × its people; "beats no one" is the
    targeted group's profit, "beats everyone" minus the untargeted group's profit; both summed over halves,
    intervals 95% (normal, or t with the clusters' degrees of freedom; CR2 errors with clusters)."""
    n = len(t)
    rng = np.random.default_rng(seed)
    half = uplift_clusters.halves(clusters, t, rng)
    fallback = float(value.var(ddof=1)) if n > 1 else 0.0
    cap = 1.0 if budget is None else min(1.0, budget / n)
    allowed = np.less_equal(SHARES, cap + 1e-9)
    orders = {name: _descending(s) for name, s in scores.items()}  # one sort per learner; subsets keep its order

    def best_share(rows: np.ndarray | None) -> tuple[str, int]:
        def ranked(order: np.ndarray) -> np.ndarray:
            return order if rows is None else order[rows[order]]

        found = max(((name, i, profit) for name, order in orders.items()
                     for i, profit in enumerate(_in_sample_profits(ranked(order), value, t, cost)) if allowed[i]),
                    key=lambda c: c[2])  # fmt: skip
        return found[0], found[1]

    vs_none, vs_all, chosen, missing = [], [], [], []
    for choose, measure in ((half, ~half), (~half, half)):
        learner, index = best_share(choose)
        share = float(SHARES[index])
        chosen.append({"learner": learner, "share": share})
        ranked = orders[learner][measure[orders[learner]]]
        target = np.zeros(n, dtype=bool)
        target[ranked[: int(round(share * ranked.size))]] = True
        for mask, sink, sign, group in ((target, vs_none, 1.0, "targeted"), (measure & ~target, vs_all, -1.0,
                                                                              "untargeted")):  # fmt: skip
            if not mask.any():
                sink.append((0.0, 0.0, float("inf")))
                continue
            lift, se, dof = uplift_clusters.difference(
                value[mask], t[mask], None if clusters is None else clusters[mask], fallback
            )
            if not np.isfinite(se):
                missing.append(group)
            people = int(mask.sum())
            sink.append((sign * (lift - cost) * people, people * se, dof))
    why = "in a held-out half, the {} group has rows of one arm only" + (" or too few clusters" if clusters is
                                                                        not None else "")  # fmt: skip
    beats_none = _estimate(vs_none, why.format("targeted"))
    beats_all = _estimate(vs_all, why.format("untargeted"))
    lift, se, dof = uplift_clusters.difference(value, t, clusters, fallback)
    treat_all = Estimate.of((lift - cost) * n, se * n, uplift_clusters.quantile(dof),
                            "too few clusters" if clusters is not None else "an arm is empty")  # fmt: skip
    full = best_share(None)
    targeting = bool(
        beats_none.ci is not None and beats_all.ci is not None and beats_none.ci[0] > 0 and beats_all.ci[0] > 0
        and 0 < SHARES[full[1]] < 1
    )  # fmt: skip
    share = float(SHARES[full[1]]) if targeting else 0.0
    return Decision(
        target=targeting,
        fraction=share,
        people=int(round(share * n)),
        learner=full[0],
        beats_no_one=beats_none,
        beats_everyone=beats_all,
        treat_everyone=treat_all,
        treat_everyone_pays=bool(treat_all.ci is not None and treat_all.ci[0] > 0),
        chosen_on_halves=tuple(chosen),
        budget_limited=budget is not None and not allowed.all(),
        rule=(
            "share and learner chosen on one half, measured on the other, halves swapped"
            + (" (whole clusters)" if clusters is not None else "")
            + "; targeting only when the 95% lower bounds of both 'beats treating no one' and 'beats treating "
            "everyone' are above 0"
        ),
    )


def _groups(series: pd.Series) -> tuple[np.ndarray, list[str], str]:
    """Return (group code per row, −1 for missing; group names; how groups were made) for a heterogeneity test:
    median halves for numbers, categories (and integer columns with up to 10 values) for the rest."""
    sample = series.iloc[:2000].dropna()
    few = isinstance(series.dtype, pd.CategoricalDtype) or (sample.nunique() <= 10 and series.nunique() <= 10)
    if few:
        codes, names = pd.factorize(series, sort=True)
        return codes, [group_name(name) for name in names], "categories"
    values = series.to_numpy(dtype=float)
    median = float(np.nanmedian(values))
    codes = np.where(np.isnan(values), -1, (values > median).astype(int))
    return codes, ["at or below", "above"], f"median {median:.4g}"


def heterogeneity(
    features: pd.DataFrame, y: np.ndarray, t: np.ndarray, clusters: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Return per feature: does the measured effect differ between its groups? Cochran's Q test over groups
    with at least MIN_GROUP_ARM rows per arm (a chi-square with groups − 1 degrees of freedom), Holm-adjusted
    over the features tested; the groups' effects and sizes come with it. Counts, means and variances per
    group and arm come from one bincount each, so 500,000 rows × 20 features take well under a second. With
    `clusters`, each group's effect has its CR2 error (a group needs 3 clusters or more)."""
    fallback = float(y.var(ddof=1))
    arm = t.astype(int)
    rows = []
    for number, column in enumerate(features.columns, 1):
        progress.report(f"testing column {number} of {len(features.columns)}")  # at most every EVERY_SECONDS
        codes, names, split = _groups(features[column])
        keep = codes >= 0
        cells = codes[keep] * 2 + arm[keep]
        size = 2 * len(names)
        count = np.bincount(cells, minlength=size).reshape(-1, 2)
        total = np.bincount(cells, weights=y[keep], minlength=size).reshape(-1, 2)
        squares = np.bincount(cells, weights=y[keep] ** 2, minlength=size).reshape(-1, 2)
        usable = (count >= MIN_GROUP_ARM).all(axis=1)
        if usable.sum() < 2:
            continue
        n, mean = count[usable], total[usable] / count[usable]
        variance = np.maximum(squares[usable] - n * mean**2, 0.0) / np.maximum(n - 1, 1)
        variance = np.where(n > 1, variance, fallback)
        effects = mean[:, 1] - mean[:, 0]
        se = np.sqrt(variance[:, 1] / n[:, 1] + variance[:, 0] / n[:, 0])
        if clusters is not None:
            for i, code in enumerate(np.flatnonzero(usable)):
                rows_in = codes == code
                se[i] = uplift_clusters.difference(y[rows_in], t[rows_in], clusters[rows_in], fallback)[1]
            finite = np.isfinite(se)
            if finite.sum() < 2:
                continue
            n, effects, se = n[finite], effects[finite], se[finite]
            usable[np.flatnonzero(usable)[~finite]] = False
        weights = 1 / np.maximum(se, 1e-12) ** 2
        pooled = float((weights * effects).sum() / weights.sum())
        q = float((weights * (effects - pooled) ** 2).sum())
        groups = [{"group": name, "effect": float(e), "se": float(v), "rows": int(c.sum())}
                  for name, e, v, c in zip(np.array(names)[usable], effects, se, n, strict=True)]  # fmt: skip
        rows.append({"name": str(column), "split": split, "q": q, "p_value": float(stats.chi2.sf(q, len(groups) - 1)),
                     "groups": groups})  # fmt: skip
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_value_adjusted"] = adjusted
    return rows


def balance_tests(features: pd.DataFrame, t: np.ndarray, clusters: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Return per feature the largest |standardised mean difference| between arms and a test's p-value
    (Welch's statistic with a normal tail for numbers, chi-square for categories), Holm-adjusted; `flagged`
    needs both adjusted p < 0.05 and SMD above 0.1. Largest SMD first. With `clusters`, the p-value is the
    CR2 t-test of the arms' difference (for categories: the smallest over the categories, Bonferroni)."""
    rows = []
    for column in features.columns:
        series = features[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            dummies = pd.get_dummies(series).to_numpy(dtype=float)
            table = pd.crosstab(series.astype(str), t).to_numpy()
            table = table[table.sum(axis=1) > 0]
            p = float(stats.chi2_contingency(table)[1]) if table.shape[0] > 1 and table.shape[1] == 2 else 1.0
            a, b = dummies[t == 1], dummies[t == 0]
            pooled = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2)
            smd = np.divide(a.mean(axis=0) - b.mean(axis=0), pooled, out=np.zeros(pooled.shape), where=pooled > 0)
        else:  # SMD and Welch's t from one mean and variance per arm (missing values left out)
            values = series.to_numpy(dtype=float)
            keep = np.isfinite(values)
            a, b = values[keep & (t == 1)], values[keep & (t == 0)]
            if a.size < 2 or b.size < 2:
                smd, p = np.zeros(1), 1.0
            else:
                mean_a, mean_b, var_a, var_b = a.mean(), b.mean(), a.var(ddof=1), b.var(ddof=1)
                pooled = np.sqrt((var_a + var_b) / 2)
                smd = np.array([(mean_a - mean_b) / pooled if pooled > 0 else 0.0])
                se = np.sqrt(var_a / a.size + var_b / b.size)
                p = float(2 * stats.norm.sf(abs(mean_a - mean_b) / se)) if se > 0 else 1.0
        if clusters is not None:
            p = _clustered_balance(series, t, clusters)
        rows.append({"name": str(column), "smd": round(float(np.abs(smd).max()), 4),
                     "p_value": p if np.isfinite(p) else 1.0})  # fmt: skip
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_value_adjusted"] = adjusted
        row["flagged"] = bool(adjusted < ALPHA and row["smd"] > SMD_GATE)
    return sorted(rows, key=lambda r: -r["smd"])


def _clustered_balance(series: pd.Series, t: np.ndarray, clusters: np.ndarray) -> float:
    if isinstance(series.dtype, pd.CategoricalDtype):
        columns = pd.get_dummies(series).to_numpy(dtype=float).T
        keep = np.ones(t.size, dtype=bool)
    else:
        values = series.to_numpy(dtype=float)
        keep = np.isfinite(values)
        columns = values[keep][None, :]
    p_values = []
    for values in columns:
        estimate, se, dof = uplift_clusters.difference(values, t[keep], clusters[keep], 0.0)
        if np.isfinite(se) and se > 0:
            p_values.append(float(2 * stats.t.sf(abs(estimate) / se, max(dof, 1.0))))
    return min(1.0, min(p_values) * len(p_values)) if p_values else 1.0
