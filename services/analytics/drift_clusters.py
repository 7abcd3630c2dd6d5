"""Drift when rows come in entities (stores, patients, firms): tests whose null distribution respects them.

Rows of one entity resemble each other, so when the reference and the current tables hold different
entities of one population, row-level tests (which assume independent rows) call the differences between
entities drift: on real panels split by entity, drift said "drift" in 92–98% of splits (docs/analytics.md).
With `cluster=<column>`, each column's statistic (KS for numbers, chi-square for categories, the missing
share's and the new categories' chi-square) is kept, and its p-value comes from a block permutation: the
units are (entity, side) blocks, and the side labels are shuffled between blocks, the reference keeping its
number of blocks. Entities wholly on one side (an entity split) are permuted whole; an entity on both sides
(the same stores last month and this month) gives two blocks, which makes the test conservative, not wrong.
With few blocks every assignment is enumerated (exact); otherwise PERMUTATIONS random ones.
Our own code: scipy's permutation_test permutes single observations, not blocks, and recomputes a Python
statistic per permutation; here each statistic is vectorised over all permutations at once.
`auc_se` is the standard error of a ROC AUC when rows come in entities: Obuchowski's (1997) cluster form of
DeLong's variance (placements summed per entity), so the adversarial AUC's interval counts entities, not rows.
`suspects` reuses uplift's cluster detection (services/analytics/uplift_clusters.py) with the side as the
"arm": a column whose values stay on one side (an entity split), or an id-like, cluster-named column whose
values repeat, is named in a warning when no cluster is given.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from services.analytics import uplift_clusters
from services.analytics.columns import ID_NAME, as_numbers
from services.analytics.drift_schema import storage

PERMUTATIONS = 999
EXACT_LIMIT = 5_000  # enumerate every assignment of sides to blocks up to this many
MAX_ROWS = 20_000  # rows per permutation test (sampled uniformly above): the work is permutations × rows
DETECT_ROWS = 20_000
NAMED_MIN_ENTITIES = 10  # a column suspected by its name alone (school, class, store) needs this many values


def side_masks(blocks_reference: int, blocks: int, seed: int) -> np.ndarray:
    """Return a (permutations, blocks) boolean matrix: True where a block is on the reference side. The first
    row is the observed assignment (blocks 0..blocks_reference−1 are the reference's)."""
    observed = np.arange(blocks) < blocks_reference
    if math.comb(blocks, blocks_reference) <= EXACT_LIMIT:
        rows = [observed]
        for chosen in itertools.combinations(range(blocks), blocks_reference):
            mask = np.zeros(blocks, dtype=bool)
            mask[list(chosen)] = True
            if not np.array_equal(mask, observed):
                rows.append(mask)
        return np.array(rows)
    rng = np.random.default_rng(seed)
    shuffled = np.array([rng.permutation(observed) for _ in range(PERMUTATIONS)])
    return np.vstack([observed, shuffled])


def _p_value(statistics: np.ndarray) -> float:
    """Return the permutation p-value of statistics[0] among all (the observed assignment counts once)."""
    return float(np.mean(statistics >= statistics[0] - 1e-12))


def ks_p_value(values: np.ndarray, block: np.ndarray, masks: np.ndarray) -> float:
    """Return the block-permutation p-value of the two-sample KS statistic of `values` (block ids per row)."""
    order = np.argsort(values, kind="stable")
    sorted_values, sorted_block = values[order], block[order]
    last_of_tie = np.r_[sorted_values[1:] != sorted_values[:-1], True]
    on_reference = masks[:, sorted_block]  # permutations × rows
    n_ref = on_reference.sum(axis=1, keepdims=True)
    n_cur = values.size - n_ref
    valid = (n_ref[:, 0] > 0) & (n_cur[:, 0] > 0)
    gap = np.cumsum(on_reference / np.maximum(n_ref, 1) - ~on_reference / np.maximum(n_cur, 1), axis=1)
    statistics = np.where(valid, np.abs(gap[:, last_of_tie]).max(axis=1), 0.0)
    return _p_value(statistics)


def chi2_p_value(counts: np.ndarray, masks: np.ndarray) -> float:
    """Return the block-permutation p-value of the chi-square statistic of homogeneity from per-block category
    counts (blocks × categories)."""
    reference = masks.astype(float) @ counts  # permutations × categories
    current = counts.sum(axis=0) - reference
    total = reference + current
    n_ref, n_cur = reference.sum(axis=1, keepdims=True), current.sum(axis=1, keepdims=True)
    n = n_ref + n_cur
    statistic = np.zeros(len(masks))
    for observed, side in ((reference, n_ref), (current, n_cur)):
        expected = total * side / n
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic += np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0).sum(axis=1)
    return _p_value(statistic)


def new_category_p_value(counts: np.ndarray, masks: np.ndarray) -> float:
    """Return the block-permutation p-value of the current rows' share in categories the reference lacks."""
    reference = masks.astype(float) @ counts
    current = counts.sum(axis=0) - reference
    new = ((reference == 0) & (current > 0)) * current
    share = new.sum(axis=1) / np.maximum(current.sum(axis=1), 1)
    return _p_value(share)


def auc_se(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """Return the standard error of the ROC AUC of `scores` for 0/1 `labels` with rows grouped by `groups`:
    Obuchowski (1997, Biometrics 53:567), DeLong's placement variance with placements summed per cluster:
    Var = S10/M + S01/N + 2·S11/(M·N) over I clusters, M positives and N negatives. With one row per cluster
    it is DeLong's variance but for the small-sample factor (I/(I − 1) over all rows instead of 1/(M − 1) and
    1/(N − 1) per class). NaN with fewer than 2 clusters or an empty class."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    cluster = np.unique(groups, return_inverse=True)[1]
    count = int(cluster.max()) + 1 if cluster.size else 0
    positive, negative = np.sort(scores[labels]), np.sort(scores[~labels])
    m, n = positive.size, negative.size
    if count < 2 or m == 0 or n == 0:
        return float("nan")

    def placement(values: np.ndarray, others: np.ndarray) -> np.ndarray:  # share of `others` below, ties half
        below = np.searchsorted(others, values, side="left")
        return (below + 0.5 * (np.searchsorted(others, values, side="right") - below)) / others.size

    v10 = placement(scores[labels], negative)  # per positive: share of negatives it outranks
    v01 = 1 - placement(scores[~labels], positive)  # per negative: share of positives that outrank it
    auc = float(v10.mean())
    m_i = np.bincount(cluster[labels], minlength=count)
    n_i = np.bincount(cluster[~labels], minlength=count)
    d10 = np.bincount(cluster[labels], weights=v10, minlength=count) - m_i * auc
    d01 = np.bincount(cluster[~labels], weights=v01, minlength=count) - n_i * auc
    scale = count / (count - 1)
    s10, s01, s11 = scale * (d10 @ d10) / m, scale * (d01 @ d01) / n, scale * (d10 @ d01)
    return float(np.sqrt(max(s10 / m + s01 / n + 2 * s11 / (m * n), 0.0)))


def block_ids(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Return (block id per reference row, per current row, reference blocks, all blocks): one block per
    (cluster value, side), reference blocks first."""
    ref_codes, ref_values = pd.factorize(reference.astype("string").fillna("<missing>"))
    cur_codes, cur_values = pd.factorize(current.astype("string").fillna("<missing>"))
    return ref_codes, cur_codes + len(ref_values), len(ref_values), len(ref_values) + len(cur_values)


def entity_codes(reference: pd.Series, current: pd.Series) -> np.ndarray:
    """Return one integer code per row of both sides: the same entity has the same code on either side."""
    return uplift_clusters.codes(pd.concat([reference, current], ignore_index=True))


def suspects(reference: pd.DataFrame, current: pd.DataFrame, exclude: set[str], seed: int) -> tuple[str, ...]:
    """Return the columns that look like entities (uplift's detection, the side as the arm): first a column
    whose values stay on one side (an entity split), then id-like, cluster-named columns that repeat."""
    ref = reference.sample(min(DETECT_ROWS, len(reference)), random_state=seed)
    cur = current.sample(min(DETECT_ROWS, len(current)), random_state=seed)
    shared = [c for c in ref.columns if c in set(cur.columns)]
    both = pd.concat([_numbers_read(ref[shared], seed), _numbers_read(cur[shared], seed)], ignore_index=True)
    side = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    chosen, others = uplift_clusters.detect(both, side, exclude)
    # a name alone ('class' for classrooms) is weak evidence: vehicle classes, customer segments are named so
    # too (ggplot2::mpg 'class', 7 values); an entity named so has many values, repeated in each table
    others = [name for name in others if _many_repeated(ref[name], cur[name])]
    found = ((chosen,) if chosen else ()) + tuple(others)
    # a column whose values stay on one side is an entity only when it is named like one or holds text codes:
    # a year in a split by period also stays on one side, and is a time, not an entity
    # ... or numeric codes whose values interleave between the sides (datasets::ChickWeight split by chick:
    # chicks 1-50 on both sides, none on both), which a split by period never does
    named = [name for name in found if uplift_clusters.CLUSTER_NAME.search(name) or ID_NAME.search(name)
             or not pd.api.types.is_numeric_dtype(both[name]) or _interleaved_codes(ref[name], cur[name])]  # fmt: skip
    return tuple(name for name in named if _entity_storage(ref[name], cur[name], seed))


def _interleaved_codes(reference: pd.Series, current: pd.Series) -> bool:
    """True for whole numbers that repeat within each table (entities with several rows) and whose distinct
    values, sorted, switch sides often: at least 4 runs and a quarter as many runs as values. A year or a date
    split by period makes 2 runs (all of one side, then all of the other)."""
    if not _many_repeated(reference, current):
        return False
    values = pd.concat([reference, current], ignore_index=True)
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or not bool((numbers == numbers.round()).all()):
        return False
    on_current = pd.Series(np.r_[np.zeros(len(reference)), np.ones(len(current))]).groupby(numbers.to_numpy()).mean()
    sides = (on_current.sort_index() >= 0.5).to_numpy()
    runs = 1 + int((sides[1:] != sides[:-1]).sum())
    return runs >= max(4, len(sides) // 4)


def _many_repeated(reference: pd.Series, current: pd.Series) -> bool:
    """True when a column has at least NAMED_MIN_ENTITIES distinct values and most of them (by rows) repeat
    within each table: entities with several rows each, not a handful of categories."""
    if pd.concat([reference, current]).nunique() < NAMED_MIN_ENTITIES:
        return False
    return all(float((side.map(side.value_counts()) > 1).mean()) >= 0.5 for side in (reference, current))


def _entity_storage(reference: pd.Series, current: pd.Series, seed: int) -> bool:
    """False for dates and timestamps (a time, not an entity: every hour is 'on one side' in a split by period)
    and for a column stored differently on each side (numbers in one, text in the other: its values cannot
    match across the tables, so it 'stays on one side' by its spelling)."""
    before, after = storage(reference, seed), storage(current, seed)
    return before == after and before != "dates"


def _numbers_read(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return `table` with columns of numbers written as text ("1,006", "$208,000") read as numbers: they are
    quantities on either side, not text codes that stay on one side by their spelling."""
    text = [name for name in table.columns if not pd.api.types.is_numeric_dtype(table[name])
            and storage(table[name], seed) == "numbers"]  # fmt: skip
    return table.assign(**{str(name): as_numbers(table[name]) for name in text}) if text else table
