"""The sentences of an uplift analysis, read from its typed result (services/analytics/uplift_types.py).

Conventions: totals name what they sum (successes of the outcome, the outcome's own units, or the value
column) and say "loses" rather than "adds -1,488"; an estimate without an interval says why; percentages of
a total are printed only when that total is clearly above 0.
"""

from __future__ import annotations

import math

from services.analytics.uplift_types import Decile, DriverGroup, Estimate, UpliftResult
from services.analytics.wording import short
from services.analytics.wording import signed as _signed
from services.quoting import quote


def group_name(value: object) -> str:
    """Return a group's value as the data spells it: 0/1 codes as '0' and '1', not '0.0' and '1.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lower_better(result: UpliftResult) -> bool:
    """Whether the totals are said as cuts of the outcome (better=lower, outcome or successes, not money)."""
    return result.better == "lower" and result.value_kind != "money"


def counted(result: UpliftResult) -> str:
    """Return what a lower-is-better total counts: "rows with 'status' = '1'" or "total 'y'"."""
    name = f"'{quote(result.value_name, 40)}'"
    if result.value_kind == "successes":
        return f"rows with {name} = '{quote(result.success_label or '1', 30)}'"
    return f"total {name}"


def unit(result: UpliftResult) -> str:
    """Return what a total sums, e.g. "successes (paid = 1)", "of math (summed)", "in amount_due"; with
    better=lower, what it counts and that lower is better."""
    name = f"'{quote(result.value_name, 40)}'"
    if lower_better(result):
        return f"{counted(result)}; lower is better"
    if result.value_kind == "successes":
        return (
            f"successes ({name} = '{quote(result.success_label, 30)}')"
            if result.success_label
            else f"successes of {name}"
        )
    if result.value_kind == "money":
        return f"in {name}" + (" net of cost" if result.cost else "")
    return f"in total {name}"


def _amount(value: float, kind: str) -> str:
    """Return a total for people: money, successes and large totals as whole numbers, small ones with 4 digits."""
    if kind == "outcome" and abs(value) < 1000:
        return f"{value:,.4g}"
    return f"{abs(value):,.0f}" if round(value) == 0 else f"{'-' if value < 0 else ''}{abs(value):,.0f}"


def _signed_amount(value: float, kind: str) -> str:
    text = _amount(value, kind)
    return text if text.startswith("-") else f"+{text}"


def total_text(estimate: Estimate, kind: str, what: str, gain: str = "adds") -> str:
    """Return "adds 120 successes of 'paid' (95% interval +80 to +160)", "loses 1,488 … (95% interval: a loss
    of 900 to 2,000)", or the estimate with the reason it has no interval."""
    value = estimate.estimate
    verb = "loses" if _amount(value, kind).startswith("-") else gain
    head = f"{verb} {_amount(abs(value), kind)} {what}"
    if estimate.ci is None:
        return f"{head} (no interval: {estimate.reason})"
    low, high = estimate.ci
    if verb == "loses" and high < 0:
        return f"{head} (95% interval: a loss of {_amount(-high, kind)} to {_amount(-low, kind)})"
    return f"{head} (95% interval {_signed_amount(low, kind)} to {_signed_amount(high, kind)})"


def cut_text(estimate: Estimate, kind: str, what: str) -> str:
    """Return a lower-is-better total from its improvement: "cuts total 'y' by 146.5 (95% interval of the
    change −1,531 to +1,238)", "raises … by …" when it got worse; the interval in the outcome's own units."""
    change = -estimate.estimate
    head = f"{'raises' if _amount(change, kind).lstrip('-') != '0' and change > 0 else 'cuts'} {what} by " + _amount(
        abs(change), kind
    )
    if estimate.ci is None:
        return f"{head} (no interval: {estimate.reason})"
    low, high = -estimate.ci[1], -estimate.ci[0]
    return f"{head} (95% interval of the change {_signed_amount(low, kind)} to {_signed_amount(high, kind)})"


def fact_text(estimate: Estimate, kind: str, sign: float = 1.0) -> str:
    """Return a card fact: "+1,234 (95% CI +800 to +1,600)" or "+0 (no interval: <reason>)"; `sign` -1 turns an
    improvement of a lower-is-better outcome back into its change (−146.5: fewer)."""
    if estimate.estimate == 0 and estimate.se == 0 and estimate.ci == (0.0, 0.0):
        return "0 (nothing to compare: the share chosen is everyone or no one)"  # an empty group, not a certainty
    head = _signed_amount(sign * estimate.estimate, kind)
    if estimate.ci is None or not all(math.isfinite(v) for v in estimate.ci):
        return f"{head} (no interval: {estimate.reason or 'too few rows in an arm'})"
    low, high = sorted(sign * v for v in estimate.ci)
    return f"{head} (95% CI {_signed_amount(low, kind)} to {_signed_amount(high, kind)})"


def decile_text(decile: Decile, binary: bool) -> str:
    """Return a decile's uplift, or "n/a" with the reason (an arm without rows in it)."""
    if decile.uplift is None:
        return f"n/a ({decile.missing})"
    return _signed(decile.uplift, binary)


def deciles_text(last: int) -> str:
    return "Decile 1 pays" if last == 1 else f"Deciles 1–{last} each pay"


def group_text(name: str, split: str, group: DriverGroup) -> str:
    name = short(name, 40)
    if split == "categories":
        return f"{name} is '{short(group.group, 30)}'"
    return f"{name} is {short(group.group, 30)} its {split}"


def direction(name: str, split: str, best: DriverGroup, worst: DriverGroup, binary: bool) -> str:
    return (f"effect {_signed(best.effect, binary)} when {group_text(name, split, best)}, "
            f"{_signed(worst.effect, binary)} when {group_text(name, split, worst)}")  # fmt: skip


ZERO_ONE = ({"0", "1"}, {"0.0", "1.0"}, {"False", "True"}, {"false", "true"})


def repr_name(name: str) -> str:
    return f"'{quote(name, 40)}'"


def effect_of(r: UpliftResult) -> str:
    """Return what the average effect compares: "treatment" for 0/1 arms, else the arms' values, and for a text
    outcome the value counted ("treatment ('treatment' against 'placebo') on the share of 'status' = 'good'")."""
    text = "treatment"
    if r.control_label is not None and {r.treatment_label, r.control_label} not in ZERO_ONE:
        text += f" ('{quote(r.treatment_label, 30)}' against '{quote(r.control_label, 30)}')"
    if r.success_label is not None:
        text += f" on the share of '{quote(r.outcome, 40)}' = '{quote(r.success_label, 30)}'"
    return text


def arms_text(r: UpliftResult) -> str:
    """Return which arm is which: "Treated 'Lev+5FU' (304 rows) against control 'Obs' (315 rows): 'Obs' reads as
    the control (treated=<value> to change it)."."""
    b = r.balance
    text = (f"Treated '{quote(r.treatment_label, 30)}' ({b.treated:,} rows) against control "
            f"'{quote(r.control_label or 'the rest', 30)}' ({b.control:,} rows)")  # fmt: skip
    if r.treated_why:
        text += f": {r.treated_why}" + ("" if "treated=" in r.treated_why else " (treated=<value> to change it)")
    return text + "."


def direction_note(r: UpliftResult) -> str | None:
    """Return the one line saying which way the outcome was assumed better, when nothing said so (a number, or
    a neutral 1/yes counted): None when better= was given or the success is named like one ('good')."""
    if r.better_source != "assumed":
        return None
    name = quote(r.outcome, 40)
    if r.outcome_kind == "binary":
        value = quote(r.success_label or "1", 30)
        return (f"Assuming '{name}' = '{value}' is the good outcome; say better=lower if it is the bad one "
                "(a death, a relapse, a churn).")  # fmt: skip
    return f"Assuming a higher '{name}' is better; say better=lower if not (seizures, costs, days ill)."


def _total(r: UpliftResult, estimate: Estimate) -> str:
    kind = r.value_kind
    if lower_better(r):
        return cut_text(estimate, kind, ("the number of " if kind == "successes" else "") + counted(r))
    return total_text(estimate, kind, unit(r), "earns" if kind == "money" else "adds")


def verdict(r: UpliftResult) -> str:
    rec = r.recommendation
    if rec.withheld:
        return f"No targeting recommendation: {rec.withheld}."
    if rec.target:
        return (
            f"Treat the top {rec.fraction:.0%} ({rec.people:,} people) by predicted uplift: measured on rows "
            f"not used to choose it, that {_total(r, rec.beats_no_one)} over treating no one, "
            f"and {_total(r, rec.beats_everyone)} over treating everyone."
        )
    everyone = _total(r, rec.treat_everyone)
    if rec.treat_everyone_pays:
        return (
            f"The experiment shows no targeting value: treating everyone {everyone}, and no share chosen by the "
            "model reliably beats that."
        )
    return (
        f"The experiment shows no targeting value, and no evidence that treatment pays: treating everyone "
        f"{everyone}, and no share chosen by the model reliably beats treating no one."
    )


def follows_arm_text(name: str, values: int) -> str:
    """Return why a column that changes with the arm is left out: a recoding of it, or values chosen per arm."""
    shown = quote(name, 40)
    if values <= 2:
        return f"'{shown}' is the arm spelled another way (one value per arm): it is left out of the features."
    return (f"'{shown}' changes with the arm (each of its {values:,} values is in one arm only): it reads as part of "
            "the treatment (e.g. names chosen for each arm), not as the unit randomised, so it is neither a cluster "
            f"nor a feature. If whole groups were assigned by {shown}, say cluster={shown}.")  # fmt: skip


def cluster_sentence(r: UpliftResult) -> str | None:
    """Return how rows were grouped, when they were: the intervals and checks are by cluster."""
    c = r.cluster
    if c.column is None:
        return None
    how = "as you asked" if c.source == "given" else "because the arm is (nearly) constant within its values"
    return (
        f"Rows are grouped by '{quote(c.column, 40)}' ({c.clusters:,} clusters, {how}): intervals are "
        "cluster-robust (CR2, cluster bootstrap for Qini) and the held-out checks split whole clusters."
    )


def summarise(r: UpliftResult) -> tuple[str, ...]:
    """Return the plain-language reading: the verdict the data supports first, then the evidence."""
    says = [verdict(r), arms_text(r)]
    if r.rows.dropped:
        why = [f"{n:,} {what}" for n, what in ((r.rows.no_treatment, "have no treatment arm"),
                                              (r.rows.no_outcome, "no outcome")) if n]  # fmt: skip
        says.append(f"{r.rows.dropped:,} of {r.rows.total:,} rows were left out: {' and '.join(why)}.")
    note = direction_note(r)
    if note:
        says.append(note)
    binary = r.outcome_kind == "binary"
    rec = r.recommendation
    clustered = cluster_sentence(r)
    if clustered:
        says.append(clustered)
    if not r.balance.randomized_looking:
        says.append(r.warnings[0])
    ate = r.ate
    per = "" if binary else " per row"
    if r.better == "lower":
        fewer = "fewer" if ate.estimate < 0 else "more" if ate.estimate > 0 else "no change in"
        per += f", {fewer} {counted(r) if binary else repr_name(r.outcome)}: lower is better"
    if ate.ci is None:
        says.append(f"Average effect of {effect_of(r)}: {_signed(ate.estimate, binary)}{per} (no interval: "
                    f"{ate.reason}).")  # fmt: skip
    else:
        low, high = ate.ci
        says.append(f"Average effect of {effect_of(r)}: {_signed(ate.estimate, binary)}{per} (95% interval "
                    f"{_signed(low, binary)} to {_signed(high, binary)}).")  # fmt: skip
    if r.qini_auc_ci is not None:
        lo, hi = r.qini_auc_ci
        says.append(f"Qini coefficient {r.qini_auc:.3f} (95% interval {lo:.3f} to {hi:.3f}) with the "
                    f"{r.learner.replace('_', '-')}.")  # fmt: skip
    if rec.target and rec.break_even_decile and r.cost:
        says.append(f"{deciles_text(rec.break_even_decile)} for their own treatment cost.")
    if not r.deciles:
        says.append("The model found no differences to rank by: every row has the same predicted uplift, so no "
                    "deciles or uplift@k are shown.")  # fmt: skip
    sign = -1.0 if r.better == "lower" else 1.0  # the top decile's share of the improvement, in either direction
    top, total = (r.deciles[0], sign * r.deciles[-1].cumulative_incremental) if r.deciles else (None, 0.0)
    share = sign * top.uplift * top.rows / total if top is not None and top.uplift is not None and total > 0 else None
    if ate.ci is not None and min(sign * v for v in ate.ci) > 0 and share is not None and 0 < share <= 1:
        gain = "the reduction" if r.better == "lower" else "the incremental outcome"
        says.append(f"The top 10% by predicted uplift holds {share:.0%} of {gain}.")
    if r.drivers:
        says.append("The effect differs by " + "; ".join(
            f"{short(d.name, 40)} (weight {d.weight:.2f}: {d.direction})" for d in r.drivers[:3]) + ".")  # fmt: skip
    else:
        says.append("No feature passes the Holm-adjusted test of a changing effect at 2.5%, so no drivers are named; "
                    "weaker modifiers may still exist, this test has little power for them.")  # fmt: skip
    return tuple(says + [w for w in r.warnings if w not in says] + list(r.kind_notes))
