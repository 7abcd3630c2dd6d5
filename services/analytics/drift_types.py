"""Typed results of a drift analysis (services/analytics/drift.py): frozen dataclasses read by attribute (the
card, the wording, the chart, monitors) and turned by `to_dict()` into the plain data the CLI's `--json`
prints (keys documented in docs/analytics.md). Plain data, no behaviour beyond reading it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.analytics.results import Data, plain

WASSERSTEIN, JENSEN_SHANNON = "wasserstein_normalized", "jensen_shannon"


@dataclass(frozen=True)
class Sides(Data):
    """One quantity on each side: the reference table's and the current table's."""

    reference: Any
    current: Any


@dataclass(frozen=True)
class CategoryShare(Data):
    """A category's share of the rows on each side (a categorical column's largest moves)."""

    category: str
    reference_share: float
    current_share: float


@dataclass(frozen=True)
class DriftColumn(Data):
    """One shared column's comparison and verdict.

    Every column: `name`, `kind` (numeric, categorical, boolean, datetime, identifier, text), `kind_detail`,
    `missing_share` (Sides of shares in [0, 1]), `new_categories` (values only the current table has),
    `drifted`, `reason` (the findings joined by "; ", or why the column is not tested), `missing_p_value` (a
    two-proportion test) and its adjusted value, and `note` ("" or why numbers disagree).
    A tested column has `effect` naming its effect size: "wasserstein_normalized" (numeric: KS test,
    Wasserstein over the reference sd, PSI, mean shift in reference sds, None when the reference is constant)
    or "jensen_shannon" (categorical and boolean: chi-square test of homogeneity, Jensen–Shannon distance,
    PSI, top_changes, the new categories' share and binomial p-value); `p_value_adjusted` (across all the
    analysis's decisions) and the `threshold` its effect size is held to. Dates carry `date_range` (Sides of
    ISO [first, last]), `recency_days`, `current_inside_reference_range` and `largest_gap_days` (Sides).
    With `cluster=`, `clusters` (Sides of cluster counts) and `test` says the test is on cluster summaries.
    Fields of another kind are None and absent from `to_dict()`."""

    name: str
    kind: str
    kind_detail: str
    missing_share: Sides
    new_categories: tuple[str, ...]
    drifted: bool
    reason: str
    missing_p_value: float
    # numeric and categorical tests
    p_value: float | None = None
    test: str | None = None
    psi: float | None = None
    effect: str | None = None
    ks_statistic: float | None = None
    wasserstein: float | None = None
    wasserstein_normalized: float | None = None
    mean_shift_sd: float | None = None
    ks_error_bound: float | None = None  # the summaries path (Spark): bounds of its approximations
    wasserstein_error_bound: float | None = None
    reference_constant: bool | None = None
    reference_mean: float | None = None
    current_mean: float | None = None
    reference_range: tuple[float, float] | None = None
    current_range: tuple[float, float] | None = None
    chi2: float | None = None
    dof: int | None = None
    jensen_shannon: float | None = None
    top_changes: tuple[CategoryShare, ...] | None = None
    new_category_share: float | None = None
    new_category_p_value: float | None = None
    # dates
    date_range: Sides | None = None
    recency_days: float | None = None
    current_inside_reference_range: float | None = None
    largest_gap_days: Sides | None = None
    # the decision
    p_value_adjusted: float | None = None
    missing_p_value_adjusted: float | None = None
    new_category_p_value_adjusted: float | None = None
    threshold: float | None = None
    clusters: Sides | None = None
    note: str = ""

    @property
    def tested(self) -> bool:
        """True when the column has a test (numeric or categorical), False for dates, ids and empty sides."""
        return self.p_value is not None

    @property
    def effect_size(self) -> float:
        """Return the value of the effect size named by `effect` (0.0 for an untested column)."""
        value = getattr(self, self.effect) if self.effect else None
        return 0.0 if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        """Return the column as plain data: the fields of its kind (see the class docstring), in a fixed order."""
        keys = ["name", "kind", "kind_detail", "missing_share", "new_categories", "drifted", "reason",
                "missing_p_value"]  # fmt: skip
        if self.effect == WASSERSTEIN:
            keys += ["ks_statistic", "p_value", "test", "wasserstein", "wasserstein_normalized", "psi",
                     "mean_shift_sd", "reference_constant", "reference_mean", "current_mean", "reference_range",
                     "current_range", "effect"]  # fmt: skip
            keys += [k for k in ("ks_error_bound", "wasserstein_error_bound") if getattr(self, k) is not None]
        elif self.effect == JENSEN_SHANNON:
            keys += ["chi2", "dof", "p_value", "test", "jensen_shannon", "psi", "top_changes", "new_category_share",
                     "new_category_p_value", "effect"]  # fmt: skip
        if self.date_range is not None:
            keys += ["date_range", "recency_days", "current_inside_reference_range", "largest_gap_days"]
        keys += [k for k in ("p_value_adjusted", "missing_p_value_adjusted", "new_category_p_value_adjusted",
                             "threshold", "clusters") if getattr(self, k) is not None]  # fmt: skip
        if self.note:
            keys.append("note")
        return {key: plain(getattr(self, key)) for key in keys}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftColumn:
        """Return the column from the plain data of `to_dict()` (or the analysis's working dict)."""
        values = dict(data)
        values["missing_share"] = Sides(**data["missing_share"])
        values["new_categories"] = tuple(data.get("new_categories", ()))
        for key in ("reference_range", "current_range"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        if data.get("top_changes") is not None:
            values["top_changes"] = tuple(CategoryShare(**change) for change in data["top_changes"])
        for key in ("date_range", "largest_gap_days", "clusters"):
            if data.get(key) is not None:
                sides = data[key]
                values[key] = Sides(*(tuple(v) if isinstance(v, list) else v
                                      for v in (sides["reference"], sides["current"])))  # fmt: skip
        return cls(**values)


@dataclass(frozen=True)
class Importance(Data):
    """A column's permutation importance: the mean drop in ROC AUC when it is shuffled."""

    name: str
    importance: float


@dataclass(frozen=True)
class Adversarial(Data):
    """Adversarial validation: a classifier telling current rows (1) from reference rows (0). `auc` is the
    out-of-fold ROC AUC over `folds` folds, `auc_ci` its 95% interval (Hanley–McNeil, or Obuchowski's
    clustered error with cluster=; widened by Nadeau and Bengio's factor), `separable` the claim (interval
    clear of 0.5 and AUC ≥ the gate); `rows` the rows used per side; `importances` strongest first;
    `sole_separator` a column carrying nearly all the separation, a `leakage_suspects` member only when it is
    id-like or a counter that follows the rows."""

    auc: float
    auc_ci: tuple[float, float]
    separable: bool
    folds: int
    rows: Sides
    importances: tuple[Importance, ...]
    leakage_suspects: tuple[str, ...]
    sole_separator: str | None


@dataclass(frozen=True)
class Rename(Data):
    """A dropped and an added column that look like one column renamed; `why` says what matched."""

    old: str
    new: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        """Return {"from", "to", "why"}."""
        return {"from": self.old, "to": self.new, "why": self.why}


@dataclass(frozen=True)
class TypeChange(Data):
    """A shared column stored as another type: boolean, dates, numbers or text on each side."""

    name: str
    reference: str
    current: str


@dataclass(frozen=True)
class Schema(Data):
    """Columns only in the reference (`dropped`), only in the current table (`added`), renamed-looking pairs
    and shared columns whose storage changed."""

    dropped: tuple[str, ...]
    added: tuple[str, ...]
    renamed: tuple[Rename, ...]
    type_changed: tuple[TypeChange, ...]

    @property
    def changed(self) -> bool:
        """True when any schema change was found."""
        return bool(self.dropped or self.added or self.renamed or self.type_changed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Return the schema changes from services/analytics/drift_schema.py's plain data."""
        return cls(tuple(data["dropped"]), tuple(data["added"]),
                   tuple(Rename(p["from"], p["to"], p["why"]) for p in data["renamed"]),
                   tuple(TypeChange(**c) for c in data["type_changed"]))  # fmt: skip


@dataclass(frozen=True)
class DriftRows(Data):
    """Rows of each table, and those used after uniform sampling (`sampled` True when either was sampled)."""

    reference: int
    current: int
    sampled: bool
    reference_used: int
    current_used: int


@dataclass(frozen=True)
class Clustering(Data):
    """How rows are grouped: `column` the cluster column used (None: rows treated as independent), `clusters`
    per side; `suspected` id-like columns that repeat like entities (stores, patients) but were not used,
    named in a warning."""

    column: str | None
    clusters: Sides | None
    suspected: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftResult(Data):
    """The whole drift analysis of a current table against a reference (see services/analytics/drift.py).

    `dataset_drift` is the verdict (any column drifted); `drift_share` the drifted share of tested columns;
    `columns` every shared column, drifted first then by effect size; `rules` the decision rules in words;
    `adversarial` None with `tests_only` or nothing to train on; `summary` the plain-language reading;
    `cluster` present in `to_dict()` only when a cluster column was used or one is suspected."""

    rows: DriftRows
    schema: Schema
    dataset_drift: bool
    drift_share: float
    columns: tuple[DriftColumn, ...]
    rules: dict[str, Any]
    adversarial: Adversarial | None
    kind_notes: tuple[str, ...]
    cluster: Clustering = Clustering(None, None)
    warnings: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    approximations: dict[str, Any] | None = None  # the summaries path (Spark): which statistics are bounded
    engine: str | None = None  # "spark" when the summaries were computed by Spark (None: this process)

    @property
    def schema_changed(self) -> bool:
        """True when columns were added, dropped, renamed or changed type."""
        return self.schema.changed

    @property
    def drifted(self) -> tuple[DriftColumn, ...]:
        """Return the drifted columns, largest effect first."""
        return tuple(c for c in self.columns if c.drifted)

    def column(self, name: str) -> DriftColumn | None:
        """Return the column named `name`, or None."""
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the analysis as plain data (the CLI's `--json`)."""
        data = {"rows": plain(self.rows), "schema": plain(self.schema), "schema_changed": self.schema_changed,
                "dataset_drift": self.dataset_drift, "drift_share": self.drift_share,
                "columns": plain(self.columns), "rules": plain(self.rules), "adversarial": plain(self.adversarial),
                "kind_notes": list(self.kind_notes)}  # fmt: skip
        if self.cluster.column or self.cluster.suspected:
            data["cluster"] = plain(self.cluster)
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.approximations is not None:
            data["approximations"] = plain(self.approximations)
        data["summary"] = list(self.summary)
        if self.engine is not None:
            data["engine"] = self.engine
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftResult:
        """Return the result from the plain data of `to_dict()` (an EMR job's JSON line)."""
        found = data.get("adversarial")
        adversarial = None if found is None else Adversarial(
            found["auc"], tuple(found["auc_ci"]), found["separable"], found["folds"], Sides(**found["rows"]),
            tuple(Importance(**i) for i in found["importances"]), tuple(found["leakage_suspects"]),
            found["sole_separator"],
        )  # fmt: skip
        cluster = data.get("cluster") or {"column": None, "clusters": None}
        return cls(
            rows=DriftRows(**data["rows"]), schema=Schema.from_dict(data["schema"]),
            dataset_drift=data["dataset_drift"], drift_share=data["drift_share"],
            columns=tuple(DriftColumn.from_dict(c) for c in data["columns"]), rules=dict(data["rules"]),
            adversarial=adversarial, kind_notes=tuple(data["kind_notes"]),
            cluster=Clustering(cluster["column"], None if cluster["clusters"] is None else Sides(**cluster["clusters"]),
                               tuple(cluster.get("suspected", ()))),
            warnings=tuple(data.get("warnings", ())), summary=tuple(data["summary"]),
            approximations=data.get("approximations"), engine=data.get("engine"),
        )  # fmt: skip
