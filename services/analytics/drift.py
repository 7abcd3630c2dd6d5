"""Data drift between a reference and a current table: per-column tests, adversarial validation, a verdict.

Per column, by its kind (services/analytics/columns.py: integer codes are categories, numbers stored as
text are numbers, identifiers and free text are reported and left untested): numeric → two-sample
Kolmogorov–Smirnov, Wasserstein distance over the reference standard deviation (population sd), PSI on
reference-decile bins, mean shift in reference sds;
categorical and boolean → chi-square test of homogeneity on the two samples' counts, Jensen–Shannon
distance (natural log), PSI per category. Every column: the change in missing share, and categories the
reference never had. p-values are adjusted across columns (Benjamini–Hochberg by default, or Bonferroni).
A column drifts when its adjusted test is significant **and** its effect size passes the threshold
(normalised Wasserstein 0.1 for numeric, Jensen–Shannon 0.05 for categorical), or when its missing share
(two-proportion test) or its new categories (binomial test) move significantly, in the same adjustment.
PSI is reported, not gating.
Adversarial validation trains scikit-learn's HistGradientBoostingClassifier to tell the tables apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from services.analytics.columns import infer_kind, kind_notes, read_as
from services.analytics.errors import AnalyticsError
from services.analytics.tables import require_column
from services.analytics.wording import short
from services.quoting import quote

PSI_BINS = 10
PSI_EPSILON = 1e-4  # share given to an empty bin so PSI stays finite


@dataclass(frozen=True)
class DriftOptions:
    """What the analysis may change: kind overrides, thresholds, multiple-testing method, sampling."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    target: str | None = None
    alpha: float = 0.05
    effect_threshold: float = 0.1
    categorical_effect_threshold: float = 0.05  # Jensen–Shannon distance: a 10-point share shift is about 0.076
    missing_threshold: float = 0.03
    correction: str = "bh"
    max_rows: int = 200_000
    adversarial_rows: int = 40_000
    folds: int = 3  # adversarial validation: 3 folds train on 2/3 each, 40% of the work of 5 (chat speed)
    seed: int = 0
    tests_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


MIN_ROWS = 10
ADVERSARIAL_AUC_GATE = 0.55  # adversarial validation's effect-size gate, beside its interval


def psi_reading(value: float) -> str:
    """Return the usual reading of a PSI value."""
    return "small" if value < 0.1 else "moderate" if value <= 0.25 else "large"


def psi(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    """Return Σ (current − reference) · ln(current / reference) over bins, empty bins floored at PSI_EPSILON."""
    r = np.maximum(reference_share, PSI_EPSILON)
    c = np.maximum(current_share, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_and_wasserstein(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
    """Return (KS statistic, KS asymptotic two-sided p-value, Wasserstein-1 distance) from one merged sort.

    Our own code, not scipy's ks_2samp and wasserstein_distance, because those sort both samples again for
    each statistic (five sorts per column); both statistics come from the same two empirical CDFs, evaluated
    at every observed value. Equal to scipy's results (tested); the p-value is scipy's `kstwo` distribution
    at n = n1·n2/(n1 + n2), as ks_2samp's 'asymp' method.
    """
    r, c = np.sort(ref), np.sort(cur)
    points = np.sort(np.concatenate([r, c]))
    r_cdf = np.searchsorted(r, points, side="right") / r.size
    c_cdf = np.searchsorted(c, points, side="right") / c.size
    gap = np.abs(r_cdf - c_cdf)
    statistic = float(gap.max())
    wasserstein = float(np.sum(gap[:-1] * np.diff(points)))
    p_value = float(stats.kstwo.sf(statistic, np.round(r.size * c.size / (r.size + c.size))))
    return statistic, min(max(p_value, 0.0), 1.0), wasserstein


def _numeric_tests(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    sd = float(ref.std())
    if ref.size * cur.size < 10_000:  # small samples: scipy's exact test
        ks = stats.ks_2samp(ref, cur, method="exact")
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
        wasserstein = float(stats.wasserstein_distance(ref, cur))
    else:
        statistic, p_value, wasserstein = ks_and_wasserstein(ref, cur)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, PSI_BINS + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    r_share = np.histogram(ref, edges)[0] / len(ref)
    c_share = np.histogram(cur, edges)[0] / len(cur)
    return {
        "ks_statistic": statistic,
        "p_value": p_value,
        "test": "Kolmogorov–Smirnov",
        "wasserstein": wasserstein,
        "wasserstein_normalized": wasserstein / sd if sd > 0 else (0.0 if wasserstein == 0 else math.inf),
        "psi": psi(r_share, c_share),
        "mean_shift_sd": float((cur.mean() - ref.mean()) / sd) if sd > 0 else 0.0,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
        "effect": "wasserstein_normalized",
    }


def _categorical_tests(ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    r_counts, c_counts = ref.astype(str).value_counts(), cur.astype(str).value_counts()
    categories = sorted(set(r_counts.index) | set(c_counts.index))
    r = r_counts.reindex(categories, fill_value=0).to_numpy(dtype=float)
    c = c_counts.reindex(categories, fill_value=0).to_numpy(dtype=float)
    if len(categories) > 1:
        chi2, p_value, dof, _ = stats.chi2_contingency(np.vstack([r, c]))
    else:
        chi2, p_value, dof = 0.0, 1.0, 0
    r_share, c_share = r / r.sum(), c / c.sum()
    moved = sorted(zip(categories, r_share, c_share, strict=True), key=lambda x: -abs(x[2] - x[1]))[:5]
    return {
        "chi2": float(chi2),
        "dof": int(dof),
        "p_value": float(p_value),
        "test": "chi-square test of homogeneity",
        "jensen_shannon": float(jensenshannon(r_share, c_share)),
        "psi": psi(r_share, c_share),
        "top_changes": [{"category": k, "reference_share": float(a), "current_share": float(b)} for k, a, b in moved],
        "new_categories": [k for k in categories if r_counts.get(k, 0) == 0],
        "new_category_share": float(sum(b for k, a, b in zip(categories, r_share, c_share, strict=True) if a == 0)),
        "new_category_p_value": _new_category_p(r, c),
        "effect": "jensen_shannon",
    }


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Return the two-sided p-value of a pooled two-proportion z-test (1.0 when both shares are 0 or 1)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) if n1 and n2 else 0.0
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(k1 / n1 - k2 / n2) / se))


def _new_category_p(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Return the one-sided p-value that more categories appear only in the current table than chance allows.

    Under no drift, a category seen in only one of the two tables (a rare value) is in the current one with a
    probability of about its share of the rows, so the count of current-only categories among all one-sided
    ones is binomial. Counting categories rather than rows keeps a high-cardinality column (names, free text),
    whose many rare values are new in every sample, from looking like drift; a single large new category moves
    the column's own test instead."""
    n_ref, n_cur = float(reference_counts.sum()), float(current_counts.sum())
    only_current = int(((reference_counts == 0) & (current_counts > 0)).sum())
    only_reference = int(((current_counts == 0) & (reference_counts > 0)).sum())
    if not only_current or not n_ref or not n_cur:
        return 1.0
    return float(stats.binom.sf(only_current - 1, only_current + only_reference, n_cur / (n_ref + n_cur)))


def adjust(p_values: list[float], method: str) -> list[float]:
    """Return p-values adjusted across columns: Benjamini–Hochberg ('bh', scipy) or Bonferroni."""
    if not p_values:
        return []
    if method == "bonferroni":
        return [min(1.0, p * len(p_values)) for p in p_values]
    return [float(p) for p in stats.false_discovery_control(p_values, method="bh")]


def _sample(table: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    return table.sample(n=limit, random_state=seed) if len(table) > limit else table


def analyse(reference: pd.DataFrame, current: pd.DataFrame, options: DriftOptions | None = None) -> dict[str, Any]:
    """Return the drift analysis of `current` against `reference` as plain data (see the module docstring)."""
    options = options or DriftOptions()
    if reference.empty or current.empty:
        raise AnalyticsError(f"The {'reference' if reference.empty else 'current'} table has no rows.")
    for name in (*options.categorical, *options.numeric, *options.ignore):
        require_column(reference, name, "an option")
    common = [c for c in reference.columns if c in set(current.columns) and c not in options.ignore]
    if not common:
        left = ", ".join(quote(str(c), 40) for c in reference.columns[:8])
        right = ", ".join(quote(str(c), 40) for c in current.columns[:8])
        raise AnalyticsError(
            f"The two tables have no column in common (reference: {left}; current: {right}): "
            "send two extracts of the same dataset."
        )
    for role, table in (("reference", reference), ("current", current)):
        if len(table) < MIN_ROWS:  # the tests and the 5-fold classifier need a few rows on each side
            raise AnalyticsError(
                f"Drift needs at least {MIN_ROWS} rows in each table; the {role} table has {len(table)}: "
                "send larger extracts."
            )
    rows = {"reference": len(reference), "current": len(current)}
    ref = _sample(reference[common], options.max_rows, options.seed)
    cur = _sample(current[common], options.max_rows, options.seed)
    sampled = len(ref) < rows["reference"] or len(cur) < rows["current"]
    columns, tested, kinds = [], [], {}
    for name in common:
        both = pd.concat(  # kinds from a seeded random sample: sorted files make the first rows unrepresentative
            [ref[name].sample(min(5_000, len(ref)), random_state=options.seed),
             cur[name].sample(min(5_000, len(cur)), random_state=options.seed)], ignore_index=True,
        )  # fmt: skip
        kind_of = infer_kind(both, str(name), options.categorical, options.numeric)
        kind, kinds[str(name)] = kind_of.kind, kind_of
        ref, cur = _read_as(ref, cur, name, kind)
        r_missing, c_missing = float(ref[name].isna().mean()), float(cur[name].isna().mean())
        column: dict[str, Any] = {
            "name": str(name), "kind": kind, "kind_detail": kind_of.detail,
            "missing_share": {"reference": r_missing, "current": c_missing},
            "new_categories": [], "drifted": False, "reason": "",
        }  # fmt: skip
        r_values, c_values = ref[name].dropna(), cur[name].dropna()
        column["missing_p_value"] = _two_proportion_p(
            ref[name].isna().sum(), len(ref), cur[name].isna().sum(), len(cur)
        )
        if kind in ("datetime", "identifier"):
            column["reason"] = f"not tested: {kind} columns describe when or which rows, not what they contain"
        elif r_values.empty or c_values.empty:
            column["reason"] = "not tested: no values on one side"
        elif kind == "numeric":
            column |= _numeric_tests(r_values.to_numpy(dtype=float), c_values.to_numpy(dtype=float))
            tested.append(column)
        else:
            column |= _categorical_tests(r_values, c_values)
            tested.append(column)
        columns.append(column)
    # One multiplicity adjustment for every decision: the per-column tests, the missing-share tests and the
    # new-category tests together, so that more rules do not mean more false alarms.
    decisions = [(c, "p_value") for c in tested] + [(c, "missing_p_value") for c in columns]
    decisions += [(c, "new_category_p_value") for c in tested if "new_category_p_value" in c]
    for (column, key), adjusted in zip(decisions, adjust([c[key] for c, key in decisions], options.correction),
                                       strict=True):  # fmt: skip
        column[f"{key}_adjusted"] = adjusted
    for column in columns:
        _verdict(column, options, len(cur))
    drifted = [c for c in columns if c["drifted"]]
    features = [c["name"] for c in tested if c["name"] != options.target]
    result: dict[str, Any] = {
        "rows": {**rows, "sampled": sampled, "reference_used": len(ref), "current_used": len(cur)},
        "dataset_drift": bool(drifted),
        "drift_share": len(drifted) / max(len(tested), 1),
        "columns": sorted(columns, key=lambda c: (not c["drifted"], -_effect(c))),
        "rules": {
            "alpha": options.alpha,
            "correction": "Benjamini–Hochberg" if options.correction == "bh" else "Bonferroni",
            "effect_threshold": options.effect_threshold,
            "categorical_effect_threshold": options.categorical_effect_threshold,
            "missing_threshold": options.missing_threshold,
            "psi": f"{PSI_BINS} bins at reference quantiles (deciles) for numeric columns, one per category "
            f"otherwise; empty bins count as {PSI_EPSILON}; < 0.1 small, 0.1–0.25 moderate, > 0.25 large",
            "gate": "drifted = adjusted p < alpha and effect ≥ threshold (normalised Wasserstein for numeric, "
            "Jensen–Shannon distance for categorical), or a missing-share change (two-proportion test) or new "
            "categories (binomial test against the Good–Turing unseen share) that is significant after the same "
            "adjustment and above the missing threshold; PSI does not gate",
        },  # fmt: skip
        "adversarial": None
        if options.tests_only or not features
        else adversarial(ref, cur, features, options, {n for n, k in kinds.items() if k.kind == "categorical"}),
        "kind_notes": kind_notes(kinds),
    }
    result["summary"] = summarise(result)
    return result


def _read_as(ref: pd.DataFrame, cur: pd.DataFrame, name: Any, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return both tables with column `name` read for its kind (columns.read_as); the tables themselves when
    it needs no conversion (no copy)."""
    converted = read_as(ref[name], kind)
    if converted is ref[name]:
        return ref, cur
    return ref.assign(**{str(name): converted}), cur.assign(**{str(name): read_as(cur[name], kind)})


def _effect(column: dict[str, Any]) -> float:
    value = column.get(column.get("effect", ""), 0.0)
    return float(value) if value is not None and math.isfinite(value) else 1e9


def _verdict(column: dict[str, Any], options: DriftOptions, current_rows: int) -> None:
    reasons = []
    missing = column["missing_share"]["current"] - column["missing_share"]["reference"]
    if abs(missing) > options.missing_threshold and column.get("missing_p_value_adjusted", 1.0) < options.alpha:
        reasons.append(f"missing {'rose' if missing > 0 else 'fell'} from {column['missing_share']['reference']:.1%} "
                       f"to {column['missing_share']['current']:.1%}")  # fmt: skip
    new = column.get("new_categories", [])
    # New categories are a finding when more of them appear than chance allows, or when they are what moved the
    # column's own (significant, large) test: one large new category.
    moved = "p_value_adjusted" in column and column["p_value_adjusted"] < options.alpha and column.get(
        column.get("effect", ""), 0.0) >= options.categorical_effect_threshold  # fmt: skip
    new_significant = column.get("new_category_p_value_adjusted", 1.0) < options.alpha or moved
    if new and column["new_category_share"] > options.missing_threshold and new_significant:
        names = ", ".join(f"'{short(n, 30)}'" for n in new[:5])
        reasons.append(f"new categories {names} hold {column['new_category_share']:.1%} of current rows")
    if "p_value_adjusted" in column:
        effect_name = column["effect"]
        effect = column[effect_name]
        threshold = options.effect_threshold if effect_name == "wasserstein_normalized" else (
            options.categorical_effect_threshold)  # fmt: skip
        significant = column["p_value_adjusted"] < options.alpha
        large = effect >= threshold
        label = "normalised Wasserstein" if effect_name == "wasserstein_normalized" else "Jensen–Shannon distance"
        if significant and large:
            reasons.append(f"{column['test']} significant (adjusted p {column['p_value_adjusted']:.2g}) and "
                           f"{label} {effect:.3f} ≥ {threshold}")  # fmt: skip
            if column["psi"] < 0.1:
                column["note"] = (
                    f"'{short(column['name'], 40)}': the {column['test']} and the {label} agree on drift while PSI is "
                    f"{column['psi']:.3f} (small): PSI compares shares in ten wide bins, which a steady shift of "
                    "the whole distribution barely moves, so PSI alone would miss it."
                )
        elif significant:
            column["note"] = (
                f"'{short(column['name'], 40)}': the {column['test']} is significant (adjusted p "
                f"{column['p_value_adjusted']:.2g}) but the {label} is only {effect:.3f}, under "
                f"{threshold}: with this many rows the test detects a shift too small to matter "
                f"(PSI {column['psi']:.3f}, {psi_reading(column['psi'])})."
            )
        elif column["psi"] >= 0.1:
            column["note"] = (
                f"'{short(column['name'], 40)}': PSI {column['psi']:.3f} ({psi_reading(column['psi'])}) but the test "
                "is not significant: the sample is too small to be sure."
            )
    column["drifted"] = bool(reasons)
    column["reason"] = "; ".join(reasons) if reasons else column["reason"] or "no drift"


def _hanley_mcneil(auc: float, positives: int, negatives: int, folds: int = 0) -> list[float]:
    """Return the 95% interval of an out-of-fold ROC AUC: Hanley–McNeil's standard error, widened for
    cross-validation by Nadeau and Bengio's factor √(1 + K/(K − 1)) for K folds (their correction for training
    sets that overlap, 2003). Without it the interval was too narrow: on same-distribution tables of 100 rows
    per side the out-of-fold AUC varied with sd 0.053 against Hanley–McNeil's 0.041, and 7% of 400 noise
    pairs were called separable. `folds` 0 or 1: no widening."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2))
                   / (positives * negatives))  # fmt: skip
    if folds > 1:
        se *= math.sqrt(1 + folds / (folds - 1))
    return [max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)]


def adversarial(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    features: list[str],
    options: DriftOptions,
    categorical: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """Train a classifier to tell current rows (1) from reference rows (0): k-fold out-of-fold ROC AUC with a
    95% interval (Hanley–McNeil, widened for cross-validation: see _hanley_mcneil), and permutation
    importances on at most 2,000 held-out rows of the first fold.
    Text columns and those in `categorical` are categories (the 50 most frequent values, the rest 'other')."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # only here: `--tests-only` never pays for it
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    ref = _sample(ref[features], options.adversarial_rows, options.seed)
    cur = _sample(cur[features], options.adversarial_rows, options.seed)
    both = pd.concat([ref, cur], ignore_index=True)
    # One float matrix, categories as integer codes: HistGradientBoosting predicts on it several times faster
    # than on a DataFrame with category dtypes, and permutation importances predict 31 times per fold.
    x = np.empty((len(both), len(features)))
    is_category = np.zeros(len(features), dtype=bool)
    for j, name in enumerate(features):
        column = both[name]
        if name in categorical or not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            text = column.astype(str)
            top = text.value_counts().index[:50]
            x[:, j] = pd.Categorical(text.where(text.isin(top), "other")).codes
            is_category[j] = True
        else:
            x[:, j] = column.to_numpy(dtype=float, na_value=np.nan)
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    predictions = np.zeros(len(y))
    importances = np.zeros(len(features))
    splitter = StratifiedKFold(options.folds, shuffle=True, random_state=options.seed)
    for fold, (train, test) in enumerate(splitter.split(x, y)):
        model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=31, categorical_features=is_category,
                                               random_state=options.seed)  # fmt: skip
        model.fit(x[train], y[train])
        predictions[test] = model.predict_proba(x[test])[:, 1]
        if fold == 0:  # importances from one held-out fold, on at most 2,000 rows (enough to rank them)
            held = np.random.default_rng(options.seed).permutation(test)[:2000]
            importances = _permutation_importances(model, x[held], y[held], 3, options.seed)
    auc = float(roc_auc_score(y, predictions))
    ranked = sorted(zip(features, importances, strict=True), key=lambda f: -f[1])
    positive = sum(max(v, 0) for _, v in ranked) or 1.0
    suspects = []
    for name, value in ranked[:1]:
        if auc > 0.6 and value / positive > 0.8 and _looks_like_an_index(ref[name], cur[name]):
            suspects.append(name)
    interval = _hanley_mcneil(auc, int(y.sum()), int(len(y) - y.sum()), options.folds)
    return {
        "auc": auc,
        "auc_ci": interval,
        # A claim needs both: an interval clear of 0.5 and an AUC worth reporting (a large sample makes a
        # 0.51 significant; on noise the interval alone said "apart" in 6% of pairs at 5,000 rows).
        "separable": bool(interval[0] > 0.5 and auc >= ADVERSARIAL_AUC_GATE),
        "folds": options.folds,
        "rows": {"reference": len(ref), "current": len(cur)},
        "importances": [{"name": name, "importance": round(float(value), 5)} for name, value in ranked],
        "leakage_suspects": suspects,
    }


def _permutation_importances(model: Any, x: np.ndarray, y: np.ndarray, repeats: int, seed: int) -> np.ndarray:
    """Return per column the mean drop in ROC AUC when that column is shuffled (`repeats` shuffles each).

    The same quantity as scikit-learn's permutation_importance(scoring="roc_auc"), computed with one
    prediction per column over all its shuffles stacked, instead of one per shuffle: on chat-sized tables the
    cost of a HistGradientBoosting prediction is mostly per call, and this made the importances 3× faster."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, model.predict_proba(x)[:, 1])
    drops = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        shuffled = np.tile(x, (repeats, 1))
        shuffled[:, j] = np.concatenate([x[rng.permutation(len(x)), j] for _ in range(repeats)])
        scores = model.predict_proba(shuffled)[:, 1].reshape(repeats, len(x))
        drops[j] = base - np.mean([roc_auc_score(y, row) for row in scores])
    return drops


def _looks_like_an_index(ref: pd.Series, cur: pd.Series) -> bool:
    """True for a column whose values are nearly all distinct, or whose two ranges barely overlap: a row
    counter or a time index separates the tables by when they were collected, not by what they contain."""
    if not pd.api.types.is_numeric_dtype(ref) or pd.api.types.is_bool_dtype(ref):
        return False
    both = pd.concat([ref, cur]).dropna()
    nearly_unique = both.nunique() > 0.9 * len(both)
    inside = cur.between(ref.min(), ref.max()).mean()
    return bool(nearly_unique or inside < 0.05)


def _describe(column: dict[str, Any]) -> str:
    name = short(column["name"], 40)
    if column["kind"] == "numeric" and "mean_shift_sd" in column:
        shift = column["mean_shift_sd"]
        return f"'{name}' mean {'up' if shift >= 0 else 'down'} {abs(shift):.2f} sd"
    if column.get("top_changes"):
        change = column["top_changes"][0]
        return (f"'{name}': share of '{short(change['category'], 30)}' from {change['reference_share']:.0%} to "
                f"{change['current_share']:.0%}")  # fmt: skip
    return f"'{name}'"


def summarise(result: dict[str, Any]) -> list[str]:
    """Return the plain-language reading: the verdict, what moved and by how much, how sure we are."""
    drifted = [c for c in result["columns"] if c["drifted"]]
    tested = [c for c in result["columns"] if "p_value" in c or c["drifted"]]
    says = []
    if drifted:
        moved = "; ".join(_describe(c) if "significant" in c["reason"] else f"'{short(c['name'], 40)}' {c['reason']}"
                          for c in drifted[:5])  # fmt: skip
        says.append(f"Drift in {len(drifted)} of {len(tested)} tested columns: {moved}.")
    else:
        says.append(f"No drift: none of the {len(tested)} tested columns moved beyond the thresholds.")
    for column in drifted[:5]:
        extra = [part.strip() for part in column["reason"].split(";") if "significant" not in part]
        if extra and "significant" in column["reason"]:
            says.append(f"'{short(column['name'], 40)}' also: {'; '.join(extra)}.")
    adversarial_result = result.get("adversarial")
    if adversarial_result:
        auc, (low, high) = adversarial_result["auc"], adversarial_result["auc_ci"]
        top = ", ".join(f"'{short(i['name'], 40)}'" for i in adversarial_result["importances"][:3]
                        if i["importance"] > 0.005)  # fmt: skip
        if adversarial_result["separable"]:  # the wording follows the interval and the gate, not the estimate
            reading = "a model can tell the tables apart" + (f", mostly by {top}" if top else "")
        elif low > 0.5:
            reading = (f"a model tells the tables apart only barely (AUC under {ADVERSARIAL_AUC_GATE}): no practical "
                       "difference")  # fmt: skip
        else:
            reading = "no evidence that a model can tell the tables apart (the interval includes 0.5)"
        says.append(f"Adversarial validation: ROC AUC {auc:.3f} (95% CI {low:.3f}–{high:.3f}): {reading}.")
        for name in adversarial_result["leakage_suspects"]:
            says.append(f"'{short(name, 40)}' alone separates the tables and looks like an id, a timestamp or a "
                        "row counter: likely leakage of when rows were collected, not drift in what they "
                        "contain.")  # fmt: skip
    notes = [c["note"] for c in result["columns"] if c.get("note")]
    says += notes[:3] + result.get("kind_notes", [])
    if result["rows"]["sampled"]:
        says.append(f"Sampled uniformly (seed fixed) to {result['rows']['reference_used']:,} reference and "
                    f"{result['rows']['current_used']:,} current rows.")  # fmt: skip
    return says
