"""Typed results of an uplift analysis: frozen dataclasses read by attribute (cards, charts, benchmarks) and
turned into plain JSON-ready data by `to_dict()` (the CLI's `--json`, whose keys are documented in
docs/analytics.md). Wording lives in services/analytics/uplift_wording.py, the maths in uplift*.py."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class _Data:
    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data (dicts, lists, numbers, strings, None), ready for JSON."""
        return _plain(self)


@dataclass(frozen=True)
class Estimate(_Data):
    """A total or a difference with its 95% interval; `ci` is None when no interval can be computed, and
    `reason` says why (e.g. a group with rows of one arm only)."""

    estimate: float
    ci: tuple[float, float] | None
    se: float
    reason: str | None = None

    @classmethod
    def of(cls, estimate: float, se: float, quantile: float, reason: str = "") -> Estimate:
        """Return estimate ± quantile × se; without a finite se, no interval and the reason (or a generic one)."""
        if not math.isfinite(se):
            return cls(float(estimate), None, float(se), reason or "too few rows in an arm for an interval")
        return cls(float(estimate), (estimate - quantile * se, estimate + quantile * se), float(se))


@dataclass(frozen=True)
class Rows(_Data):
    total: int
    used: int
    dropped: int
    no_treatment: int = 0  # rows left out because the treatment is missing
    no_outcome: int = 0  # of the others, those whose outcome (or score) is missing


@dataclass(frozen=True)
class BalanceCheck(_Data):
    name: str
    smd: float
    p_value: float
    p_value_adjusted: float
    flagged: bool


@dataclass(frozen=True)
class Balance(_Data):
    treatment_share: float
    treated: int
    control: int
    outcome_treated: float
    outcome_control: float
    smd: tuple[BalanceCheck, ...]
    randomized_looking: bool
    rule: str


@dataclass(frozen=True)
class Clustering(_Data):
    """How rows are grouped: `column` is the cluster column used (None: rows treated as independent);
    `source` "given" (cluster=), "detected" (the arm is constant within its values) or "none"; `suspected`
    columns whose values repeat like clusters but were not used (named in a warning)."""

    column: str | None
    source: str
    clusters: int
    suspected: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverGroup(_Data):
    group: str
    effect: float
    se: float
    rows: int


@dataclass(frozen=True)
class Driver(_Data):
    name: str
    weight: float
    p_value_adjusted: float
    split: str
    groups: tuple[DriverGroup, ...]
    direction: str


@dataclass(frozen=True)
class Decile(_Data):
    """One tenth of the rows by predicted uplift (1 = highest); `uplift` is None when an arm has no rows in
    it, and `missing` then says which."""

    decile: int
    rows: int
    treated: int
    control: int
    predicted_uplift: float | None
    treated_rate: float | None
    control_rate: float | None
    uplift: float | None
    cumulative_incremental: float
    value_uplift_per_person: float | None
    cumulative_incremental_value: float
    missing: str | None = None


@dataclass(frozen=True)
class Decision(_Data):
    """Whom to treat: `target` True recommends the top `fraction` by predicted uplift; the estimates are
    totals over the rows (outcome, or value net of cost), measured on rows not used to choose."""

    target: bool
    fraction: float
    people: int
    learner: str
    beats_no_one: Estimate
    beats_everyone: Estimate
    treat_everyone: Estimate
    treat_everyone_pays: bool
    chosen_on_halves: tuple[dict[str, Any], ...]
    budget_limited: bool
    rule: str
    break_even_decile: int = 0
    expected_profit: float = 0.0
    withheld: str = ""  # why a targeting recommendation was withheld (likely clusters not given), else ""


@dataclass(frozen=True)
class UpliftResult(_Data):
    """The whole analysis; see services/analytics/uplift.py for the pipeline and docs/analytics.md."""

    rows: Rows
    treatment_label: str
    outcome: str
    outcome_kind: str  # "binary" or "numeric"
    balance: Balance
    ate: Estimate
    learner: str
    learners: dict[str, dict[str, float]]
    qini_auc: float
    qini_auc_ci: tuple[float, float] | None
    qini_bootstrap: dict[str, Any]
    uplift_auc: float | None
    uplift_at_k: dict[str, float | None]
    deciles: tuple[Decile, ...]
    curves: dict[str, Any]
    features: tuple[str, ...]
    skipped_columns: tuple[str, ...]
    column_kinds: dict[str, dict[str, str]]
    kind_notes: tuple[str, ...]
    training: dict[str, Any]
    conventions: str
    drivers: tuple[Driver, ...]
    recommendation: Decision
    cost: float | None
    budget: int | None
    value_kind: str  # "money", "successes" or "outcome"
    value_name: str  # what the totals sum: the outcome's or the revenue column's name
    cluster: Clustering
    warnings: tuple[str, ...]
    control_label: str | None = None  # the treatment column's other value (the control arm)
    treated_why: str | None = None  # why treatment_label is the treated arm (e.g. "'Obs' reads as the control")
    success_label: str | None = None  # the outcome value counted as a success, when the outcome is text or chosen
    # Which way the outcome is better: "higher" or "lower" (better=); better_source "given", "named" (a success
    # named by success= or like one, 'good') or "assumed" (the card then says so). With "lower", the decision's
    # totals, the Qini coefficient and uplift AUC are improvements (fewer of the outcome); the average effect,
    # uplift@k, deciles and drivers stay in the outcome's own units (negative: fewer).
    better: str = "higher"
    better_source: str = "assumed"
    summary: tuple[str, ...] = field(default=())
