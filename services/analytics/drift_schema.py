"""Schema changes between a reference and a current table: columns added, dropped, renamed-looking, or stored
as another type. Reported before any per-column drift, because a dropped column cannot drift and a column that
turned from numbers into text is not the same measurement."""

from __future__ import annotations

import difflib
from typing import Any

import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from services.analytics.columns import NUMERIC_TEXT_SHARE, as_booleans, as_dates, as_numbers, date_format
from services.analytics.drift_wording import FEW_VALUES_WHY

SAMPLE = 2_000  # values per side read to tell a column's storage and compare renamed-looking pairs
MAX_PAIRS = 30  # dropped × added columns compared for renames, at most this many of each
SAME_VALUES_KS = 0.1  # a dropped and an added column with a KS statistic this small hold the same values
SAME_SHARES_JS = 0.1  # ... or, for categories, a Jensen–Shannon distance this small over the same values
# A rename is a statistical claim: the pair must also pass drift's own gate (services/analytics/drift.py
# DriftOptions defaults): not drifted = not (p < ALPHA and effect ≥ threshold). A column with few values
# (yes/no, a handful of codes) matches many unrelated columns by chance (AER::CPS1985 'married' 65% yes
# against CPS1988 'smsa' 74% yes), so without a similar name its test must not even be significant.
ALPHA = 0.05
NUMERIC_EFFECT = 0.1  # normalised Wasserstein, as drift's effect_threshold
CATEGORICAL_EFFECT = 0.05  # Jensen–Shannon distance, as drift's categorical_effect_threshold
FEW_VALUES = 10  # at most this many distinct values: a low-cardinality column
SIMILAR_NAME = 0.6  # difflib ratio at or above which two names read as one name respelled


def storage(series: pd.Series, seed: int = 0) -> str:
    """Return how a column is stored, read from its values: boolean, dates, numbers, text (or empty)."""
    values = series.dropna()
    if values.empty:
        return "empty"
    values = values.sample(min(SAMPLE, len(values)), random_state=seed)
    if pd.api.types.is_bool_dtype(values) or as_booleans(values).notna().all():
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "dates"
    if pd.api.types.is_numeric_dtype(values):
        return "numbers"
    text = values.astype(str)
    if date_format(text)[0]:
        return "dates"
    if as_numbers(text).notna().mean() >= NUMERIC_TEXT_SHARE:
        return "numbers"
    return "text"


def _comparable(series: pd.Series, kind: str, seed: int) -> pd.Series:
    values = series.dropna()
    values = values.sample(min(SAMPLE, len(values)), random_state=seed)
    if kind == "boolean":
        return as_booleans(values).astype(float)
    if kind == "numbers":
        return as_numbers(values)
    if kind == "dates":
        fmt = "ISO8601" if pd.api.types.is_datetime64_any_dtype(values) else date_format(values.astype(str))[0]
        return as_dates(values, fmt).dropna().astype("int64").astype(float)
    return values.astype(str)


def _same_values(ref: pd.Series, cur: pd.Series, kind: str, seed: int, similar_name: bool = False) -> bool:
    """True when two columns of one storage hold what looks like the same values: a small KS statistic or
    Jensen–Shannon distance, and no drift by drift's own test and gate (p < ALPHA and effect ≥ threshold); a
    low-cardinality pair without a similar name must not differ significantly at all."""
    a, b = _comparable(ref, kind, seed).dropna(), _comparable(cur, kind, seed).dropna()
    if a.empty or b.empty:
        return False
    few = max(a.nunique(), b.nunique()) <= FEW_VALUES
    if kind in ("numbers", "dates") and not few:
        a, b = pd.to_numeric(a, errors="coerce").dropna(), pd.to_numeric(b, errors="coerce").dropna()
        if not (len(a) and len(b)):
            return False
        test = stats.ks_2samp(a, b)
        sd = float(a.std(ddof=0))
        effect = stats.wasserstein_distance(a, b) / sd if sd > 0 else float(a.min() != b.min())
        drifted = test.pvalue < ALPHA and effect >= NUMERIC_EFFECT
        return bool(test.statistic <= SAME_VALUES_KS and not drifted)
    counts = pd.concat([a.astype(str).value_counts(), b.astype(str).value_counts()], axis=1).fillna(0)
    shares = counts / counts.sum()
    distance = float(jensenshannon(shares.iloc[:, 0], shares.iloc[:, 1]))
    p_value = float(stats.chi2_contingency(counts.to_numpy().T)[1]) if len(counts) > 1 else 1.0
    if distance > SAME_SHARES_JS or (p_value < ALPHA and distance >= CATEGORICAL_EFFECT):
        return False
    return bool(similar_name or not few or p_value >= ALPHA)


def _renames(reference: pd.DataFrame, current: pd.DataFrame, dropped: list[str], added: list[str],
             kinds: dict[tuple[str, str], str], seed: int) -> list[dict[str, str]]:  # fmt: skip
    """Return dropped → added pairs of one storage whose values look the same, best name match first."""
    candidates = []
    for old in dropped[:MAX_PAIRS]:
        for new in added[:MAX_PAIRS]:
            kind = kinds[("reference", old)]
            if kind != kinds[("current", new)] or kind == "empty":
                continue
            likeness = difflib.SequenceMatcher(None, old.lower(), new.lower()).ratio()
            if _same_values(reference[old], current[new], kind, seed, likeness >= SIMILAR_NAME):
                candidates.append((likeness, old, new))
    pairs, used = [], set()
    for likeness, old, new in sorted(candidates, reverse=True):
        if old in used or new in used:
            continue
        used |= {old, new}
        if likeness >= SIMILAR_NAME:
            why = "similar name and values"
        elif max(reference[old].nunique(), current[new].nunique()) <= FEW_VALUES:
            # two yes/no columns with close shares: nothing in the data says they are one variable (fresh27:
            # survival::rotterdam 'death' 43% and gbsg 'status', relapse or death, 44%)
            why = FEW_VALUES_WHY
        else:
            why = "same values under another name"
        pairs.append({"from": old, "to": new, "why": why})
    return pairs


def schema_changes(reference: pd.DataFrame, current: pd.DataFrame, ignore: tuple[str, ...] = (),
                   seed: int = 0) -> dict[str, list[Any]]:  # fmt: skip
    """Return {"dropped", "added", "renamed", "type_changed"}: columns only in the reference, only in the
    current table, dropped-and-added pairs that look like a rename ({"from", "to", "why"}), and shared columns
    stored differently ({"name", "reference", "current"}: boolean, dates, numbers, text). A boolean column on
    one side and numbers or text on the other is a change of values, not of type, and is left to the drift
    tests."""
    names_ref = [str(c) for c in reference.columns if c not in ignore]
    names_cur = [str(c) for c in current.columns if c not in ignore]
    dropped = [c for c in names_ref if c not in set(names_cur)]
    added = [c for c in names_cur if c not in set(names_ref)]
    kinds = {("reference", c): storage(reference[c], seed) for c in dropped[:MAX_PAIRS]}
    kinds |= {("current", c): storage(current[c], seed) for c in added[:MAX_PAIRS]}
    renamed = _renames(reference, current, dropped, added, kinds, seed) if dropped and added else []
    moved = {p["from"] for p in renamed} | {p["to"] for p in renamed}
    type_changed = []
    for name in (c for c in names_ref if c in set(names_cur)):
        before, after = storage(reference[name], seed), storage(current[name], seed)
        # boolean on one side is a change of values unless the other side is dates: 0/1 against other numbers,
        # or yes/no against yes/no/maybe (a sample without 'maybe' reads as boolean), are left to the tests
        if before != after and "empty" not in (before, after) and ("boolean" not in (before, after) or (
                "dates" in (before, after))):  # fmt: skip
            type_changed.append({"name": name, "reference": before, "current": after})
    return {
        "dropped": [c for c in dropped if c not in moved],
        "added": [c for c in added if c not in moved],
        "renamed": renamed,
        "type_changed": type_changed,
    }
