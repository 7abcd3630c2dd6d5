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
from services.analytics.columns import ID_NAME
from services.analytics.drift_schema import storage

PERMUTATIONS = 999
EXACT_LIMIT = 5_000  # enumerate every assignment of sides to blocks up to this many
MAX_ROWS = 20_000  # rows per permutation test (sampled uniformly above): the work is permutations × rows
DETECT_ROWS = 20_000


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
    both = pd.concat([ref[shared], cur[shared]], ignore_index=True)
    side = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    chosen, others = uplift_clusters.detect(both, side, exclude)
    found = ((chosen,) if chosen else ()) + tuple(others)
    # a column whose values stay on one side is an entity only when it is named like one or holds text codes:
    # a year in a split by period also stays on one side, and is a time, not an entity
    named = [name for name in found if uplift_clusters.CLUSTER_NAME.search(name) or ID_NAME.search(name)
             or not pd.api.types.is_numeric_dtype(both[name])]  # fmt: skip
    return tuple(name for name in named if _entity_storage(ref[name], cur[name], seed))


def _entity_storage(reference: pd.Series, current: pd.Series, seed: int) -> bool:
    """False for dates and timestamps (a time, not an entity: every hour is 'on one side' in a split by period)
    and for a column stored differently on each side (numbers in one, text in the other: its values cannot
    match across the tables, so it 'stays on one side' by its spelling)."""
    before, after = storage(reference, seed), storage(current, seed)
    return before == after and before != "dates"
