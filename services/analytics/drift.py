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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from services.analytics import drift_clusters, progress
from services.analytics.columns import (
    ID_NAME,
    ColumnKind,
    as_booleans,
    as_dates,
    date_format,
    infer_kind,
    kind_notes,
    read_as,
)
from services.analytics.drift_schema import schema_changes
from services.analytics.drift_types import (
    Adversarial,
    Clustering,
    DriftColumn,
    DriftResult,
    DriftRows,
    Importance,
    Schema,
    Sides,
)
from services.analytics.drift_wording import ADVERSARIAL_AUC_GATE, summarise, verdict_notes
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
    cluster: str | None = None  # rows grouped by this column (stores, patients); "none": independent, no warning
    # Hive partition columns of folders read (dt=… below the named folder): each table holds its own values by
    # design, so they are left out, and said, unless named in categorical= or numeric= (`partitions_left_out`)
    partitions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


MIN_ROWS = 10
_SIDES = "|"  # joins the reference's and the current table's date formats (no strptime format contains it)
_FORMAT_NAMES = {"ISO8601": "ISO dates", "%d.%m.%Y": "day.month.year", "%m/%d/%Y": "month/day/year",
                 "%d/%m/%Y": "day/month/year", "%m-%d-%Y": "month-day-year", "%d-%m-%Y": "day-month-year"}  # fmt: skip


KS_EXACT_MAX_ROWS = 10_000  # scipy's ks_2samp(method="auto") is exact up to this many rows a side
MONOTONE_RHO = 0.95  # a counter this rank-correlated with row order is a time index or a row counter
COUNTER_EVEN = 0.5  # a counter: at least this share of its steps between sorted values are one size


POSITIVE_WORDS = {"1", "1.0", "true", "yes", "y", "t"}


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


def _psi_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the reference and current shares in PSI_BINS bins at reference deciles; a reference with fewer
    distinct deciles (a constant, a spike) gets a bin below, at and above each of them, so that a column
    constant in the reference that then moved has a PSI that says so (it was 0.000: a single bin)."""
    cuts = np.unique(np.quantile(ref, np.linspace(0, 1, PSI_BINS + 1))[1:-1])
    if cuts.size < PSI_BINS - 1:  # ties: bins of "at a cut" and "between cuts"
        r_codes = np.searchsorted(cuts, ref, side="left") * 2 + np.isin(ref, cuts)
        c_codes = np.searchsorted(cuts, cur, side="left") * 2 + np.isin(cur, cuts)
        size = 2 * cuts.size + 1
        return np.bincount(r_codes, minlength=size) / ref.size, np.bincount(c_codes, minlength=size) / cur.size
    edges = np.r_[-np.inf, cuts, np.inf]
    return np.histogram(ref, edges)[0] / ref.size, np.histogram(cur, edges)[0] / cur.size


def _numeric_tests(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    sd = 0.0 if ref.min() == ref.max() else float(ref.std())  # a constant's computed sd can be 4e-16, not 0
    statistic, p_value, wasserstein = ks_and_wasserstein(ref, cur)
    if max(ref.size, cur.size) <= KS_EXACT_MAX_ROWS:  # scipy's exact p-value where it applies
        p_value = float(stats.ks_2samp(ref, cur, method="auto").pvalue)
    r_share, c_share = _psi_shares(ref, cur)
    return {
        "ks_statistic": statistic,
        "p_value": p_value,
        "test": "Kolmogorov–Smirnov",
        "wasserstein": wasserstein,
        "wasserstein_normalized": wasserstein / sd if sd > 0 else (0.0 if wasserstein == 0 else math.inf),
        "psi": psi(r_share, c_share),
        # in reference sds; None when the reference is constant (the change is then in the column's units)
        "mean_shift_sd": float((cur.mean() - ref.mean()) / sd) if sd > 0 else None,
        "reference_constant": sd == 0,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
        "reference_range": [float(ref.min()), float(ref.max())],
        "current_range": [float(cur.min()), float(cur.max())],
        "effect": "wasserstein_normalized",
    }


def _date_comparison(ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    """Compare two date columns as dates: each side's range, how much later the current one ends (recency),
    the share of current dates inside the reference range, and the largest gap between consecutive dates."""

    def largest_gap(values: pd.Series) -> float:
        days = np.sort(values.dropna().unique())
        return float(np.diff(days).max() / np.timedelta64(1, "D")) if days.size > 1 else 0.0

    r, c = ref.dropna(), cur.dropna()
    return {
        "date_range": {"reference": [r.min().isoformat(), r.max().isoformat()],
                       "current": [c.min().isoformat(), c.max().isoformat()]},
        "recency_days": float((c.max() - r.max()) / pd.Timedelta(days=1)),
        "current_inside_reference_range": float(c.between(r.min(), r.max()).mean()),
        "largest_gap_days": {"reference": largest_gap(r), "current": largest_gap(c)},
    }  # fmt: skip


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
    # two values move by the same amount: the positive one (yes, 1, true) is named, not "share of '0'" or 'no'
    moved = sorted(zip(categories, r_share, c_share, strict=True),
                   key=lambda x: (-round(abs(x[2] - x[1]), 12),
                                  str(x[0]).strip().lower() not in POSITIVE_WORDS))[:5]  # fmt: skip
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


def _check_tables(reference: pd.DataFrame, current: pd.DataFrame, options: DriftOptions) -> list[Any]:
    """Return the columns to compare (in both tables, not ignored); raise AnalyticsError for unusable input."""
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
    return common


def _check_options(options: DriftOptions) -> None:
    if not 0 < options.alpha < 1:
        raise AnalyticsError("alpha must be between 0 and 1 (the significance level, 0.05 by default).")
    if not 0 < options.effect_threshold <= 10 or not 0 < options.categorical_effect_threshold <= 1:
        raise AnalyticsError("threshold must be a positive effect size: normalised Wasserstein, e.g. 0.1.")


def _column_kind(ref: pd.DataFrame, cur: pd.DataFrame, name: Any, options: DriftOptions) -> Any:
    """Return the kind of column `name` from a seeded random sample of both tables (sorted files make the first
    rows unrepresentative)."""
    both = pd.concat(
        [ref[name].sample(min(5_000, len(ref)), random_state=options.seed),
         cur[name].sample(min(5_000, len(cur)), random_state=options.seed)], ignore_index=True,
    )  # fmt: skip
    kind = infer_kind(both, str(name), options.categorical, options.numeric)
    if kind.kind == "datetime" and kind.date_format in _SWAPPED:  # one slashed format, both sides ambiguous?
        fmt, note = _resolve_day_month([ref[name], cur[name]], [kind.date_format] * 2, [kind.detail] * 2,
                                       options.seed)  # fmt: skip
        return ColumnKind("datetime", note[0], fmt[0]) if fmt[0] != kind.date_format else kind
    if kind.kind in ("categorical", "identifier") and str(name) not in options.categorical:
        # Dates written one way in each extract (ISO in one, month/day/year in the other) are the same dates: the
        # two sides together match no single format, each side alone does. Read each with its own format.
        sides = [date_format(side[name].dropna().sample(min(5_000, side[name].notna().sum()),
                                                        random_state=options.seed)) for side in (ref, cur)]  # fmt: skip
        if all(fmt for fmt, _ in sides):
            formats, side_notes = _resolve_day_month([ref[name], cur[name]], [f for f, _ in sides],
                                                     [n for _, n in sides], options.seed)  # fmt: skip
            sides = list(zip(formats, side_notes, strict=True))
            names = [_FORMAT_NAMES.get(fmt, fmt) for fmt, _ in sides]
            notes = "; ".join(note for _, note in sides if note)
            detail = f"{names[0]} in the reference and {names[1]} in the current, the same dates in another " + (
                f"spelling ({notes})" if notes else "spelling")  # fmt: skip
            return ColumnKind("datetime", detail, f"{sides[0][0]}{_SIDES}{sides[1][0]}")
    return kind


_SWAPPED = {"%m/%d/%Y": "%d/%m/%Y", "%m-%d-%Y": "%d-%m-%Y"}  # ambiguous slashed dates: month first, or day first
_AMBIGUOUS = "no value has a part above 12"  # columns.date_format's note on an ambiguous order


def _resolve_day_month(columns: list[pd.Series], formats: list[str], notes: list[str],
                       seed: int) -> tuple[list[str], list[str]]:  # fmt: skip
    """Return the formats and notes of the two sides with ambiguous slashed dates (no part above 12: month/day
    or day/month) read the way that spaces all dates most evenly, both sides together: a monthly series whose
    current extract writes 01/06/1991 for 1 June is day/month, because month/day puts its dates on days 1–12 of
    January (gaps of 1 and 355 days) while the reference steps by a month. Ties keep month/day (said)."""
    ambiguous = [fmt in _SWAPPED and _AMBIGUOUS in note for fmt, note in zip(formats, notes, strict=True)]
    if not any(ambiguous):
        return formats, notes
    texts = [c.dropna().sample(min(5_000, c.notna().sum()), random_state=seed) for c in columns]

    def unevenness(chosen: list[str]) -> float:
        dates = pd.concat([as_dates(t, f) for t, f in zip(texts, chosen, strict=True)]).dropna()
        days = np.diff(np.unique(dates.to_numpy(dtype="datetime64[D]").astype(np.int64)))
        return float(days.std() / days.mean()) if days.size > 1 and days.mean() > 0 else math.inf

    swapped = [_SWAPPED[f] if a else f for f, a in zip(formats, ambiguous, strict=True)]
    if unevenness(swapped) >= unevenness(formats):
        return formats, notes
    note = ("day/month/year: no value has a part above 12, and this reading spaces the dates evenly "
            "(with the other table's), where month/day/year would not")  # fmt: skip
    return swapped, [note if a else n for n, a in zip(notes, ambiguous, strict=True)]


def _compare_column(ref: pd.DataFrame, cur: pd.DataFrame, name: Any, kind_of: Any) -> dict[str, Any]:
    """Return one column's comparison: missing shares and, by kind, its test and effect sizes (see the module
    docstring); dates are compared as dates, identifiers are reported and left untested."""
    kind = kind_of.kind
    r_missing, c_missing = float(ref[name].isna().mean()), float(cur[name].isna().mean())
    column: dict[str, Any] = {
        "name": str(name), "kind": kind, "kind_detail": kind_of.detail,
        "missing_share": {"reference": r_missing, "current": c_missing},
        "new_categories": [], "drifted": False, "reason": "",
        "missing_p_value": _two_proportion_p(ref[name].isna().sum(), len(ref), cur[name].isna().sum(), len(cur)),
    }  # fmt: skip
    r_values, c_values = ref[name].dropna(), cur[name].dropna()
    if kind == "identifier":
        column["reason"] = "not tested: identifiers say which rows, not what they contain"
    elif r_values.empty or c_values.empty:
        column["reason"] = "not tested: no values on one side"
    elif kind == "datetime":
        column |= _date_comparison(r_values, c_values)
        column["reason"] = "compared as dates, not tested: dates say when rows were collected"
    elif kind == "numeric":
        column |= _numeric_tests(r_values.to_numpy(dtype=float), c_values.to_numpy(dtype=float))
    else:
        column |= _categorical_tests(r_values, c_values)
    return column


def _adjust_decisions(columns: list[dict[str, Any]], options: DriftOptions) -> None:
    """One multiplicity adjustment for every decision: the per-column tests, the missing-share tests and the
    new-category tests together, so that more rules do not mean more false alarms."""
    tested = [c for c in columns if "p_value" in c]
    decisions = [(c, "p_value") for c in tested] + [(c, "missing_p_value") for c in columns]
    decisions += [(c, "new_category_p_value") for c in tested if "new_category_p_value" in c]
    for (column, key), adjusted in zip(decisions, adjust([c[key] for c, key in decisions], options.correction),
                                       strict=True):  # fmt: skip
        column[f"{key}_adjusted"] = adjusted


def _rules(options: DriftOptions) -> dict[str, Any]:
    return {
        "alpha": options.alpha,
        "correction": "Benjamini–Hochberg" if options.correction == "bh" else "Bonferroni",
        "effect_threshold": options.effect_threshold,
        "categorical_effect_threshold": options.categorical_effect_threshold,
        "missing_threshold": options.missing_threshold,
        "psi": f"{PSI_BINS} bins at reference quantiles (deciles) for numeric columns, one per category "
        f"otherwise; empty bins count as {PSI_EPSILON}; < 0.1 small, 0.1–0.25 moderate, > 0.25 large",
        "gate": "drifted = adjusted p < alpha and effect ≥ threshold (normalised Wasserstein for numeric, "
        "Jensen–Shannon distance for categorical), or a missing-share change (two-proportion test) or new "
        "categories (binomial test) that is significant after the same adjustment and above the missing "
        "threshold; PSI does not gate; schema changes (added, dropped, renamed-looking, type-changed columns) "
        "are reported first",
    }  # fmt: skip


def partitions_left_out(options: DriftOptions) -> tuple[DriftOptions, tuple[str, ...]]:
    """Return `options` with the partition columns not named in categorical=/numeric= added to `ignore`, and the
    kind note that says so (empty when there is none)."""
    named = {*options.categorical, *options.numeric, *options.ignore}
    left = tuple(name for name in options.partitions if name not in named)
    if not left:
        return options, ()
    shown = ", ".join(f"'{short(name, 40)}'" for name in left[:5])
    note = (f"{shown} {'is a folder partition' if len(left) == 1 else 'are folder partitions'} (name=value folders "
            "below the folders named): each table holds its own values by design, so "
            f"{'it is' if len(left) == 1 else 'they are'} not compared; name {'it' if len(left) == 1 else 'them'} "
            "in categorical= to compare.")  # fmt: skip
    return replace(options, ignore=(*options.ignore, *left)), (note,)


def analyse(reference: pd.DataFrame, current: pd.DataFrame, options: DriftOptions | None = None) -> DriftResult:
    """Return the drift analysis of `current` against `reference` (a DriftResult; `to_dict()` for JSON).

    Steps: check the input; schema changes (columns added, dropped, renamed-looking, type-changed); per shared
    column its kind, its comparison and its verdict under one multiplicity adjustment; adversarial validation
    (a column that alone separates the tables is called leakage only when it is id-like or follows row order);
    the plain-language summary (services/analytics/drift_wording.py)."""
    options = options or DriftOptions()
    _check_options(options)
    options, partition_note = partitions_left_out(options)
    cluster = _check_cluster(reference, current, options)
    if cluster:
        options = replace(options, ignore=(*options.ignore, cluster))
    common = _check_tables(reference, current, options)
    schema = Schema.from_dict(schema_changes(reference, current, options.ignore, options.seed))
    kept = [*common, cluster] if cluster else common
    ref = _sample(reference[kept], options.max_rows, options.seed)
    cur = _sample(current[kept], options.max_rows, options.seed)
    rows = DriftRows(len(reference), len(current), len(ref) < len(reference) or len(cur) < len(current),
                     len(ref), len(cur))  # fmt: skip
    clustering, warnings, blocks = _clustering(reference, current, ref, cur, cluster, options)
    working, kinds = [], {}
    for number, name in enumerate(common, 1):
        progress.report(f"testing column {number} of {len(common)}")
        kinds[str(name)] = kind_of = _column_kind(ref, cur, name, options)
        ref, cur = _read_as(ref, cur, name, kind_of)
        working.append(_compare_column(ref, cur, name, kind_of))
        if blocks is not None:
            _permuted(working[-1], ref, cur, name, blocks, options.seed)
    _adjust_decisions(working, options)
    for column in working:
        _verdict(column, options)
    columns = [DriftColumn.from_dict(c) for c in working]
    columns = [replace(c, note=verdict_notes(c, options.alpha)) for c in columns]
    tested = [c for c in columns if c.tested]
    drifted = [c for c in columns if c.drifted]
    # A column stored as another type on each side (numbers → text) separates the tables by its spelling alone:
    # the schema change reports it, and the model is trained without it.
    type_changed = {change.name for change in schema.type_changed}
    features = [c.name for c in tested if c.name != options.target and c.name not in type_changed]
    left_out = [c.name for c in tested if c.name in type_changed]
    ordered = {c.name for c in tested if c.kind == "numeric" and _monotone_with_rows(
        reference[c.name], current[c.name], options.max_rows)}  # fmt: skip
    categorical = {n for n, k in kinds.items() if k.kind in ("categorical", "boolean")}
    result = DriftResult(
        rows=rows,
        schema=schema,
        dataset_drift=bool(drifted),
        drift_share=len(drifted) / max(len(tested), 1),
        columns=tuple(sorted(columns, key=lambda c: (not c.drifted, -_effect(c)))),
        rules=_rules(options),
        adversarial=None if options.tests_only or not features else adversarial(
            ref, cur, features, options, categorical, ordered,
            None if cluster is None else drift_clusters.entity_codes(ref[cluster], cur[cluster])),
        kind_notes=tuple(kind_notes(kinds)) + tuple(
            f"'{short(n, 40)}' dates read as {k.detail}." for n, k in kinds.items() if k.kind == "datetime" and k.detail
        ) + tuple(_left_out_note(left_out, options)) + partition_note,
        cluster=clustering,
        warnings=tuple(warnings),
    )  # fmt: skip
    return replace(result, summary=tuple(summarise(result)))


def _left_out_note(names: list[str], options: DriftOptions) -> list[str]:
    """Return the note on type-changed columns left out of adversarial validation (none under --tests-only)."""
    if not names or options.tests_only:
        return []
    shown = ", ".join(f"'{short(n, 40)}'" for n in names[:4]) + (
        f" and {len(names) - 4} more" if len(names) > 4 else ""
    )
    return [f"Adversarial validation leaves out {shown}: a column whose type changed tells the tables apart by how "
            "it is written alone (the schema change above)."]  # fmt: skip


def _check_cluster(reference: pd.DataFrame, current: pd.DataFrame, options: DriftOptions) -> str | None:
    """Return the cluster column to use (None: independent rows); refuse one missing from a table, or with too
    few entity blocks for a permutation test (at least 2 on each side)."""
    name = options.cluster
    if not name or (name.lower() == "none" and name not in reference.columns):
        return None
    for role, table in (("reference", reference), ("current", current)):
        require_column(table, name, "cluster")
        count = table[name].nunique(dropna=False)
        if count < 2:
            raise AnalyticsError(
                f"The cluster column '{quote(name, 40)}' has {count} value{'s' * (count != 1)} in the {role} table: "
                "testing at the entity level needs at least 2 entities on each side (and many more to find a "
                "shift)."
            )
    return name


def _clustering(reference: pd.DataFrame, current: pd.DataFrame, ref: pd.DataFrame, cur: pd.DataFrame,
                cluster: str | None, options: DriftOptions) -> tuple[Clustering, list[str], Any]:  # fmt: skip
    """Return how rows are grouped, the warnings, and the block ids of the sampled rows (None: independent
    rows). Without `cluster`, columns that look like entities are named in a warning (drift_clusters)."""
    if cluster:
        ref_blocks, cur_blocks, n_ref, n_all = drift_clusters.block_ids(ref[cluster], cur[cluster])
        return Clustering(cluster, Sides(n_ref, n_all - n_ref)), [], (ref_blocks, cur_blocks, n_ref, n_all)
    if options.cluster and options.cluster.lower() == "none":
        return Clustering(None, None), [], None
    suspected = drift_clusters.suspects(reference, current, set(options.ignore), options.seed)
    if not suspected:
        return Clustering(None, None), [], None
    shown = ", ".join(f"'{short(n, 40)}'" for n in suspected[:4])
    warning = (
        f"Rows may not be independent: {shown} look{'s' if len(suspected) == 1 else ''} like entities (stores, "
        "patients, firms) with several rows each. If the tables hold different entities, differences between "
        f"entities read as drift: add cluster={short(suspected[0], 40)} to test at the entity level."
    )
    return Clustering(None, None, suspected), [warning], None


def _permuted(column: dict[str, Any], ref: pd.DataFrame, cur: pd.DataFrame, name: Any, blocks: Any,
              seed: int) -> None:  # fmt: skip
    """Replace the column's row-level p-values by block-permutation ones (services/analytics/drift_clusters.py):
    its test, the missing share and the new categories."""
    ref_blocks, cur_blocks, n_ref, n_all = blocks
    masks = drift_clusters.side_masks(n_ref, n_all, seed)
    block = np.r_[ref_blocks, cur_blocks]
    values = pd.concat([ref[name], cur[name]], ignore_index=True)
    missing = values.isna().to_numpy()
    missing_counts = np.zeros((n_all, 2))
    np.add.at(missing_counts, (block, missing.astype(int)), 1)
    column["missing_p_value"] = drift_clusters.chi2_p_value(missing_counts, masks)
    column["clusters"] = {"reference": n_ref, "current": n_all - n_ref}
    if "p_value" not in column:
        return
    present, present_block = values[~missing], block[~missing]
    if column.get("effect") == "wasserstein_normalized":
        numbers = present.to_numpy(dtype=float)
        if numbers.size > drift_clusters.MAX_ROWS:
            chosen = np.random.default_rng(seed).choice(numbers.size, drift_clusters.MAX_ROWS, replace=False)
            numbers, present_block = numbers[chosen], present_block[chosen]
        column["p_value"] = drift_clusters.ks_p_value(numbers, present_block, masks)
    else:
        codes, _ = pd.factorize(present.astype(str))
        counts = np.zeros((n_all, int(codes.max()) + 1 if codes.size else 1))
        np.add.at(counts, (present_block, codes), 1)
        column["p_value"] = drift_clusters.chi2_p_value(counts, masks)
        column["new_category_p_value"] = drift_clusters.new_category_p_value(counts, masks)
    column["test"] = f"{column['test']} test, permuted over entities"


def _monotone_with_rows(reference: pd.Series, current: pd.Series, limit: int) -> bool:
    """True when a numeric column is a row counter or a regular time index: it follows row order (reference
    rows, then current rows) with a Spearman correlation of at least MONOTONE_RHO **and** counts like one
    (_counter_like: its distinct values mostly evenly spaced). Following row order alone is not
    enough: a trending series in a date-sorted export (ggplot2::economics 'pce') follows the rows too, and is a
    real change, whatever the order of the file."""
    values = pd.concat([reference.iloc[:limit], current.iloc[:limit]], ignore_index=True)
    values = pd.to_numeric(values, errors="coerce").dropna()
    if len(values) < 20 or values.nunique() < 3 or not _counter_like(values.to_numpy(dtype=float)):
        return False
    rho = stats.spearmanr(values.index.to_numpy(), values.to_numpy()).statistic
    return bool(abs(rho) >= MONOTONE_RHO)


def _counter_like(values: np.ndarray) -> bool:
    """True when the sorted distinct values mostly (COUNTER_EVEN of the steps) step by one amount, to 0.1% of the
    median step: a row counter (1, 2, 3…), a regular time index (decimal years by month, epoch times by hour).
    A measured series (spending, population) steps unevenly."""
    steps = np.diff(np.unique(values))
    if steps.size < 2:
        return False
    _, counts = np.unique(np.round(steps / np.median(steps), 3), return_counts=True)
    return bool(counts.max() >= COUNTER_EVEN * steps.size)


def _read_as(ref: pd.DataFrame, cur: pd.DataFrame, name: Any, kind_of: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return both tables with column `name` read for its kind: booleans as 0/1 whatever their spelling on
    either side (0.0/1.0, True/False, "1"/"1.0" are the same values), dates parsed with the format read from
    both sides, otherwise columns.read_as; the tables themselves when it needs no conversion (no copy)."""
    if kind_of.kind == "boolean":
        reads = (as_booleans, as_booleans)
    elif kind_of.kind == "datetime":
        fmt_ref, _, fmt_cur = (kind_of.date_format or "ISO8601").partition(_SIDES)
        reads = (lambda s: as_dates(s, fmt_ref), lambda s: as_dates(s, fmt_cur or fmt_ref))
    else:
        reads = (lambda s: read_as(s, kind_of.kind),) * 2
    # Each side on its own: one side can already be read so (numbers) while the other is not (numbers as text).
    tables = []
    for table, read in zip((ref, cur), reads, strict=True):
        converted = read(table[name])
        tables.append(table if converted is table[name] else table.assign(**{str(name): converted}))
    return tables[0], tables[1]


def _effect(column: DriftColumn) -> float:
    value = column.effect_size
    return value if math.isfinite(value) else 1e9


def _verdict(column: dict[str, Any], options: DriftOptions) -> None:
    """Set the column's `drifted`, `reason` (the findings, joined by "; ") and `threshold`; its `note` (why a
    number that looks large does not count: drift_wording.verdict_notes) is set on the typed column."""
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
        effect = column[column["effect"]]
        threshold = options.effect_threshold if column["effect"] == "wasserstein_normalized" else (
            options.categorical_effect_threshold)  # fmt: skip
        column["threshold"] = threshold
        significant = column["p_value_adjusted"] < options.alpha
        if significant and effect >= threshold:
            reasons.append(f"{column['test']} significant (adjusted p {column['p_value_adjusted']:.2g}) and "
                           f"{_effect_label(column)} {effect:.3f} ≥ {threshold}")  # fmt: skip
    column["drifted"] = bool(reasons)
    column["reason"] = "; ".join(reasons) if reasons else column["reason"] or "no drift"


def _effect_label(column: dict[str, Any]) -> str:
    return "normalised Wasserstein" if column["effect"] == "wasserstein_normalized" else "Jensen–Shannon distance"


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


def _widened(auc: float, se: float, folds: int) -> list[float]:
    """Return auc ± 1.96 se, the error widened by Nadeau and Bengio's factor for K folds (as _hanley_mcneil),
    within [0, 1]; [0, 1] when the error is unknown (fewer than 2 entities)."""
    if not math.isfinite(se):
        return [0.0, 1.0]
    if folds > 1:
        se *= math.sqrt(1 + folds / (folds - 1))
    return [max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)]


def adversarial(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    features: list[str],
    options: DriftOptions,
    categorical: frozenset[str] | set[str] = frozenset(),
    ordered: frozenset[str] | set[str] = frozenset(),
    groups: np.ndarray | None = None,
) -> Adversarial:
    """Train a classifier to tell current rows (1) from reference rows (0): k-fold out-of-fold ROC AUC with a
    95% interval (Hanley–McNeil, widened for cross-validation: see _hanley_mcneil; with `groups`, the entity
    of each row, folds hold whole entities and the error is Obuchowski's clustered one), and permutation
    importances on at most 2,000 held-out rows of the first fold.
    Text columns and those in `categorical` are categories (the 50 most frequent values, the rest 'other').
    A column that carries nearly all the separation is the `sole_separator`: a strong change; it is a
    `leakage_suspect` only when it is id-like or in `ordered` (follows row order: a time index, a counter)."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # only here: `--tests-only` never pays for it
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    ref, cur = ref[features], cur[features]
    if groups is not None:  # the entity of each row follows the sampling
        ref, cur = ref.assign(_group_=groups[: len(ref)]), cur.assign(_group_=groups[len(ref) :])
    ref = _sample(ref, options.adversarial_rows, options.seed)
    cur = _sample(cur, options.adversarial_rows, options.seed)
    if groups is not None:
        groups = np.r_[ref.pop("_group_").to_numpy(), cur.pop("_group_").to_numpy()]
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
    folds = options.folds
    if groups is None:
        splits = StratifiedKFold(options.folds, shuffle=True, random_state=options.seed).split(x, y)
    else:  # an entity's rows are never on both sides of a fold: the model cannot learn entities by heart
        folds = min(options.folds, len(np.unique(groups)))
        splits = StratifiedGroupKFold(folds, shuffle=True, random_state=options.seed).split(x, y, groups)
    for fold, (train, test) in enumerate(splits):
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
    suspects, sole = [], None
    for name, value in ranked[:1]:
        if auc > 0.6 and value / positive > 0.8:
            sole = name
            if name in ordered or _id_like(name, ref[name], cur[name]):
                suspects.append(name)
    interval = _hanley_mcneil(auc, int(y.sum()), int(len(y) - y.sum()), options.folds)
    if groups is not None:  # entities, not rows, are the independent units: Obuchowski's clustered variance
        interval = _widened(auc, drift_clusters.auc_se(predictions, y, groups), folds)
    return Adversarial(
        auc=auc,
        auc_ci=(interval[0], interval[1]),
        # A claim needs both: an interval clear of 0.5 and an AUC worth reporting (a large sample makes a
        # 0.51 significant; on noise the interval alone said "apart" in 6% of pairs at 5,000 rows).
        separable=bool(interval[0] > 0.5 and auc >= ADVERSARIAL_AUC_GATE),
        folds=options.folds,
        rows=Sides(len(ref), len(cur)),
        importances=tuple(Importance(name, round(float(value), 5)) for name, value in ranked),
        leakage_suspects=tuple(suspects),
        sole_separator=sole,
    )


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


def _id_like(name: str, ref: pd.Series, cur: pd.Series) -> bool:
    """True for an id-like column: an id-like name, or whole numbers nearly all distinct. A measured quantity
    (a price, an income) has a fractional part and is not an id, even when every value differs."""
    if ID_NAME.search(str(name)):
        return True
    if any(not pd.api.types.is_numeric_dtype(side) or pd.api.types.is_bool_dtype(side) for side in (ref, cur)):
        return False  # a side of text (a column whose type changed) is not whole numbers
    both = pd.concat([ref, cur]).dropna().to_numpy(dtype=float)
    return bool(both.size and np.all(both == np.round(both)) and np.unique(both).size > 0.9 * both.size)
