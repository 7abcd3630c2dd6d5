"""How a drift analysis is worded: the verdict, what moved and by how much, how sure we are, and why a number
that looks large does not count. Plain functions of the result (services/analytics/drift.py), no maths."""

from __future__ import annotations

import re

from services.analytics.drift_types import WASSERSTEIN, DriftColumn, DriftResult, Schema
from services.analytics.wording import readable, short

PSI_MODERATE, PSI_LARGE = 0.1, 0.25  # the industry rule of thumb: < 0.1 small, 0.1–0.25 moderate, > 0.25 large
ADVERSARIAL_AUC_GATE = 0.55  # adversarial validation's effect-size gate, beside its interval


def psi_reading(value: float) -> str:
    """Return the usual reading of a PSI value."""
    return "small" if value < PSI_MODERATE else "moderate" if value <= PSI_LARGE else "large"


def _name(column: DriftColumn) -> str:
    return f"'{short(column.name, 40)}'"


def _effect_label(column: DriftColumn) -> str:
    return "normalised Wasserstein" if column.effect == WASSERSTEIN else "Jensen–Shannon distance"


def _test(column: DriftColumn) -> str:
    test = column.test or ""
    return test if "test" in test else f"{test} test"


def psi_caveat(column: DriftColumn, alpha: float = 0.05) -> str:
    """Return why a moderate or large PSI of a column that did not drift does not count ("" when there is
    nothing to explain): PSI does not gate; the test or the effect size decides."""
    if column.drifted or (column.psi or 0.0) < PSI_MODERATE or column.p_value_adjusted is None:
        return ""
    if column.p_value_adjusted >= alpha:
        return (f"the {_test(column)} is not significant (adjusted p {column.p_value_adjusted:.2g}): the sample "
                "is too small to tell this from noise")  # fmt: skip
    return (f"the {_effect_label(column)} is only {column.effect_size:.3f}, under {column.threshold}: "
            "the shift is too small to matter")  # fmt: skip


def _psi_miss(column: DriftColumn) -> str:
    """Return why PSI stays small where the test and the effect size see drift, true for the column's kind."""
    if column.kind == "numeric":
        return ("PSI compares shares in ten wide bins, which a steady shift of the whole distribution barely "
                "moves")  # fmt: skip
    # one bin per category: PSI is Σ (change in share) × ln(ratio of shares), which grows with the square of
    # the change, so a shift of a few points that the Jensen–Shannon distance already counts stays under 0.1
    return ("PSI compares the share of each category, and a move of a few points between categories, which the "
            "test finds in this many rows, adds little to it")  # fmt: skip


def verdict_notes(column: DriftColumn, alpha: float) -> str:
    """Return the note on a tested column whose numbers disagree ("" when they agree): drift that PSI would miss,
    a significant test with a negligible effect, or a moderate or large PSI that does not count (and why)."""
    if column.p_value_adjusted is None or column.threshold is None or column.psi is None:
        return ""
    label, effect, psi = _effect_label(column), column.effect_size, column.psi
    significant, large = column.p_value_adjusted < alpha, effect >= column.threshold
    if significant and large and psi < PSI_MODERATE:
        return (f"{_name(column)}: the {_test(column)} and the {label} agree on drift while PSI is {psi:.3f} "
                f"(small): {_psi_miss(column)}, so PSI alone would miss it.")  # fmt: skip
    if column.drifted:
        return ""
    if significant:
        return (f"{_name(column)}: the {_test(column)} is significant (adjusted p {column.p_value_adjusted:.2g}) "
                f"but the {label} is only {effect:.3f}, under {column.threshold}: with this many rows the test "
                f"detects a shift too small to matter (PSI {psi:.3f}, {psi_reading(psi)}"
                + (", which does not decide drift here" if psi >= PSI_MODERATE else "") + ").")  # fmt: skip
    if psi >= PSI_MODERATE:
        return (f"{_name(column)}: PSI {psi:.3f} ({psi_reading(psi)}) does not count: {psi_caveat(column, alpha)} "
                "(PSI does not decide drift here).")  # fmt: skip
    return ""


def describe(column: DriftColumn) -> str:
    """Return what moved in a drifted column, in its own units where the reference had no spread."""
    name = _name(column)
    if column.kind == "numeric" and column.reference_constant and column.current_range:
        low, high = column.current_range
        if low == high:  # constant on both sides: "now mean 7 (from 7 to 7)" said one value three times
            before = readable(column.reference_mean)
            return f"{name} was constant at {before} in the reference; now constant at {readable(low)}"
        return (f"{name} was constant at {readable(column.reference_mean)} in the reference; now mean "
                f"{readable(column.current_mean)} (from {readable(low)} to {readable(high)})")  # fmt: skip
    if column.kind == "numeric" and column.mean_shift_sd is not None:
        shift = column.mean_shift_sd
        return (f"{name} mean {'up' if shift >= 0 else 'down'} {abs(shift):.2f} sd "
                f"({readable(column.reference_mean)} → {readable(column.current_mean)})")  # fmt: skip
    if column.kind == "boolean" and column.top_changes:  # read as 0/1 whatever the spelling: say the 'yes' share
        change = next((c for c in column.top_changes if c.category == "1"), column.top_changes[0])
        shares = (change.reference_share, change.current_share)
        if change.category != "1":
            shares = (1 - shares[0], 1 - shares[1])
        return f"{name}: share of yes (true, 1) from {shares[0]:.0%} to {shares[1]:.0%}"
    if column.top_changes:
        change = column.top_changes[0]
        return (f"{name}: share of '{short(change.category, 30)}' from {change.reference_share:.0%} to "
                f"{change.current_share:.0%}")  # fmt: skip
    return name


def effect_text(column: DriftColumn) -> str:
    """Return a column's effect sizes on one line (the card's table), with why a large PSI does not count."""
    if column.kind == "datetime" and column.date_range is not None:
        r, c = column.date_range.reference, column.date_range.current
        return f"{r[0][:10]} to {r[1][:10]} → {c[0][:10]} to {c[1][:10]} (ends {column.recency_days:+,.0f} days)"
    if column.psi is None or column.p_value_adjusted is None:
        return column.reason
    if column.wasserstein_normalized is not None:
        if column.reference_constant:
            before, after = readable(column.reference_mean), readable(column.current_mean)
            line = (f"constant {before} in the reference → mean {after} · "
                    f"PSI {column.psi:.3f} · adj. p {column.p_value_adjusted:.2g}")  # fmt: skip
        else:
            line = (f"Wasserstein {column.wasserstein_normalized:.3f} sd · mean {column.mean_shift_sd:+.2f} sd"
                    f" · PSI {column.psi:.3f} · adj. p {column.p_value_adjusted:.2g}")  # fmt: skip
    elif column.jensen_shannon is not None:
        line = f"JS {column.jensen_shannon:.3f} · PSI {column.psi:.3f} · adj. p {column.p_value_adjusted:.2g}"
    else:
        return column.reason
    caveat = psi_caveat(column)
    return line + (f" (PSI {psi_reading(column.psi)} but does not count: {caveat})" if caveat else "")


def schema_sentence(schema: Schema) -> str:
    """Return one sentence on the schema changes ("" when there are none)."""
    parts = []
    names = lambda items: ", ".join(f"'{short(n, 40)}'" for n in items[:6]) + (  # noqa: E731
        f" and {len(items) - 6} more" if len(items) > 6 else "")  # fmt: skip
    if schema.dropped:
        parts.append(f"dropped {names(schema.dropped)}")
    if schema.added:
        parts.append(f"added {names(schema.added)}")
    for pair in schema.renamed[:4]:
        looks = "may be renamed" if pair.why == FEW_VALUES_WHY else "looks renamed"
        parts.append(f"'{short(pair.old, 40)}' {looks} to '{short(pair.new, 40)}' ({pair.why})")
    for change in schema.type_changed[:4]:
        parts.append(f"'{short(change.name, 40)}' changed type ({change.reference} → {change.current})")
    return ("Schema changed: " + "; ".join(parts) + ".") if parts else ""


def duration(days: float) -> str:
    """Return a gap for people: "3 days", "1 hour", "15 minutes" (hourly data had "largest gap 0 days")."""
    for size, name in ((1.0, "day"), (1 / 24, "hour"), (1 / 1440, "minute")):
        if days >= size or name == "minute":
            count = round(days / size)
            return f"{count:,} {name}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")


def _dates(column: DriftColumn) -> str:
    assert column.date_range is not None and column.largest_gap_days is not None and column.recency_days is not None
    r, c = column.date_range.reference, column.date_range.current
    gaps = column.largest_gap_days
    # the reading of slashed dates first, before any range that depends on it
    reading = column.kind_detail.split(" (")[0].split(", the same")[0].split(":")[0] if "/" in (
        column.kind_detail or "") else ""  # fmt: skip
    kind = f"dates, read as {reading}" if reading else "dates"
    return (f"{_name(column)} ({kind}): reference {r[0][:10]} to {r[1][:10]}, current {c[0][:10]} to {c[1][:10]}; "
            f"the current table ends {abs(column.recency_days):,.0f} days "
            f"{'later' if column.recency_days >= 0 else 'earlier'}, "
            f"{column.current_inside_reference_range:.0%} of its dates fall in the reference range; largest "
            f"gap between dates {duration(gaps.reference)} (reference) and {duration(gaps.current)} (current)."
            )  # fmt: skip


def _adversarial(result: DriftResult) -> list[str]:
    adversarial = result.adversarial
    if not adversarial:
        return []
    auc, (low, high) = adversarial.auc, adversarial.auc_ci
    top = ", ".join(f"'{short(i.name, 40)}'" for i in adversarial.importances[:3] if i.importance > 0.005)
    if adversarial.separable:  # the wording follows the interval and the gate, not the estimate
        reading = "a model can tell the tables apart" + (f", mostly by {top}" if top else "")
    elif low > 0.5:
        reading = (f"a model tells the tables apart only barely (AUC under {ADVERSARIAL_AUC_GATE}): no practical "
                   "difference")  # fmt: skip
    elif high < 0.5:  # below chance, interval and all: held-out folds learn the opposite side of shared rows
        reading = ("below 0.5, interval and all: the tables share most rows (a row in both tables cannot be told "
                   "apart, so a model trained on the others predicts the wrong table); no evidence of a "
                   "difference")  # fmt: skip
    else:
        reading = "no evidence that a model can tell the tables apart (the interval includes 0.5)"
    says = [f"Adversarial validation: ROC AUC {auc:.3f} (95% CI {low:.3f}–{high:.3f}): {reading}."]
    suspects = adversarial.leakage_suspects
    for name in suspects:
        says.append(f"'{short(name, 40)}' alone separates the tables and looks like an id, a timestamp or a row "
                    "counter (id-like, or counting up with the rows): likely leakage of when rows were collected, "
                    "not drift in what they contain.")  # fmt: skip
    sole = adversarial.sole_separator
    if sole and sole not in suspects and adversarial.separable and sole in (result.cluster.suspected or ()):
        says.append(f"'{short(sole, 40)}' alone separates the tables: each table holds its own '{short(sole, 40)}' "
                    "values, as when the tables hold different entities (see above), not a change within "
                    "them.")  # fmt: skip
    elif sole and sole not in suspects and adversarial.separable:
        column = result.column(sole)
        moved = f" ({describe(column)})" if column else ""
        says.append(
            f"'{short(sole, 40)}' alone separates the tables: a strong change{moved}. It is neither id-like "
            "nor a counter that follows the rows, so it reads as a real change (a trend, a new regime), not leakage."
        )
    return says


# the reason of a few-valued rename claim (drift_schema._renames): said as "may be renamed", not "looks renamed"
FEW_VALUES_WHY = "similar shares only: a column of few values cannot show it is the same variable; check"


def _cut(escaped: str, limit: int) -> str:
    """Return already-escaped text cut to about `limit` characters, never inside an entity or after a lone
    backslash (quoting it again escaped it twice: '&amp;lt;=20' for '<=20', found by fresh27)."""
    if len(escaped) <= limit:
        return escaped
    return re.sub(r"(&[#\w]*|\\)$", "", escaped[: limit - 1]).rstrip() + "…"


def _moved(column: DriftColumn) -> str:
    """Return what moved in a drifted column: its description when its test decided, else its reason."""
    return describe(column) if "significant" in column.reason else f"{_name(column)} {column.reason}"


def summarise(result: DriftResult) -> list[str]:
    """Return the plain-language reading: schema changes first, then the verdict, what moved and by how much,
    dates compared as dates, how sure we are, and why numbers that look large do not count."""
    drifted = list(result.drifted)
    tested = [c for c in result.columns if c.tested or c.drifted]
    says = []
    schema = schema_sentence(result.schema)
    if schema:
        says.append(schema)
    if drifted:
        moved = "; ".join(_moved(c) for c in drifted[:5])
        if len(drifted) > 5:  # every counted column is named: the rest by name and what moved, briefly
            rest = drifted[5:]
            moved += f"; and {len(rest)} more: " + "; ".join(_cut(_moved(c), 90) for c in rest[:20]) + (
                "; … (all in the columns' table)" if len(rest) > 20 else "")  # fmt: skip
        says.append(f"Drift in {len(drifted)} of {len(tested)} tested columns: {moved}.")
    elif schema:
        says.append(f"Beyond the schema change: none of the {len(tested)} tested columns the tables share moved "
                    "beyond the thresholds.")  # fmt: skip
    else:
        says.append(f"No drift: none of the {len(tested)} tested columns moved beyond the thresholds.")
    for column in drifted[:5]:
        extra = [part.strip() for part in column.reason.split(";") if "significant" not in part]
        if extra and "significant" in column.reason:
            says.append(f"{_name(column)} also: {'; '.join(extra)}.")
    if result.cluster.column and result.cluster.clusters is not None:
        says.append(f"Tested at the entity level: rows grouped by '{short(result.cluster.column, 40)}' "
                    f"({result.cluster.clusters.reference:,} reference and {result.cluster.clusters.current:,} "
                    "current entities), p-values from permuting whole entities between the tables.")  # fmt: skip
    says += list(result.warnings)
    says += [_dates(c) for c in result.columns if c.kind == "datetime" and c.date_range is not None][:3]
    says += _adversarial(result)
    # notes that explain a large number first: under "no drift" a large PSI is never shown without its reason
    noted = sorted((c for c in result.columns if c.note), key=lambda c: -(c.psi or 0.0))
    says += [c.note for c in noted[:3]] + list(result.kind_notes)
    if len(noted) > 3:
        more = len(noted) - 3
        says.append(f"{more} more column{'s have' if more > 1 else ' has'} notes: see all columns.")
    if result.rows.sampled:
        says.append(f"Sampled uniformly (seed fixed) to {result.rows.reference_used:,} reference and "
                    f"{result.rows.current_used:,} current rows.")  # fmt: skip
    return says
