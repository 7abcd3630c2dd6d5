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
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import GroupKFold, KFold

from services.analytics import uplift_clusters
from services.analytics import uplift_wording as wording
from services.analytics.columns import ColumnKind, infer_kind, kind_notes, read_as
from services.analytics.errors import AnalyticsError
from services.analytics.tables import require_column
from services.analytics.uplift_decision import (
    DRIVER_ALPHA,
    balance_tests,
    decide_targeting,
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
from services.analytics.uplift_types import (
    Balance,
    BalanceCheck,
    Clustering,
    Decile,
    Driver,
    DriverGroup,
    Estimate,
    Rows,
    UpliftResult,
)
from services.analytics.wording import short
from services.quoting import quote

# "1" is not here: it reads as treated only against "0" (a control name); survival::veteran codes its arms 1
# (standard chemotherapy) and 2 (the test drug), so a number pair other than 0/1 is neutral and the analysis asks.
TREATED_NAMES = {"true", "yes", "y", "t", "treatment", "treated", "test", "called", "contacted"}
# Arm labels that read as the control arm (survival::colon's "Obs", MASS::epil's "placebo", "No E-Mail"): with one
# of them, the other arm is the treated one. Neither recognisable: the analysis asks (treated=<label>) rather
# than guess, since a wrong guess reverses every sign on the card.
CONTROL_NAMES = {"0", "0.0", "false", "f", "n", "no", "none", "control", "controls", "ctrl", "placebo", "sham",
                 "obs", "observation", "observed", "old", "baseline", "standard", "usual", "usual care",
                 "standard care", "untreated", "not treated", "holdout", "status quo", "current",
                 "regular", "reg", "normal", "default"}  # fmt: skip
CONTROL_FIRST_WORDS = {"no", "non", "not", "without", "control", "placebo", "standard", "usual", "baseline", "old"}
MAX_TRAIN_ROWS = 100_000  # per model fit: beyond this, a uniform sample trains (stated in the output)
MIN_ARM = 50  # below this many rows in an arm, the answer warns that every estimate is very uncertain
MIN_FIT_ARM = 10  # fitting learners needs this many rows per arm; given scores need only non-empty arms
K_SHARES = (0.1, 0.2, 0.3, 0.5)


# Text outcome values that name the success, so "good"/"poor" counts "good" (sorting would pick "poor"); a
# leading code such as medicaldata's "1_yes" is read as its word.
SUCCESS_NAMES = {"1", "1.0", "true", "yes", "y", "t", "good", "success", "successful", "succeeded", "positive",
                 "improved", "pass", "passed", "won", "win", "converted", "responded", "paid", "bought"}  # fmt: skip


# Of those, the neutral ones (1, yes, true): the value counted is then an assumption the card states, since
# 'died' = 'yes' or 'status' = 1 (survival::colon: death) is the bad outcome; better=lower says so.
NEUTRAL_SUCCESS = {"1", "1.0", "true", "yes", "y", "t"}
BETTER = ("higher", "lower")


def _word(value: object) -> str:
    return re.sub(r"^\d+[_.:\s-]+", "", str(value).strip()).lower()


def _binary(series: pd.Series, column: str, role: str, wanted: str | None = None) -> tuple[np.ndarray, str, str]:
    """Return (1.0 where the row has the chosen value, the chosen value, the other value) of a two-valued column:
    the outcome's success (`wanted` when given; else the one value named like a success; else the larger in
    sorted order). The treatment's arms are `_arms`'."""
    values = series.dropna().unique()
    if len(values) != 2:
        raise AnalyticsError(
            f"The {role} column '{quote(column, 40)}' must have exactly two values, it has {len(values)}: "
            f"{_shown(values)}."
        )
    if wanted is not None:
        found = _given_label(wanted, [str(_label(v)).strip() for v in values])
        chosen = None if found is None else values[found]
        if chosen is None:
            shown = " and ".join(f"'{short(str(v), 30)}'" for v in sorted(values, key=str))
            raise AnalyticsError(f"success='{short(wanted, 30)}' is not a value of '{quote(column, 40)}': its values "
                                 f"are {shown}.")  # fmt: skip
    else:
        named = [v for v in values if _word(v) in SUCCESS_NAMES]
        chosen = named[0] if len(named) == 1 else sorted(values, key=str)[-1]
    other = next(v for v in values if v != chosen)
    return (series == chosen).to_numpy(dtype=float), str(chosen), str(other)


def _shown(values: Any, limit: int = 6) -> str:
    """Up to `limit` values quoted as written, a blank one shown as blank (not stripped away)."""
    labels = sorted((str(_label(v)) for v in values), key=lambda v: (v.strip() == "", v))
    shown = ", ".join("(blank)" if not v.strip() else f"'{short(v, 30)}'" for v in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _as_number(text: str) -> float | None:
    word = text.strip().lower()
    if word in ("true", "false"):
        return float(word == "true")
    try:
        number = float(word)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _given_label(given: str, names: list[str]) -> int | None:
    """Return the index of the label `given` names (treated=, success=): as written, else the one label equal
    ignoring case (`beta` for Beta), else the one equal as a number or truth value (1.0 or true for 1, 1 for
    True), as metrics' positive= reads labels; None when none or both match."""
    wanted = given.strip()
    if wanted in names:
        return names.index(wanted)
    for same in (lambda name: name.casefold() == wanted.casefold(),
                 lambda name: _as_number(name) is not None and _as_number(name) == _as_number(wanted)):  # fmt: skip
        matches = [i for i, name in enumerate(names) if same(name)]
        if len(matches) == 1:
            return matches[0]
    return None


def _control_like(value: object) -> bool:
    word = _word(_label(value))
    first = re.split(r"[\s_+/-]+", word, maxsplit=1)[0]
    return word in CONTROL_NAMES or (first in CONTROL_FIRST_WORDS and first != word)


def _arms(series: pd.Series, column: str, treated: str | None = None) -> tuple[np.ndarray, str, str, str]:
    """Return (1.0 for treated rows, the treated label, the control label, why that arm is the treated one): the
    label given as `treated`; else the other label when exactly one reads as a control (CONTROL_NAMES, or a
    first word such as "no"); else the one label named like a treatment (TREATED_NAMES). AnalyticsError otherwise,
    asking which, and for a `treated` that is not a label."""
    values = series.dropna().unique()
    if len(values) != 2:
        raise AnalyticsError(f"The treatment column '{quote(column, 40)}' must have exactly two values (treated and "
                             f"not), it has {len(values)}: {_shown(values)}."
                             + (" Compare two arms at a time: keep the rows of one treated arm and the control in "
                                "the file (e.g. filter the others out) and name the treated one with "
                                "treated=<value>." if len(values) > 2 else ""))  # fmt: skip
    names = [str(_label(v)).strip() for v in values]
    shown = " and ".join(f"'{short(name, 30)}'" for name in sorted(names))
    if treated is not None:
        given = _given_label(treated, names)
        if given is None:
            raise AnalyticsError(f"treated='{short(treated, 30)}' is not a value of '{quote(column, 40)}': its values "
                                 f"are {shown}.")  # fmt: skip
        chosen, why = given, "as you said (treated=)"
    else:
        controls = [i for i in (0, 1) if _control_like(values[i])]
        named = [i for i in (0, 1) if _word(names[i]) in TREATED_NAMES and i not in controls]
        if len(controls) == 1:
            chosen, why = 1 - controls[0], f"'{short(names[controls[0]], 30)}' reads as the control"
        elif len(named) == 1:
            chosen, why = named[0], f"'{short(names[named[0]], 30)}' reads as the treatment"
        else:
            raise AnalyticsError(
                f"Which value of '{quote(column, 40)}' is the treated arm, {shown.replace(' and ', ' or ')}? Name it "
                f"as treated=<value> (e.g. treated={quote(sorted(names)[0], 30)}); the other is the control."
            )
    return (series == values[chosen]).to_numpy(dtype=float), names[chosen], names[1 - chosen], why


def _features(
    table: pd.DataFrame,
    exclude: set[str],
    required: bool = True,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
    codes: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    """Return the model features (numbers as floats, categories with their 30 most frequent values and 'other')
    and every column's kind (services/analytics/columns.py); identifiers and dates are left out. `codes`:
    cluster-like ids (a school number) read as categories unless `numeric` names them."""
    kept, kinds = {}, {}
    for column in table.columns:
        if column in exclude:
            continue
        series = table[column]
        sample = series.sample(min(5_000, len(series)), random_state=0)  # sorted files: first rows unrepresentative
        kind = infer_kind(sample, str(column), categorical, numeric)
        if str(column) in codes and kind.kind == "numeric" and str(column) not in numeric:
            kind = ColumnKind("categorical", "a cluster-like id")
        kinds[str(column)] = kind
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


def average_effect(y: np.ndarray, t: np.ndarray, clusters: np.ndarray | None = None) -> Estimate:
    """Return the difference in mean outcome (treated − control) with its 95% interval: Welch-type (HC2) error
    and a normal quantile for independent rows, CR2 and a t quantile with G − 2 degrees of freedom with
    `clusters` (services/analytics/uplift_clusters.py)."""
    fallback = float(y.var(ddof=1)) if y.size > 1 else 0.0
    estimate, se, dof = uplift_clusters.difference(y, t, clusters, fallback)
    return Estimate.of(estimate, se, uplift_clusters.quantile(dof), "fewer than 3 clusters, or one holds a whole arm")


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
    features: pd.DataFrame,
    y: np.ndarray,
    t: np.ndarray,
    binary: bool,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return out-of-fold uplift predictions of the S-learner and the T-learner (3 folds, 2 above 100k rows:
    3 rather than 5 keeps a 10,000-row analysis under 1.5 s in chat, 9 model fits instead of 15). With
    `clusters`, folds hold whole clusters (scikit-learn's GroupKFold), so no cluster is on both sides."""
    folds = 2 if len(y) > 100_000 else 3
    rng = np.random.default_rng(seed)
    s_learner, t_learner = np.zeros(len(y)), np.zeros(len(y))
    with_t = features.assign(_treatment=t)
    if clusters is None:
        splits = KFold(folds, shuffle=True, random_state=seed).split(features)
    else:
        folds = min(folds, len(np.unique(clusters)))
        splits = GroupKFold(folds, shuffle=True, random_state=seed).split(features, groups=clusters)
    for train, test in splits:
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
    clusters: np.ndarray | None = None,
    sign: float = 1.0,
) -> tuple[Driver, ...]:
    """Return the features whose groups show different measured effects (Holm-adjusted heterogeneity test at
    2.5%, see uplift_decision; cluster-robust with `clusters`), strongest first, each with its weight: the
    permutation importance of a surrogate model of the predicted uplift, as a share of the named drivers'
    total (equal shares if the surrogate gives none). Empty when no feature passes: then no driver is named.
    Effects are in `y`'s units; `sign` -1 (lower is better) puts the most negative effect first."""
    tested = [r for r in heterogeneity(features, y, t, clusters) if r["p_value_adjusted"] < DRIVER_ALPHA]
    if not tested:
        return ()
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
        groups = tuple(DriverGroup(**g) for g in sorted(row["groups"], key=lambda g: -sign * g["effect"]))
        result.append(Driver(
            name=row["name"], weight=round(weights[row["name"]] / total, 3),
            p_value_adjusted=row["p_value_adjusted"], split=row["split"], groups=groups,
            direction=wording.direction(row["name"], row["split"], groups[0], groups[-1], binary),
        ))  # fmt: skip
    return tuple(sorted(result, key=lambda d: -d.weight))


def _value(table: pd.DataFrame, y: np.ndarray, revenue: str | None, binary: bool) -> np.ndarray | None:
    if revenue:
        amounts = pd.to_numeric(require_column(table, revenue, "revenue"), errors="coerce").fillna(0).to_numpy()
        return y * amounts if binary else amounts * (y != 0)
    return None if binary else y


def break_even(deciles: tuple[Decile, ...], cost: float) -> int:
    """Return the last decile of the leading run whose value uplift per person covers the cost (0 if none)."""
    last = 0
    for d in deciles:
        if (d.value_uplift_per_person or 0) < cost:
            break
        last = d.decile
    return last


# ---- input checks (scikit-learn's `_check_*` style: one clear sentence per problem) ----


def _check_columns(table: pd.DataFrame, names: dict[str, str | None], overrides: tuple[str, ...]) -> None:
    """Every named column exists (a close name suggested otherwise)."""
    for role, name in names.items():
        if name:
            require_column(table, name, role)
    for name in overrides:
        require_column(table, name, "an option")


def _check_rows(table: pd.DataFrame, treatment: str, outcome: str, score: str | None) -> pd.DataFrame:
    """Return the rows with a treatment, an outcome (and a numeric score); refuse a table with none."""
    keep = table[treatment].notna() & table[outcome].notna()
    if score:
        keep &= pd.to_numeric(table[score], errors="coerce").notna()
    kept = table.loc[keep].reset_index(drop=True)
    if kept.empty:
        raise AnalyticsError(f"Every row misses the treatment or the outcome{' or the score' if score else ''}.")
    return kept


def _check_outcome(series: pd.Series, outcome: str, success: str | None = None) -> tuple[np.ndarray, bool, str | None]:
    """Return (outcome as floats, whether it is 0/1, the value counted as a success when the outcome is text or
    `success` names one); a text outcome must have two values."""
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.isna().any() or success is not None:
        y, label, _ = _binary(series.map(_label) if success is not None else series, outcome, "outcome", success)
        return y, True, label
    y = numbers.to_numpy(dtype=float)
    return y, set(np.unique(y)) <= {0.0, 1.0}, None


def _label(value: object) -> object:
    """A value as text the way a person types it: 0/1 read as floats (a column with blanks) is '0'/'1'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _names(columns: list[str], limit: int = 5) -> str:
    shown = ", ".join(f"'{quote(c, 40)}'" for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _check_missing_in_an_arm(features: pd.DataFrame, t: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """Return the features without the columns empty in a whole arm (medicaldata::opt's `Tx.time` exists only for
    treated women), and their names. Such a column is post-treatment, and a model fitted on one arm alone cannot
    bin it (scikit-learn raises on an all-missing feature)."""
    empty = [c for c in features.columns if any(features[c][t == arm].isna().all() for arm in (0.0, 1.0))]
    return features.drop(columns=empty), empty


def _check_better(better: str | None, success: str | None, label: str | None, binary: bool) -> tuple[float, str]:
    """Return (+1 when a higher outcome is better, -1 when lower is, and where that came from: "given"
    (better=), "named" (success=, or a value named like a success: 'good', 'paid') or "assumed" (a number,
    or a neutral 1/yes/true counted: the card then says which way it assumed))."""
    if better is not None and better not in BETTER:
        raise AnalyticsError(f"better takes higher or lower, not '{short(better, 20)}'.")
    if better is not None:
        return (-1.0 if better == "lower" else 1.0), "given"
    named = binary and label is not None and (success is not None or _word(label) not in NEUTRAL_SUCCESS)
    return 1.0, "named" if named else "assumed"


def _check_cost(cost: float | None, binary: bool, revenue: str | None) -> None:
    if cost is not None and binary and not revenue:  # refused before any model runs
        raise AnalyticsError(
            "A cost needs a value per success: add revenue=<column> (e.g. the amount owed), "
            "or use a numeric outcome such as the amount paid."
        )
    if cost is not None and cost < 0:
        raise AnalyticsError("The cost per person treated cannot be negative.")


def _check_arms(t: np.ndarray, score: str | None) -> tuple[int, int]:
    """Return (treated, control) counts; refuse an (almost) empty arm."""
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    smallest = 1 if score else MIN_FIT_ARM
    if min(n_t, n_c) < smallest:
        raise AnalyticsError(
            f"One arm is {'empty' if min(n_t, n_c) == 0 else 'nearly empty'} ({n_t} treated, {n_c} control): "
            + ("uplift needs both arms." if score else f"fitting an uplift model needs at least {MIN_FIT_ARM} rows "
               "in each arm (with score=<column>, any experiment with both arms can be evaluated).")
        )  # fmt: skip
    return n_t, n_c


def _follow_arm(table: pd.DataFrame, t: np.ndarray, exclude: set[str]) -> list[tuple[str, int]]:
    """Return (name, distinct values) of the columns that change with the arm (uplift_clusters.follows_arm):
    a recoding of the arm ("group" A/B beside "trt") or text chosen per arm (a first name on a résumé). Such a
    column is no pre-treatment covariate: as a feature it makes the arms look unbalanced ("may not be
    randomized") and the T-learner predicts each arm on values it never saw."""
    found = []
    for column in table.columns:
        if column in exclude:
            continue
        series = table[column]
        distinct = series.nunique(dropna=True)
        text = not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        # numbers with many values that follow the arm are left alone: in a cluster-randomised trial every
        # measure of the cluster (a patient's baseline count, a school's size) sits in one arm too
        if not (distinct <= 4 or (text and not uplift_clusters.unit_like(series, str(column)))):
            continue
        if distinct <= len(series) / 2 and uplift_clusters.follows_arm(series, t):
            found.append((str(column), int(distinct)))
    return found


def _check_cluster(table: pd.DataFrame, cluster: str, exclude: set[str]) -> None:
    if cluster in exclude:
        raise AnalyticsError(f"The cluster column '{quote(cluster, 40)}' is also the treatment, outcome or score.")
    count = table[cluster].nunique(dropna=False)
    if count < 3:
        raise AnalyticsError(
            f"The cluster column '{quote(cluster, 40)}' has {count} value{'s' if count != 1 else ''}: "
            "cluster-robust intervals need at least 3 clusters (and many more to be useful)."
        )


# ---- the pipeline's steps ----


def _clustering(
    table: pd.DataFrame, t: np.ndarray, cluster: str | None, exclude: set[str]
) -> tuple[Clustering, np.ndarray | None, list[str]]:
    """Return how rows are grouped, the cluster codes (None: independent rows) and warnings. `cluster`:
    a column (used), "none" (rows independent, nothing detected) or None (detected: a column the arm is
    constant within is used; cluster-like columns are named in a warning)."""
    if cluster and cluster.lower() == "none" and cluster not in table.columns:
        return Clustering(None, "none", 0), None, []
    if cluster:
        _check_cluster(table, cluster, exclude)
        group = uplift_clusters.codes(table[cluster])
        _, others = uplift_clusters.detect(table, t, exclude | {cluster})
        return Clustering(cluster, "given", int(group.max()) + 1, others), group, []
    found, suspected = uplift_clusters.detect(table, t, exclude)
    warnings = []
    while found is not None and not uplift_clusters.unit_like(table[found], found):
        exclude = exclude | {found}  # changes with the arm, not a unit: _features leaves it out (a note says so)
        found, suspected = uplift_clusters.detect(table, t, exclude)
    if suspected:
        shown = ", ".join(f"'{quote(n, 40)}'" for n in suspected[:4])
        warnings.append(
            f"Rows may not be independent: {shown} look{'s like a' if len(suspected) == 1 else ' like'} "
            f"cluster{'s' if len(suspected) > 1 else ''} (ids repeating within arms). If outcomes are shared "
            f"within them (pupils of one class, customers of one store), add cluster={quote(suspected[0], 40)}: "
            "otherwise the intervals are too narrow and a targeting verdict may be noise."
        )
    if found is None:
        return Clustering(None, "none", 0, suspected), None, warnings
    group = uplift_clusters.codes(table[found])
    treated = np.bincount(group, weights=t)
    size = np.bincount(group)
    pure = float(np.maximum(treated, size - treated).sum() / size.sum())
    how = "constant within each value" if pure >= 0.999 else f"the same for {pure:.0%} of rows within each value"
    warnings.insert(0, f"The arm is {how} of '{quote(found, 40)}': the experiment looks "
                       f"randomized by {quote(found, 40)}, so it is analysed by cluster (cluster=none to treat rows "
                       "as independent).")  # fmt: skip
    return Clustering(found, "detected", int(group.max()) + 1, suspected), group, warnings


def _balance(
    features: pd.DataFrame, t: np.ndarray, y: np.ndarray, clusters: np.ndarray | None
) -> tuple[Balance, list[str]]:
    checks = tuple(BalanceCheck(**r) for r in balance_tests(features, t, clusters))
    unbalanced = [r for r in checks if r.flagged]
    n_t = int(t.sum())
    balance = Balance(
        treatment_share=round(n_t / len(t), 4), treated=n_t, control=int(len(t) - n_t),
        outcome_treated=float(y[t == 1].mean()), outcome_control=float(y[t == 0].mean()), smd=checks,
        randomized_looking=not unbalanced,
        rule="a feature is flagged when Welch's t or chi-square (Holm-adjusted) p < 0.05 and its SMD > 0.1"
             + ("; with clusters, the tests use CR2 errors" if clusters is not None else ""),
    )  # fmt: skip
    warnings = []
    if unbalanced:
        names = ", ".join(f"{short(r.name, 40)} (SMD {r.smd:.2f}, adj. p {r.p_value_adjusted:.2g})"
                          for r in unbalanced[:3])  # fmt: skip
        warnings.append(
            f"The arms differ on {names}: either the experiment may not be randomized, so effects may be biased, or "
            "these columns were measured after treatment (its results, not who was treated): leave them out with "
            "ignore=<column>."
        )
    return balance, warnings


def _scores(
    table: pd.DataFrame,
    features: pd.DataFrame,
    y: np.ndarray,
    t: np.ndarray,
    binary: bool,
    score: str | None,
    seed: int,
    clusters: np.ndarray | None,
) -> tuple[str, dict[str, dict[str, float]], int, dict[str, np.ndarray]]:
    """Return (chosen learner, each learner's Qini, folds, uplift scores per learner)."""
    if score:
        return "given score", {}, 0, {"given score": pd.to_numeric(table[score]).to_numpy(dtype=float)}
    fitted = cross_fitted_uplift(features, y, t, binary, seed, clusters)
    scores = {name: fitted[name] for name in ("s_learner", "t_learner")}
    learners = {name: {"qini_auc": qini_auc(y, scores[name], t)} for name in scores}
    return max(learners, key=lambda name: learners[name]["qini_auc"]), learners, fitted["folds"], scores


# Widening of the Qini bootstrap interval for cross-fitted, selected scores: (lower end, upper end) factors,
# fitted on permutation nulls by bench/uplift_error_rates.py --calibrate (docs/analytics.md gives the fit and
# the coverage measured on other nulls). Under a null, z = Qini / its bootstrap error has mean MU and sd SIGMA
# (not 0 and 1: picking the better of two learners biases it up, cross-fitting spreads it); the lower end
# misses 0 when z > 1.96·a, so a = SIGMA + MU/1.96 puts 2.5% there, and b = SIGMA − MU/1.96 (at least 1) the
# other 2.5% at the upper end.
QINI_NULL_MU, QINI_NULL_SIGMA = 0.34, 1.11  # fitted: 60 nulls (seeds 0-29, simulated and Cai), 2026-12-07
QINI_WIDEN = (
    round(QINI_NULL_SIGMA + QINI_NULL_MU / 1.96, 3),
    round(max(1.0, QINI_NULL_SIGMA - QINI_NULL_MU / 1.96), 3),
)


def qini_interval(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    learner: str,
    t: np.ndarray,
    bootstrap: int,
    seed: int,
    clusters: np.ndarray | None,
    folds: int = 0,
) -> tuple[dict[str, Any], list[str]]:
    """Return the chosen ranking's Qini interval and its warning (no interval, below 0, or including 0).

    The bootstrap holds the ranking fixed, but cross-fitted scores depend on the rows they are evaluated on
    (each fold's model was trained on the other folds) and the better of two learners is chosen on the same
    rows: on permutation nulls the plain percentile interval excluded 0 more often than 5%, mostly from above.
    With `folds` (cross-fitted scores) each end is moved away from the estimate by its factor in QINI_WIDEN,
    calibrated on permutation nulls (Nadeau and Bengio's symmetric √(1 + K/(K − 1)) = 1.58 before: 297 of 300
    nulls covered, conservative); given scores are not widened. Coverage: bench/uplift_error_rates.py."""
    interval = bootstrap_qini(y, scores[learner], t, resamples=bootstrap, seed=seed, clusters=clusters)
    if interval["ci"] is None:
        return interval, ["Too few rows in an arm for a bootstrap interval of the Qini coefficient."]
    if folds > 1:
        estimate, (lower, upper) = qini_auc(y, scores[learner], t), QINI_WIDEN
        low, high = interval["ci"]
        interval = {**interval, "ci": [estimate - lower * (estimate - low), estimate + upper * (high - estimate)],
                    "widened": [lower, upper]}  # fmt: skip
    if interval["ci"][1] < 0:
        return interval, ["The Qini interval lies below 0: this ranking is not reliably better than random "
                          "targeting; it is worse."]  # fmt: skip
    if interval["ci"][0] <= 0:
        return interval, ["The Qini interval includes 0: this ranking is not reliably better than random targeting."]
    return interval, []


def _deciles(y: np.ndarray, uplift: np.ndarray, t: np.ndarray, value: np.ndarray, sign: float) -> tuple[Decile, ...]:
    """Return the deciles of `uplift` (higher = better), rates and uplifts in `y`'s units, predicted uplift
    back in them too (`sign`), value per person as the decision counts it (an improvement)."""
    deciles = []
    for d in decile_table(y, uplift, t, value):
        if d["predicted_uplift"] is not None:
            d["predicted_uplift"] *= sign
        missing = None
        if d["uplift"] is None:
            missing = "no rows" if not d["rows"] else f"no {'treated' if not d['treated'] else 'control'} rows in it"
        deciles.append(Decile(**d, missing=missing))
    return tuple(deciles)


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
    cluster: str | None = None,
    success: str | None = None,
    treated: str | None = None,
    better: str | None = None,
) -> UpliftResult:
    """Return the uplift analysis (see the module docstring) as a typed result; AnalyticsError for unusable input.

    Without a cost, the decision uses cost 0 and the outcome (or outcome × revenue) as the value. `categorical`,
    `numeric` and `ignore` override the kinds read from the features (services/analytics/columns.py). `cluster`
    names the column rows are grouped by (classroom, store, household): intervals, folds and halves then go by
    cluster; "none" treats rows as independent; None detects clusters (services/analytics/uplift_clusters.py).
    `success` names the outcome value counted as a success (a two-valued outcome, e.g. "0" when 1 is an adverse
    event); by default a text value named like one ("yes", "good"), else the larger. `treated` names the treated
    arm's label; by default the other of a label that reads as a control ("placebo", "Obs"), else the one named
    like a treatment; otherwise AnalyticsError asks which. `better` "lower" when a lower outcome is the good one
    (seizures, deaths, cost): who to treat, the Qini coefficient, uplift AUC and the targeting totals are then
    computed on the outcome's reverse (1 − y for 0/1, max(y) − y for numbers), so they read as improvements, while
    the average effect, uplift@k, deciles and drivers stay in the outcome's own units; "higher" (or None, then
    said on the card as an assumption) as written."""
    if treatment == outcome:
        raise AnalyticsError(f"'{quote(treatment, 40)}' cannot be both the treatment and the outcome: name the "
                             "column that holds the result as outcome=<column>.")  # fmt: skip
    _check_columns(table, {"treatment": treatment, "outcome": outcome, "revenue": revenue, "score": score,
                           "cluster": cluster if cluster and cluster.lower() != "none" else None},
                   (*categorical, *numeric, *ignore))  # fmt: skip
    rows, no_treatment = len(table), int(table[treatment].isna().sum())
    table = _check_rows(table, treatment, outcome, score)
    t, treated_label, control_label, treated_why = _arms(table[treatment], treatment, treated)
    y, binary, success_label = _check_outcome(table[outcome], outcome, success)
    sign, better_source = _check_better(better, success, success_label, binary)
    # What the ranking and the Qini coefficient read, higher = better. Lower is better: 1 − y, max(y) − y for
    # numbers (not −y: the Qini curve ignores a shift, but its normalising "perfect" ranking y·t − y·(1 − t)
    # assumes values at or above 0, and gave −1.2 (−18 to +16) on epil's seizure counts where max − y gives
    # the reverse of the ranking it should be).
    y_good = y if sign > 0 else (1.0 - y if binary else float(y.max()) - y)
    _check_cost(cost, binary, revenue)
    n_t, n_c = _check_arms(t, score)
    exclude = {treatment, outcome} | {c for c in (score, revenue) if c}
    clustering, clusters, warnings = _clustering(table, t, cluster, exclude | set(ignore))
    dropped = [c for c in ignore if c not in exclude] + ([clustering.column] if clustering.column else [])
    follow = _follow_arm(table, t, exclude | set(dropped))
    warnings += [wording.follows_arm_text(name, values) for name, values in follow]
    dropped += [name for name, _ in follow]
    features, kinds = _features(table.drop(columns=dropped), exclude, required=not score, categorical=categorical,
                                numeric=numeric, codes=clustering.suspected)  # fmt: skip
    features, one_arm = _check_missing_in_an_arm(features, t)
    if one_arm:
        dropped += one_arm
        warnings.append(
            f"Left out {_names(one_arm)}: empty in a whole arm, so most likely recorded only for the treated (after "
            "treatment) and not comparable between the arms."
        )
    balance, balance_warnings = _balance(features, t, y, clusters)
    warnings = balance_warnings + warnings
    if min(n_t, n_c) < MIN_ARM:
        warnings.append(
            f"Only {min(n_t, n_c)} rows in the smaller arm: every estimate here is very uncertain and the "
            "intervals are wide."
        )
    ate = average_effect(y, t, clusters)
    if binary and ate.ci is not None:  # a difference of two rates lies in [-1, 1]; tiny arms would print "+123 points"
        ate = replace(ate, ci=(max(ate.ci[0], -1.0), min(ate.ci[1], 1.0)))
    learner, learners, folds, scores = _scores(table, features, y_good, t, binary, score, seed, clusters)
    if score and sign < 0:  # a given score predicts the change in y: higher means more of what is not wanted
        scores = {learner: -scores[learner]}
    uplift = scores[learner]
    interval, qini_warnings = qini_interval(y_good, scores, learner, t, bootstrap, seed, clusters, folds)
    warnings += qini_warnings
    x, curve = qini_curve(y_good, uplift, t)
    step = max(1, len(x) // 200)
    y_value = _value(table, y, revenue, binary)
    value = sign * (y if y_value is None else y_value)  # the decision's value: higher is better
    ranked = bool(np.ptp(uplift) > 1e-12 * max(1.0, float(np.abs(uplift).max())))
    deciles = _deciles(y, uplift, t, value, sign) if ranked else ()  # file order is no ranking: nothing to show
    decision = decide_targeting(scores, value, t, cost or 0.0, budget, seed, clusters)
    decision = replace(decision, break_even_decile=break_even(deciles, cost or 0.0),
                       expected_profit=decision.beats_no_one.estimate if decision.target else 0.0)  # fmt: skip
    shared, p_shared = ("", 1.0) if clusters is not None else uplift_clusters.shared_cells(
        table, t, y, clustering.suspected)  # fmt: skip
    if shared:
        why = (f"rows with the same '{quote(shared, 40)}' in the same arm share their outcome far more than chance "
               f"(interaction F test p = {p_shared:.1g}): the arm was likely given to groups inside each "
               f"'{quote(shared, 40)}' (sites, classes) that no column names. Add a column naming that unit and "
               "cluster=<that column>; until then the intervals are too narrow")  # fmt: skip
        warnings.insert(0, f"Rows are not independent: {why}.")
        if decision.target:
            decision = replace(decision, target=False, withheld=why)
    skipped = [n for n, k in kinds.items() if k.kind in ("identifier", "datetime")] + dropped
    result = UpliftResult(
        rows=Rows(
            total=rows,
            used=int(len(t)),
            dropped=int(rows - len(t)),
            no_treatment=no_treatment,
            no_outcome=int(rows - len(t) - no_treatment),
        ),
        treatment_label=treated_label,
        control_label=control_label,
        treated_why=treated_why,
        success_label=success_label,
        outcome=outcome,
        outcome_kind="binary" if binary else "numeric",
        balance=balance,
        ate=ate,
        learner=learner,
        learners=learners,
        qini_auc=qini_auc(y_good, uplift, t),
        qini_auc_ci=None if interval["ci"] is None else tuple(interval["ci"]),
        qini_bootstrap={"widened": [1.0, 1.0]}
        | {k: interval[k] for k in ("resamples", "level", "points", "widened") if k in interval},
        uplift_auc=uplift_auc(y_good, uplift, t) if binary else None,
        uplift_at_k={f"{int(k * 100)}%": uplift_at_k(y, uplift, t, k) for k in K_SHARES} if ranked else {},
        deciles=deciles,
        curves={
            "qini": {"x": x[::step].tolist() + [float(x[-1])], "y": curve[::step].tolist() + [float(curve[-1])]},
            "profit": profit_curve(uplift, value, t, cost or 0.0),
        },
        features=tuple(features.columns),
        skipped_columns=tuple(skipped),
        column_kinds={n: {"kind": k.kind, "detail": k.detail} for n, k in kinds.items()},
        kind_notes=tuple(kind_notes(kinds)),
        training={"folds": folds, "max_rows_per_model": MAX_TRAIN_ROWS, "by_cluster": clusters is not None}
        if folds
        else {},
        conventions=(
            "Qini coefficient = scikit-uplift qini_auc_score (negative_effect=True); uplift AUC = scikit-uplift "
            "uplift_auc_score (binary outcomes); uplift@k = treated minus control mean outcome in the top k% "
            "(strategy 'overall'); deciles ordered by predicted uplift, decile 1 highest; Qini interval: "
            f"{interval['resamples']} {'cluster ' if clusters is not None else ''}bootstrap resamples, 95% "
            "percentile"
            + (
                f", its ends moved from the estimate ×{interval['widened'][0]:.2f} (lower) and "
                f"×{interval['widened'][1]:.2f} (upper) for cross-fitting and the choice of learner, calibrated on "
                "permutation nulls"
                if "widened" in interval
                else ""
            )
            + f". Targeting: {decision.rule}."
        ),
        drivers=drivers(features, y, t, uplift, binary, seed, clusters=clusters, sign=sign),
        recommendation=decision,
        cost=cost,
        budget=budget,
        value_kind="money" if (revenue or cost is not None) else ("successes" if binary else "outcome"),
        value_name=revenue or outcome,
        cluster=clustering,
        warnings=tuple(warnings),
        better="lower" if sign < 0 else "higher",
        better_source=better_source,
    )
    return replace(result, summary=wording.summarise(result))
