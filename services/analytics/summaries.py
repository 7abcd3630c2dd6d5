"""Mergeable summaries of a table, and drift computed from them: the statistics of data too large to load.

A drift analysis here runs in two passes over the data, each of which any engine (pandas on chunks, Spark on
partitions) can run piece by piece, because the pieces' summaries add up:
1. a plan: each column's kind (columns.infer_kind on a sample) and, per numeric column, fixed bin edges at
   the quantiles of both tables (1,000 levels each, the reference's deciles among them);
2. per piece, `summarise_frame`: per numeric column the counts in those bins (plus an underflow and an
   overflow bin), rows, missing values, min, max and shifted sums for the mean and sd; per categorical column
   the count of each value. `TableSummary.merge` adds two summaries (associative and commutative).

`drift_from_summaries` then runs the tests of services/analytics/drift.py on the summaries, with its
functions (psi, adjust, the two-proportion and new-category tests, the verdict and the wording):
- exact (the same numbers as the local path): row and missing counts, the missing-share test, categorical
  counts, chi-square, Jensen–Shannon, categorical PSI, new categories, means, sd, mean shift;
- numeric PSI: exact when the edges are the reference's exact quantiles (the pandas plan); with edges from a
  sample (Spark: `Plan.quantile_error` None) the PSI cuts are the sample's deciles, and the result states their
  largest rank error among all the reference's rows, measured from pass 2's counts (`decile_rank_error`);
- Kolmogorov–Smirnov: the largest gap of the two CDFs at the bin edges, a lower bound of the exact statistic D;
  D ≤ the reported value + `ks_error_bound` (the largest share of either table in one bin, about 0.001);
  the p-value is computed from the reported (lower) value, so a drift call is never made on the bound;
- Wasserstein: the CDF gap at each bin's midpoint times its width; |exact − reported| ≤ `wasserstein_error_bound`
  (Σ width · (reference share + current share) / 2 over the bins, data min and max closing the outer bins).
Categorical columns keep at most CATEGORY_CAP values per piece (the rest in OTHER): exact below the cap.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from services.analytics import drift
from services.analytics.columns import ColumnKind, infer_kind, kind_notes, read_as
from services.analytics.drift_types import Adversarial, DriftColumn, DriftResult, DriftRows, Schema
from services.analytics.drift_wording import verdict_notes
from services.analytics.errors import AnalyticsError
from services.quoting import quote

FINE_BINS = 1000
# The reference's deciles are among the levels exactly (the same floats as drift.py's PSI edges).
LEVELS = np.unique(np.r_[np.linspace(0, 1, drift.PSI_BINS + 1), np.linspace(0, 1, FINE_BINS + 1)])
CATEGORY_CAP = 100_000
OTHER = "\x00other"  # the bucket of values beyond the cap: no real value of a text column is this
KIND_SAMPLE = 5_000  # rows per table for the kinds, as drift.analyse


@dataclass(frozen=True)
class NumericPlan:
    """Fixed bins of a numeric column: interior edges (bins (-inf, e0), [e0, e1), … [ek, inf)), the reference's
    decile edges (PSI) among them, and the shift subtracted before the sums (numerical stability)."""

    edges: np.ndarray
    psi_edges: np.ndarray
    shift: float
    deciles: np.ndarray = field(default_factory=lambda: np.array([]))  # the reference's, PSI_BINS + 1 values


@dataclass(frozen=True)
class Plan:
    """What pass 2 computes: the tested columns' kinds, numeric bins, and how exact the edges are."""

    kinds: dict[str, ColumnKind]
    numeric: dict[str, NumericPlan]
    # rank error of the edges: 0 for exact quantiles; None for a sample's, measured from the counts afterwards
    quantile_error: float | None = 0.0


@dataclass
class NumericSummary:
    """Counts in the plan's bins and moments of one numeric column over some rows (missing values apart)."""

    counts: np.ndarray
    missing: int = 0
    total: float = 0.0  # Σ (x − shift)
    total_sq: float = 0.0  # Σ (x − shift)²
    minimum: float = math.inf
    maximum: float = -math.inf

    def merge(self, other: NumericSummary) -> NumericSummary:
        """Return the summary of both pieces' rows."""
        return NumericSummary(
            self.counts + other.counts, self.missing + other.missing, self.total + other.total,
            self.total_sq + other.total_sq, min(self.minimum, other.minimum), max(self.maximum, other.maximum),
        )  # fmt: skip


@dataclass
class CategoricalSummary:
    """Value counts of one categorical (or boolean) column as text, missing values apart."""

    counts: Counter = field(default_factory=Counter)
    missing: int = 0
    capped: bool = False

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        """Return the summary of both pieces' rows (values beyond CATEGORY_CAP join OTHER)."""
        return _capped(self.counts + other.counts, self.missing + other.missing, self.capped or other.capped)


@dataclass
class TableSummary:
    """Rows and per-column summaries of a table (or a piece of one)."""

    rows: int = 0
    columns: dict[str, NumericSummary | CategoricalSummary | int] = field(default_factory=dict)

    def merge(self, other: TableSummary) -> TableSummary:
        """Return the summary of both pieces (associative, commutative; an empty summary is neutral)."""
        columns = dict(self.columns)
        for name, summary in other.columns.items():
            mine = columns.get(name)
            columns[name] = summary if mine is None else mine + summary if isinstance(mine, int) else (
                mine.merge(summary))  # fmt: skip
        return TableSummary(self.rows + other.rows, columns)


def _capped(counts: Counter, missing: int, capped: bool) -> CategoricalSummary:
    if len(counts) <= CATEGORY_CAP:
        return CategoricalSummary(counts, missing, capped)
    kept = Counter(dict(counts.most_common(CATEGORY_CAP - 1)))
    kept[OTHER] += sum(counts.values()) - sum(kept.values())
    return CategoricalSummary(kept, missing, True)


def interior_edges(quantiles: np.ndarray) -> np.ndarray:
    """Return the sorted distinct finite edges of the given quantile values."""
    values = np.asarray(quantiles, dtype=float)
    return np.unique(values[np.isfinite(values)])


def psi_edges(reference_deciles: np.ndarray) -> np.ndarray:
    """Return the boundaries of drift._psi_shares' bins as fine edges: its cuts (the distinct interior deciles),
    and when ties leave fewer than PSI_BINS − 1 of them, each cut and the next float (a bin "at the cut")."""
    cuts = np.unique(reference_deciles[1:-1])
    if cuts.size < drift.PSI_BINS - 1:
        return np.unique(np.r_[cuts, np.nextafter(cuts, np.inf)])
    return cuts


def numeric_plan(reference_quantiles: np.ndarray, current_quantiles: np.ndarray) -> NumericPlan:
    """Return the bins of a numeric column from both tables' quantiles at LEVELS (reference first)."""
    if not reference_quantiles.size:
        return NumericPlan(interior_edges(current_quantiles), np.array([]), 0.0)
    deciles = reference_quantiles[np.isin(LEVELS, np.linspace(0, 1, drift.PSI_BINS + 1))]
    boundaries = psi_edges(deciles)
    edges = interior_edges(np.r_[reference_quantiles, current_quantiles, boundaries])
    return NumericPlan(edges, boundaries, float(np.median(reference_quantiles)), deciles)


def plan_from_frames(
    reference: pd.DataFrame, current: pd.DataFrame, options: drift.DriftOptions, sampled: bool = False
) -> Plan:
    """Return the plan of two in-memory tables: kinds as drift.analyse infers them, exact quantile edges (of
    these rows; `sampled`: they are samples of larger tables, so the plan's rank error is measured later)."""
    kinds = infer_kinds(reference, current, options)
    numeric = {}
    for name, kind in kinds.items():
        if kind.kind == "numeric":
            r = read_as(reference[name], "numeric").dropna().to_numpy(dtype=float)
            c = read_as(current[name], "numeric").dropna().to_numpy(dtype=float)
            numeric[name] = numeric_plan(
                np.quantile(r, LEVELS) if r.size else np.array([]), np.quantile(c, LEVELS) if c.size else np.array([])
            )
    return Plan(kinds, numeric, None if sampled else 0.0)


def decile_rank_error(plan: NumericPlan, reference: NumericSummary) -> float:
    """Return the largest rank error (a share of the reference's non-missing rows) of the decile values the PSI
    cuts at, from the counts of every row: for level q and cut v, the distance from q to [P(X < v), P(X ≤ v)].
    P(X ≤ v) is known when the next float after v is an edge (tied deciles); otherwise the distance is bounded
    by |q − P(X < v)|, which is what is returned then (never less than the truth)."""
    if plan.deciles.size < 3 or not plan.edges.size:
        return 0.0
    below = np.r_[0, np.cumsum(reference.counts)] / max(int(reference.counts.sum()), 1)  # P(X < edges[i]) = [i+1]
    worst = 0.0
    for q, v in zip(np.linspace(0, 1, drift.PSI_BINS + 1)[1:-1], plan.deciles[1:-1], strict=True):
        i = int(np.searchsorted(plan.edges, v))
        if i == plan.edges.size or plan.edges[i] != v:
            continue  # not a cut (a decile outside the finite values): no PSI bin starts there
        low = below[i + 1]
        after = int(np.searchsorted(plan.edges, np.nextafter(v, np.inf)))
        if q < low:
            error = low - q
        elif after < plan.edges.size and plan.edges[after] == np.nextafter(v, np.inf):
            error = max(0.0, q - below[after + 1])
        else:
            error = q - low
        worst = max(worst, float(error))
    return worst


def common_columns(reference: list[str], current: list[str], options: drift.DriftOptions) -> list[str]:
    """Return the columns both tables have, minus the ignored ones, or raise drift.analyse's sentence."""
    common = [c for c in reference if c in set(current) and c not in options.ignore]
    if not common:
        left = ", ".join(quote(str(c), 40) for c in reference[:8])
        right = ", ".join(quote(str(c), 40) for c in current[:8])
        raise AnalyticsError(
            f"The two tables have no column in common (reference: {left}; current: {right}): "
            "send two extracts of the same dataset."
        )
    return common


def infer_kinds(reference: pd.DataFrame, current: pd.DataFrame, options: drift.DriftOptions) -> dict[str, ColumnKind]:
    """Return each common column's kind from a seeded sample of each table (drift.analyse's rule)."""
    kinds = {}
    for name in common_columns(list(reference.columns), list(current.columns), options):
        both = pd.concat(
            [reference[name].sample(min(KIND_SAMPLE, len(reference)), random_state=options.seed),
             current[name].sample(min(KIND_SAMPLE, len(current)), random_state=options.seed)], ignore_index=True,
        )  # fmt: skip
        kinds[str(name)] = infer_kind(both, str(name), options.categorical, options.numeric)
    return kinds


def summarise_frame(frame: pd.DataFrame, plan: Plan) -> TableSummary:
    """Return the summary of the rows in `frame` under `plan` (the function every engine runs per piece)."""
    summary = TableSummary(len(frame))
    for name, kind in plan.kinds.items():
        column = frame[name]
        if kind.kind in ("datetime", "identifier"):
            summary.columns[name] = int(column.isna().sum())
        elif kind.kind == "numeric":
            binning = plan.numeric[name]
            values = read_as(column, "numeric").to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            shifted = present - binning.shift
            counts = np.bincount(np.searchsorted(binning.edges, present, side="right"),
                                 minlength=binning.edges.size + 1)  # fmt: skip
            summary.columns[name] = NumericSummary(
                counts.astype(np.int64), int(values.size - present.size), float(shifted.sum()),
                float(np.square(shifted).sum()), float(present.min()) if present.size else math.inf,
                float(present.max()) if present.size else -math.inf,
            )  # fmt: skip
        else:
            values = read_as(column, kind.kind).dropna()
            summary.columns[name] = _capped(Counter(values.astype(str).value_counts().to_dict()),
                                            int(len(column) - len(values)), False)  # fmt: skip
    return summary


def _cdf_gaps(plan: NumericPlan, r: NumericSummary, c: NumericSummary) -> dict[str, float]:
    """Return KS (lower bound and its error bound) and Wasserstein (and its error bound) from two histograms."""
    n_r, n_c = r.counts.sum(), c.counts.sum()
    p_r, p_c = r.counts / n_r, c.counts / n_c
    gap_at_edges = np.abs(np.cumsum(p_r)[:-1] - np.cumsum(p_c)[:-1])  # P(X < e) at each interior edge
    ks = float(gap_at_edges.max()) if gap_at_edges.size else 0.0
    ks_bound = float(np.maximum(p_r, p_c).max())
    low, high = min(r.minimum, c.minimum), max(r.maximum, c.maximum)
    bounds = np.r_[min(low, plan.edges[0]) if plan.edges.size else low, plan.edges,
                   max(high, plan.edges[-1]) if plan.edges.size else high]  # fmt: skip
    widths = np.diff(bounds)
    middle_gap = np.abs((np.cumsum(p_r) - p_r / 2) - (np.cumsum(p_c) - p_c / 2))
    wasserstein = float(np.sum(widths * middle_gap))
    wasserstein_bound = float(np.sum(widths * (p_r + p_c) / 2))
    return {"ks": ks, "ks_bound": ks_bound, "wasserstein": wasserstein, "wasserstein_bound": wasserstein_bound}


def numeric_tests(plan: NumericPlan, r: NumericSummary, c: NumericSummary) -> dict[str, Any]:
    """Return drift.py's numeric test fields from two summaries, with the error bounds of the approximations."""
    n_r, n_c = int(r.counts.sum()), int(c.counts.sum())
    mean_r, mean_c = plan.shift + r.total / n_r, plan.shift + c.total / n_c
    constant = r.minimum == r.maximum
    sd = 0.0 if constant else math.sqrt(max(r.total_sq / n_r - (r.total / n_r) ** 2, 0.0))
    gaps = _cdf_gaps(plan, r, c)
    p_value = float(stats.kstwo.sf(gaps["ks"], np.round(n_r * n_c / (n_r + n_c))))
    # PSI bins: the fine bins between consecutive decile edges (the decile edges are fine edges).
    cuts = np.searchsorted(plan.edges, plan.psi_edges)
    r_share = np.add.reduceat(r.counts, np.r_[0, cuts + 1]) / n_r if plan.edges.size else np.array([1.0])
    c_share = np.add.reduceat(c.counts, np.r_[0, cuts + 1]) / n_c if plan.edges.size else np.array([1.0])
    wasserstein = gaps["wasserstein"]
    return {
        "ks_statistic": gaps["ks"],
        "ks_error_bound": gaps["ks_bound"],
        "p_value": min(max(p_value, 0.0), 1.0),
        "test": "Kolmogorov–Smirnov",
        "wasserstein": wasserstein,
        "wasserstein_error_bound": gaps["wasserstein_bound"],
        "wasserstein_normalized": wasserstein / sd if sd > 0 else (0.0 if wasserstein == 0 else math.inf),
        "psi": drift.psi(r_share, c_share),
        "mean_shift_sd": float((mean_c - mean_r) / sd) if sd > 0 else None,
        "reference_constant": constant,
        "reference_mean": float(mean_r),
        "current_mean": float(mean_c),
        "reference_range": [r.minimum, r.maximum],
        "current_range": [c.minimum, c.maximum],
        "effect": "wasserstein_normalized",
    }


def categorical_tests(r_counts: Counter, c_counts: Counter) -> dict[str, Any]:
    """Return drift.py's categorical test fields from two value counts (the same computation on counts)."""
    categories = sorted(set(r_counts) | set(c_counts))
    r = np.array([r_counts.get(k, 0) for k in categories], dtype=float)
    c = np.array([c_counts.get(k, 0) for k in categories], dtype=float)
    if len(categories) > 1:
        chi2, p_value, dof, _ = stats.chi2_contingency(np.vstack([r, c]))
    else:
        chi2, p_value, dof = 0.0, 1.0, 0
    r_share, c_share = r / r.sum(), c / c.sum()
    shown = ["other" if k == OTHER else k for k in categories]
    moved = sorted(zip(shown, r_share, c_share, strict=True), key=lambda x: -abs(x[2] - x[1]))[:5]
    new = [k for k, a in zip(shown, r, strict=True) if a == 0 and k != "other"]
    return {
        "chi2": float(chi2),
        "dof": int(dof),
        "p_value": float(p_value),
        "test": "chi-square test of homogeneity",
        "jensen_shannon": float(jensenshannon(r_share, c_share)),
        "psi": drift.psi(r_share, c_share),
        "top_changes": [{"category": k, "reference_share": float(a), "current_share": float(b)} for k, a, b in moved],
        "new_categories": new,
        "new_category_share": float(
            sum(b for k, a, b in zip(shown, r_share, c_share, strict=True) if a == 0 and k != "other")
        ),  # fmt: skip
        "new_category_p_value": drift._new_category_p(r, c),
        "effect": "jensen_shannon",
    }


def drift_from_summaries(
    plan: Plan,
    reference: TableSummary,
    current: TableSummary,
    options: drift.DriftOptions | None = None,
    adversarial: Adversarial | None = None,
    schema: dict[str, list[Any]] | None = None,
) -> DriftResult:
    """Return drift.analyse's result from two summaries (same keys, thresholds, adjustment, verdict and
    wording), with `approximations` saying which statistics are bounded and by how much."""
    options = options or drift.DriftOptions()
    for role, table in (("reference", reference), ("current", current)):
        if table.rows < drift.MIN_ROWS:
            raise AnalyticsError(
                f"Drift needs at least {drift.MIN_ROWS} rows in each table; the {role} table has {table.rows}: "
                "send larger extracts."
            )
    columns, tested = [], []
    for name, kind_of in plan.kinds.items():
        kind = kind_of.kind
        r, c = reference.columns[name], current.columns[name]
        r_missing = r if isinstance(r, int) else r.missing
        c_missing = c if isinstance(c, int) else c.missing
        column: dict[str, Any] = {
            "name": name, "kind": kind, "kind_detail": kind_of.detail,
            "missing_share": {"reference": r_missing / reference.rows, "current": c_missing / current.rows},
            "new_categories": [], "drifted": False, "reason": "",
            "missing_p_value": drift._two_proportion_p(r_missing, reference.rows, c_missing, current.rows),
        }  # fmt: skip
        if kind in ("datetime", "identifier"):
            column["reason"] = f"not tested: {kind} columns say when or which rows, not what they contain"
        elif r_missing == reference.rows or c_missing == current.rows:
            column["reason"] = "not tested: no values on one side"
        elif kind == "numeric":
            column |= numeric_tests(plan.numeric[name], r, c)
            tested.append(column)
        else:
            column |= categorical_tests(r.counts, c.counts)
            if r.capped or c.capped:
                column["note"] = (f"'{quote(name, 40)}' has more than {CATEGORY_CAP:,} distinct values: the rarest "
                                  "are counted together as 'other'.")  # fmt: skip
            tested.append(column)
        columns.append(column)
    drift._adjust_decisions(columns, options)
    for column in columns:
        drift._verdict(column, options)
    typed = [DriftColumn.from_dict(c) for c in columns]
    typed = [replace(c, note=c.note or verdict_notes(c, options.alpha)) for c in typed]
    drifted = [c for c in typed if c.drifted]
    tested = [c for c in typed if c.tested]
    numeric = [c for c in tested if c.kind == "numeric"]
    result = DriftResult(
        rows=DriftRows(reference.rows, current.rows, False, reference.rows, current.rows),
        schema=Schema.from_dict(schema or {"dropped": [], "added": [], "renamed": [], "type_changed": []}),
        dataset_drift=bool(drifted),
        drift_share=len(drifted) / max(len(tested), 1),
        columns=tuple(sorted(typed, key=lambda c: (not c.drifted, -drift._effect(c)))),
        rules=drift._rules(options) | {"engine": "summaries: the same tests on every row's counts"},
        adversarial=adversarial,
        kind_notes=tuple(kind_notes(plan.kinds)),
        approximations={
            "ks_error_bound": max((c.ks_error_bound or 0.0 for c in numeric), default=0.0),
            "wasserstein_normalized_error_bound": max(
                (
                    (c.wasserstein_error_bound or 0.0) / max(abs(c.wasserstein / c.wasserstein_normalized), 1e-300)
                    if c.wasserstein_normalized not in (None, 0.0, math.inf) and c.wasserstein is not None
                    else 0.0
                    for c in numeric
                ),
                default=0.0,
            ),
            "quantile_rank_error": plan.quantile_error
            if plan.quantile_error is not None
            else max(
                (decile_rank_error(plan.numeric[c.name], reference.columns[c.name]) for c in numeric), default=0.0
            ),
        },  # fmt: skip
    )
    summary = list(drift.summarise(result))
    if adversarial:
        summary.append(
            f"Adversarial validation ran on a uniform sample of {adversarial.rows.reference:,} reference and "
            f"{adversarial.rows.current:,} current rows; the column tests on all rows."
        )
    return replace(result, summary=tuple(summary))


def adversarial_on_sample(
    reference: pd.DataFrame, current: pd.DataFrame, plan: Plan, options: drift.DriftOptions
) -> Adversarial | None:
    """Return drift.adversarial on in-memory samples of the two tables (None when tests_only or nothing to use)."""
    features = [n for n, k in plan.kinds.items() if k.kind not in ("datetime", "identifier") and n != options.target]
    if options.tests_only or not features:
        return None
    ref, cur = reference[features].copy(), current[features].copy()
    for name in features:
        ref[name], cur[name] = read_as(ref[name], plan.kinds[name].kind), read_as(cur[name], plan.kinds[name].kind)
    categorical = {n for n in features if plan.kinds[n].kind in ("categorical", "boolean")}
    return drift.adversarial(ref, cur, features, options, categorical)


def schema_on_sample(reference: pd.DataFrame, current: pd.DataFrame, options: drift.DriftOptions) -> dict[str, Any]:
    """Return drift_schema.schema_changes on samples of the two tables (columns and storage, not values)."""
    from services.analytics.drift_schema import schema_changes

    return schema_changes(reference, current, options.ignore, options.seed)


def summary_drift(
    reference: pd.DataFrame, current: pd.DataFrame, options: drift.DriftOptions | None = None, chunk_rows: int = 0
) -> DriftResult:
    """Return the drift of two in-memory tables by the summary path (pieces of `chunk_rows`, all when 0)."""
    options = options or drift.DriftOptions()
    plan = plan_from_frames(reference, current, options)

    def summarise(table: pd.DataFrame) -> TableSummary:
        step = chunk_rows or len(table) or 1
        total = TableSummary()
        for start in range(0, len(table), step):
            total = total.merge(summarise_frame(table.iloc[start : start + step], plan))
        return total

    sample_ref = reference.sample(min(options.adversarial_rows, len(reference)), random_state=options.seed)
    sample_cur = current.sample(min(options.adversarial_rows, len(current)), random_state=options.seed)
    return drift_from_summaries(plan, summarise(reference), summarise(current), options,
                                adversarial_on_sample(sample_ref, sample_cur, plan, options),
                                schema_on_sample(sample_ref, sample_cur, options))  # fmt: skip
