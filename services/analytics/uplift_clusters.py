"""Clustered experiments: rows that are not independent (pupils of one classroom, customers of one store).

When treatment is assigned to groups (classrooms, stores, households), or outcomes are shared within them,
the effective sample size is the number of groups, not of rows: intervals that treat rows as independent are
too narrow, and checks that split rows put one group on both sides. Here:
- `difference`: treated minus control mean with a cluster-robust standard error, Bell and McCaffrey's CR2
  (the bias-reduced sandwich of the regression of the value on an intercept and the arm) and a t quantile
  with G − 2 degrees of freedom (G clusters). With one row per cluster CR2 equals HC2, the Welch-type
  error used for independent rows (tested against statsmodels' HC2).
- `detect`: columns whose values repeat like clusters: the arm constant within (nearly) every value (the
  signature of cluster randomisation: used automatically when `unit_like`), or an id-like name (school, store,
  class, customer, household, …) with repeating integer or text codes (named in a warning).
- `follows_arm`: a column that changes with the arm (every repeated value in one arm): a recoding of the arm,
  or text chosen per arm (a name on a résumé); uplift leaves it out of the features, it is no covariate.
Our own code: statsmodels offers CR1 (cov_type='cluster'), not CR2, and recomputing a regression per
targeted group would cost thousands of fits; CR2 of a two-column design reduces to 2 × 2 algebra per cluster.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

CLUSTER_NAME = re.compile(
    r"(^|[_\s-])(school|sch|schid|schoolid|store|shop|branch|class|classroom|classid|teacher|tch|customer|"
    r"household|hh|hhid|family|village|vill|villnum|site|clinic|hospital|practice|cluster|firm|plant|team|"
    r"district|ward|city|market|pair)($|[_\s-]|id|num|no|code|nr)",
    re.I,
)
# Names of the units a trial randomises one by one or in groups (a subject's visits, a patient's events).
UNIT_NAME = re.compile(
    r"(^|[_\s-])(id|subject|subj|patient|participant|person|individual|user|member|pupil|student|respondent|"
    r"account|unit|child|animal|pig|mouse|plot)($|[_\s-]|id|num|no|code|nr)|(^|[_\s-])id[_\s-]|^id",
    re.I,
)
CONSTANT_ARM_SHARE = 0.95  # share of repeated values whose rows all sit in one arm: cluster randomisation
# Or mostly one arm (mlmRev::Exam with the arm drawn per school and some pupils crossing over): this share of the
# repeated rows sit in their group's majority arm, and more than in any of PERMUTATIONS shuffles of the arm
# between rows (small groups are pure by chance: 2 rows share an arm half the time).
MOSTLY_ARM_SHARE = 0.8
PERMUTATIONS = 20
MIN_CLUSTERS = 5
_SINGULAR = 1 - 1e-9


def codes(series: pd.Series) -> np.ndarray:
    """Return integer cluster codes (missing values form one cluster of their own)."""
    found, _ = pd.factorize(series.astype("string").fillna("<missing>"), sort=False)
    return found.astype(np.int64)


def difference(
    value: np.ndarray, t: np.ndarray, clusters: np.ndarray | None, fallback_variance: float
) -> tuple[float, float, float]:
    """Return (treated mean − control mean, standard error, degrees of freedom) of `value`.

    Without `clusters`: Welch-type error (HC2), an arm of one row borrowing `fallback_variance`, normal tail
    (infinite degrees of freedom). With `clusters` (codes per row): CR2, G − 2 degrees of freedom; infinite
    error when an arm is empty, when there are fewer than 3 clusters, or when one cluster holds a whole arm."""
    a, b = value[t == 1], value[t == 0]
    if a.size == 0 or b.size == 0:
        return 0.0, float("inf"), float("inf")
    estimate = float(a.mean() - b.mean())
    if clusters is None:
        var_a = a.var(ddof=1) if a.size > 1 else fallback_variance
        var_b = b.var(ddof=1) if b.size > 1 else fallback_variance
        return estimate, float(np.sqrt(var_a / a.size + var_b / b.size)), float("inf")
    group = np.unique(clusters, return_inverse=True)[1]
    count = group.max() + 1
    if count < 3:
        return estimate, float("inf"), float("inf")
    residual = value - np.where(t == 1, a.mean(), b.mean())
    n_g, s_g = np.bincount(group, minlength=count), np.bincount(group, weights=t, minlength=count)
    score = np.stack([np.bincount(group, weights=residual, minlength=count),
                      np.bincount(group, weights=residual * t, minlength=count)], axis=1)  # fmt: skip
    design = np.array([[value.size, a.size], [a.size, a.size]], dtype=float)
    bread = np.linalg.inv(design)
    w, v = np.linalg.eigh(bread)
    half, inverse_half = (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T
    gram = np.stack([np.stack([n_g, s_g], -1), np.stack([s_g, s_g], -1)], axis=1)  # X_g'X_g per cluster
    inner = half @ gram @ half  # similar to X_g'X_g M: its eigenvalues are those of the cluster's hat block
    lam, vec = np.linalg.eigh(inner)
    if (lam >= _SINGULAR).any():
        return estimate, float("inf"), float("inf")
    adjust = (vec * (1 - lam[:, None, :]) ** -0.5) @ np.swapaxes(vec, 1, 2)  # (I − S_g)^(-1/2)
    # X_g' (I − H_gg)^(-1/2) e_g = M^(-1/2) (I − S_g)^(-1/2) M^(1/2) X_g' e_g (push-through identity)
    corrected = np.einsum("ij,gjk,kl,gl->gi", inverse_half, adjust, half, score)
    meat = corrected.T @ corrected
    variance = (bread @ meat @ bread)[1, 1]
    return estimate, float(np.sqrt(max(variance, 0.0))), float(count - 2)


def quantile(dof: float, level: float = 0.95) -> float:
    """Return the two-sided `level` quantile: normal for infinite degrees of freedom, Student's t otherwise."""
    tail = 1 - (1 - level) / 2
    return float(stats.norm.ppf(tail)) if not np.isfinite(dof) else float(stats.t.ppf(tail, max(dof, 1.0)))


def halves(clusters: np.ndarray | None, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a boolean mask splitting rows in two halves: by row within each arm (independent rows), or by
    whole clusters, stratified by each cluster's majority arm (a cluster is never on both sides)."""
    half = np.zeros(t.size, dtype=bool)
    if clusters is None:
        for arm in (0, 1):  # stratified: each half keeps the treated share
            rows = np.flatnonzero(t == arm)
            half[rng.permutation(rows)[: rows.size // 2]] = True
        return half
    group = np.unique(clusters, return_inverse=True)[1]
    majority = np.bincount(group, weights=t) * 2 >= np.bincount(group)
    chosen = np.zeros(majority.size, dtype=bool)
    for arm in (False, True):
        ids = np.flatnonzero(majority == arm)
        chosen[rng.permutation(ids)[: (ids.size + rng.integers(0, 2)) // 2]] = True
    return chosen[group]


def _id_like(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    if pd.api.types.is_float_dtype(values):
        return bool(np.all(values.to_numpy() == np.round(values.to_numpy())))
    return (
        pd.api.types.is_integer_dtype(values)
        or pd.api.types.is_object_dtype(values)
        or isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype))
    )


def _mostly_one_arm(group: np.ndarray, t: np.ndarray) -> bool:
    """Whether the rows of repeated groups sit mostly (MOSTLY_ARM_SHARE) in their group's majority arm, more than
    under every one of PERMUTATIONS shuffles of the arm (seeded: the same table gives the same answer)."""
    size = np.bincount(group)
    repeated = size[group] > 1

    def purity(arm: np.ndarray) -> float:
        treated = np.bincount(group, weights=arm, minlength=size.size)
        majority = np.maximum(treated, size - treated)
        return float(majority[size > 1].sum() / max(repeated.sum(), 1))

    observed = purity(t)
    if observed < MOSTLY_ARM_SHARE:
        return False
    rng = np.random.default_rng(0)
    return all(purity(rng.permutation(t)) < observed for _ in range(PERMUTATIONS))


def follows_arm(series: pd.Series, t: np.ndarray) -> bool:
    """Whether every value of `series` that repeats sits in one arm only, and most rows repeat a value: the
    column changes with the arm (a recoding of it, or values chosen per arm, or cluster randomisation)."""
    group = codes(series)
    size = np.bincount(group)
    treated = np.bincount(group, weights=t)
    repeated = size > 1
    if repeated.sum() < 2 or size[repeated].sum() < 0.5 * t.size:
        return False
    return bool(((treated == 0) | (treated == size))[repeated].all())


def unit_like(series: pd.Series, name: str) -> bool:
    """Whether a column the arm is constant within reads as the unit randomised (pupils' classroom, a patient's
    visits) rather than part of the treatment: integer codes, or a name like a unit's (subject, patient, id) or
    a cluster's (school, store). Text values under another name (AER::ResumeNames' `name`: first names chosen
    for each arm, so every name sits in one arm) are what changes with the arm, not the unit that was drawn:
    the data cannot tell the two apart, so the name and the storage decide and the card says how to override."""
    if CLUSTER_NAME.search(name) or UNIT_NAME.search(name):
        return True
    values = series.dropna()
    return bool(pd.api.types.is_numeric_dtype(values) and _id_like(values))


def detect(table: pd.DataFrame, t: np.ndarray, exclude: set[str]) -> tuple[str | None, tuple[str, ...]]:
    """Return (the column the arm is constant within, if any: cluster randomisation; the other columns that
    look like clusters: id-like values repeating within arms under a cluster-like name). A candidate has
    between MIN_CLUSTERS distinct values and half as many as rows."""
    rows = len(table)
    randomised_by, mostly, suspected = [], [], []
    for column in table.columns:
        if column in exclude:
            continue
        series = table[column]
        distinct = series.nunique(dropna=True)
        if not (MIN_CLUSTERS <= distinct <= rows / 2) or not _id_like(series):
            continue
        group = codes(series)
        size = np.bincount(group)
        treated = np.bincount(group, weights=t)
        repeated = size > 1
        constant = ((treated == 0) | (treated == size))[repeated]
        named = bool(CLUSTER_NAME.search(str(column)))
        if constant.size >= MIN_CLUSTERS and 0 < t.mean() < 1 and constant.mean() >= CONSTANT_ARM_SHARE:
            randomised_by.append((distinct, str(column)))
        elif constant.size >= MIN_CLUSTERS and 0 < t.mean() < 1 and named and _mostly_one_arm(group, t):
            mostly.append((distinct, str(column)))  # only a cluster-like name: a repeated measurement (MASS::epil
            # `base`, one per patient) is mostly one arm too
        elif CLUSTER_NAME.search(str(column)) and repeated.any():
            suspected.append(str(column))
    randomised_by = randomised_by or mostly  # a column the arm is constant within comes first
    if randomised_by:  # the coarsest grouping the arm is constant within is the unit of randomisation
        chosen = min(randomised_by)[1]
        others = [name for _, name in sorted(randomised_by) if name != chosen]
        return chosen, tuple(others + suspected)
    return None, tuple(suspected)


CELL_ALPHA = 0.001  # the (code × arm) interaction test below: rows of one code in one arm share more than chance
_MAX_DESIGN = 20_000_000  # rows × codes of the additive least-squares fit; above it the test is skipped


def shared_cells(table: pd.DataFrame, t: np.ndarray, y: np.ndarray, columns: tuple[str, ...]) -> tuple[str, float]:
    """Return (the first of `columns` whose (value × arm) cells differ in mean outcome beyond what the value and the
    arm explain, its p-value), or ("", 1.0). boot::amis: cars measured at two sites per pair, the arm given per
    site; no column names the site, but `pair` × arm cells differ far more than pair + arm allow (a two-way
    ANOVA interaction F test, our own few lines: statsmodels' formula API would build the same design)."""
    for column in columns:
        group = codes(table[column])
        g = int(group.max()) + 1
        if len(y) * (g + 1) > _MAX_DESIGN:
            continue
        cell = group * 2 + t.astype(int)
        cells = np.unique(cell).size
        df_within, df_interaction = len(y) - cells, cells - g - 1
        if df_within < 1 or df_interaction < 1:
            continue
        sums, counts = np.bincount(cell, weights=y), np.bincount(cell)
        within = float(((y - (sums / np.maximum(counts, 1))[cell]) ** 2).sum())
        design = np.zeros((len(y), g + 1))
        design[np.arange(len(y)), group] = 1.0
        design[:, g] = t
        residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        additive = float(residual @ residual)
        if within <= 0:
            continue
        f = ((additive - within) / df_interaction) / (within / df_within)
        p = float(stats.f.sf(f, df_interaction, df_within))
        if p < CELL_ALPHA:
            return column, p
    return "", 1.0
