"""Data drift: published values, the verdict rule, adversarial validation, leakage, errors, CLI and Teams."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from services.analytics.drift import DriftOptions, adjust, analyse
from services.analytics.errors import AnalyticsError
from services.settings import REPO_ROOT
from tests.conftest import card_of, card_text

REF_COUNTS, CUR_COUNTS = [16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]


def published_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    values = np.arange(1, 7)
    return (pd.DataFrame({"v": np.repeat(values, REF_COUNTS)}), pd.DataFrame({"v": np.repeat(values, CUR_COUNTS)}))


def column(result, name):
    return next(c for c in result.columns if c.name == name)


def test_published_values_as_categories():
    ref, cur = published_tables()
    v = column(analyse(ref, cur, DriftOptions(categorical=("v",), tests_only=True)), "v")
    assert v.psi == pytest.approx(0.037218, abs=1e-6)
    assert v.jensen_shannon == pytest.approx(0.068048, abs=1e-6)


def test_published_values_as_numbers():
    ref, cur = published_tables()
    v = column(analyse(ref, cur, DriftOptions(tests_only=True)), "v")
    assert v.kind == "numeric"
    assert v.wasserstein_normalized == pytest.approx(0.054433, abs=1e-6)
    assert v.p_value == pytest.approx(0.999993, abs=1e-6)
    assert not v.drifted


def test_a_small_shift_is_flagged_by_ks_not_psi_and_the_output_says_why():
    rng = np.random.default_rng(0)
    ref, cur = pd.DataFrame({"x": rng.normal(0, 1, 5000)}), pd.DataFrame({"x": rng.normal(0.2, 1, 5000)})
    result = analyse(ref, cur, DriftOptions(tests_only=True))
    x = column(result, "x")
    assert x.p_value_adjusted < 0.05 and x.psi < 0.1 and x.drifted
    assert "PSI alone would miss it" in x.note and any("PSI alone would miss it" in s for s in result.summary)
    assert "mean up 0.2" in result.summary[0]


def test_chi_square_is_a_two_sample_test():
    ref, cur = pd.DataFrame({"c": list("aab" * 40)}), pd.DataFrame({"c": list("abb" * 40)})
    once = column(analyse(ref, cur, DriftOptions(tests_only=True)), "c").p_value
    twice = column(analyse(pd.concat([ref, ref]), cur, DriftOptions(tests_only=True)), "c").p_value
    assert once != pytest.approx(twice)


def mixed_table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "amount": rng.lognormal(3, 1, n), "score": rng.normal(shift, 1, n), "age": rng.integers(18, 80, n),
        "channel": rng.choice(["web", "mobile", "store"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    table.loc[table.sample(frac=0.01, random_state=seed).index, "amount"] = np.nan
    return table


@pytest.mark.parametrize("seed", range(3))
def test_identical_inputs_never_drift(seed):
    table = mixed_table(3000, seed)
    result = analyse(table, table.copy(), DriftOptions(folds=3))
    assert not result.dataset_drift and all(not c.drifted for c in result.columns)
    assert result.adversarial.auc < 0.56


@pytest.mark.parametrize("seed", range(3))
def test_a_shifted_column_is_among_the_top_importances(seed):
    result = analyse(mixed_table(3000, seed), mixed_table(3000, seed + 100, shift=0.8), DriftOptions(folds=3))
    names = [i.name for i in result.adversarial.importances[:2]]
    assert "score" in names and column(result, "score").drifted
    assert result.adversarial.auc_ci[0] > 0.6


def test_missing_share_and_new_categories_are_findings_of_their_own():
    ref, cur = mixed_table(4000, 1), mixed_table(4000, 2)
    cur.loc[cur.sample(frac=0.09, random_state=3).index, "age"] = np.nan
    cur.loc[cur.sample(frac=0.2, random_state=4).index, "channel"] = "kiosk"
    result = analyse(ref, cur, DriftOptions(tests_only=True))
    age, channel = column(result, "age"), column(result, "channel")
    assert age.drifted and "missing rose from 0.0% to 9.0%" in age.reason
    assert channel.drifted and channel.new_categories == ("kiosk",) and "'kiosk'" in channel.reason


def test_multiple_testing_adjustments():
    p_values = [0.01, 0.02, 0.03, 0.5]
    assert adjust(p_values, "bonferroni") == pytest.approx([0.04, 0.08, 0.12, 1.0])
    assert adjust(p_values, "bh") == pytest.approx([0.04, 0.04, 0.04, 0.5])


def test_a_time_index_carrying_the_auc_is_flagged_as_leakage():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"ts": 1.7e9 + np.arange(3000) * 60.5, "x": rng.normal(size=3000)})
    cur = pd.DataFrame({"ts": 1.8e9 + np.arange(3000) * 60.5, "x": rng.normal(size=3000)})
    result = analyse(ref, cur, DriftOptions(folds=3))
    assert result.adversarial.auc > 0.95 and result.adversarial.leakage_suspects == ("ts",)
    assert any("likely leakage" in line for line in result.summary)


def test_ids_and_dates_are_reported_not_tested_and_large_inputs_are_sampled():
    n = 3000
    ref = pd.DataFrame(
        {"customer_id": np.arange(n), "day": ["2026-01-01"] * n, "x": np.random.default_rng(0).normal(size=n)}
    )
    cur = ref.assign(customer_id=np.arange(n, 2 * n), day="2026-02-01")
    result = analyse(ref, cur, DriftOptions(tests_only=True, max_rows=1000))
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds == {"customer_id": "identifier", "day": "datetime", "x": "numeric"}
    assert not column(result, "customer_id").tested and "not tested" in column(result, "day").reason
    assert result.rows.sampled and result.rows.reference_used == 1000
    assert any("Sampled uniformly" in line for line in result.summary)


def test_bad_input_gets_one_sentence():
    with pytest.raises(AnalyticsError, match="no column in common"):
        analyse(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}))
    with pytest.raises(AnalyticsError, match="no rows"):
        analyse(pd.DataFrame({"a": []}), pd.DataFrame({"a": [1]}))


def test_cli_json_has_the_documented_keys(tmp_path):
    mixed_table(2000, 1).to_parquet(tmp_path / "ref.parquet")
    mixed_table(2000, 2, shift=0.5).to_csv(tmp_path / "cur.csv", index=False)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "services.analytics", "drift", str(tmp_path / "ref.parquet"),
         str(tmp_path / "cur.csv"), "--json", "--chart", str(tmp_path / "d.png")],
        capture_output=True, text=True, timeout=180, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document["rows"]) >= {"reference", "current", "sampled"}
    assert {"dataset_drift", "drift_share", "columns", "adversarial", "summary"} <= set(document)
    score = next(c for c in document["columns"] if c["name"] == "score")
    for key in ("name", "kind", "p_value_adjusted", "missing_share", "new_categories", "drifted", "reason", "psi",
                "wasserstein_normalized", "ks_statistic"):  # fmt: skip
        assert key in score
    assert {"auc", "auc_ci", "importances", "leakage_suspects"} <= set(document["adversarial"])
    assert 0 < (tmp_path / "d.png").stat().st_size <= 1_000_000


async def test_drift_in_teams_with_two_attachments(start_bot):
    bot = await start_bot()
    channel = bot.channel()
    activity = channel.message("drift")
    for name, table in (("january.csv", mixed_table(2000, 1)), ("february.csv", mixed_table(2000, 2, shift=0.6))):
        channel.with_file(activity, name, bot.connector.serve_file(name, table.to_csv(index=False).encode()))
    await bot.post(activity)
    await bot.settle()
    card = card_of(bot.connector.messages()[-1])
    assert card_text(card).startswith("Data drift detected: february.csv against january.csv")
    assert "Adversarial ROC AUC" in json.dumps(card) and card["actions"][0]["title"] == "Show all columns"
    single = channel.with_file(channel.message("drift"), "one.csv", bot.connector.serve_file("one.csv", b"a\n1\n"))
    await bot.post(single)
    await bot.settle()
    assert "needs two tables" in bot.connector.messages()[-1].body["text"]


@pytest.mark.parametrize("rounding", [None, 1])
def test_our_ks_and_wasserstein_equal_scipy(rounding):
    from scipy import stats

    from services.analytics.drift import ks_and_wasserstein

    rng = np.random.default_rng(11)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0.05, 1.1, 30_000)
    if rounding is not None:  # many ties
        a, b = np.round(a, rounding), np.round(b, rounding)
    statistic, p_value, wasserstein = ks_and_wasserstein(a, b)
    reference = stats.ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(reference.statistic, abs=1e-12)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_noise_in_rare_values_and_missing_shares_is_not_drift():
    """Names with thousands of values are new in every sample, and 100-row missing shares wobble: no drift."""
    rng = np.random.default_rng(11)

    def sample(rows: int) -> pd.DataFrame:
        frame = pd.DataFrame({"name": [f"person {i}" for i in rng.integers(0, 20_000, rows)],
                              "x": rng.normal(size=rows)})  # fmt: skip
        frame.loc[rng.random(rows) < 0.05, "x"] = np.nan
        return frame

    for rows in (100, 2_000):
        result = analyse(sample(rows), sample(rows), DriftOptions(tests_only=True))
        assert not result.dataset_drift, result.columns
        assert result.summary[0].startswith("No drift")


def test_adversarial_wording_follows_its_interval_and_its_gate():
    from services.analytics.drift import summarise
    from services.analytics.drift_types import Adversarial, DriftResult, DriftRows, Schema, Sides

    base = DriftResult(DriftRows(10, 10, False, 10, 10), Schema((), (), (), ()), False, 0.0, (), {}, None, ())

    def said(auc: float, low: float, high: float, separable: bool) -> str:
        adversarial = Adversarial(auc, (low, high), separable, 3, Sides(10, 10), (), (), None)
        return " ".join(summarise(replace(base, adversarial=adversarial)))

    assert "no evidence that a model can tell the tables apart" in said(0.56, 0.49, 0.63, False)
    assert "only barely" in said(0.515, 0.505, 0.525, False)  # significant on a large sample, but tiny
    sure = said(0.62, 0.55, 0.69, True)
    assert "a model can tell the tables apart" in sure and "no evidence" not in sure


def test_a_tiny_but_significant_auc_is_not_called_separable():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 40_000), "y": rng.normal(0, 1, 40_000)})
    current = pd.DataFrame({"x": rng.normal(0.06, 1, 40_000), "y": rng.normal(0, 1, 40_000)})
    adversarial = analyse(reference, current, DriftOptions()).adversarial
    assert adversarial.auc_ci[0] > 0.5 and adversarial.auc < 0.55 and not adversarial.separable


# Regression tests of issue 21 on published tables no one here wrote: causaldata's Thornton (2008) HIV-results
# experiment (`thornton_hiv`, Malawi), Jennifer Bryan's gapminder extract (`gapminder`) and the Hass avocado
# weekly prices (`avocado`); statsmodels' Grunfeld (1958) investment panel (`statsmodels.datasets.grunfeld`).


def thornton_halves(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    from causaldata import thornton_hiv

    table = thornton_hiv.load_pandas().data
    order = np.random.default_rng(seed).permutation(len(table))
    return table.iloc[order[: len(table) // 2]].reset_index(drop=True), table.iloc[order[len(table) // 2 :]]


def test_a_0_1_column_spelled_another_way_is_the_same_values():
    """Thornton's 0/1 columns `got` and `any` (with blanks, so pandas reads 0.0/1.0) against the same rows'
    other half written as True/False, as "1"/"0" text and as "1.0"/"0.0" text: the same values, not drift."""
    ref, cur = thornton_halves()
    for spelling in (lambda v: v.map({1.0: True, 0.0: False}), lambda v: v.map({1.0: "1", 0.0: "0"}),
                     lambda v: v.map({1.0: "1.0", 0.0: "0"})):  # fmt: skip
        current = cur.assign(got=spelling(cur["got"]), any=spelling(cur["any"]))
        result = analyse(ref, current, DriftOptions(tests_only=True))
        for name in ("got", "any"):
            found = column(result, name)
            assert found.kind == "boolean" and not found.drifted, found.reason
            assert found.new_categories == ()
        assert not result.schema_changed and result.summary[0].startswith("No drift")


def test_schema_changes_are_reported_first_never_no_drift():
    """Thornton halves with a column dropped, one added, one renamed and one turned from numbers into text."""
    ref, cur = thornton_halves(1)
    cur = cur.drop(columns=["hiv2004"]).rename(columns={"distvct": "DistVCT"}).assign(
        wave=2, age=cur["age"].map(lambda v: f"{v:.0f} years"))  # fmt: skip
    result = analyse(ref, cur, DriftOptions(tests_only=True))
    schema = result.schema
    assert schema.dropped == ("hiv2004",) and schema.added == ("wave",)
    renamed = [{"from": "distvct", "to": "DistVCT", "why": "similar name and values"}]
    assert [r.to_dict() for r in schema.renamed] == renamed
    assert [c.to_dict() for c in schema.type_changed] == [{"name": "age", "reference": "numbers", "current": "text"}]
    first = result.summary[0]
    assert first.startswith("Schema changed: dropped 'hiv2004'; added 'wave'; 'distvct' looks renamed")
    assert not any(line.startswith("No drift") for line in result.summary)
    unchanged = analyse(*thornton_halves(1), DriftOptions(tests_only=True))
    assert not unchanged.schema_changed and unchanged.summary[0].startswith("No drift")


def test_us_and_day_first_dates_are_dates_compared_as_dates():
    """Avocado weekly dates (2015–2018) written m/d/Y and d/m/Y: dates, not categories that drift 100%."""
    from causaldata import avocado

    table = avocado.load_pandas().data.sort_values("Date").reset_index(drop=True)
    ref, cur = table.iloc[:100], table.iloc[100:]
    for fmt, said in (("%m/%d/%Y", "month/day/year"), ("%d/%m/%Y", "day/month/year")):
        written = [t.assign(Date=t["Date"].dt.strftime(fmt)) for t in (ref, cur)]
        result = analyse(*written, DriftOptions(tests_only=True))
        date = column(result, "Date")
        assert date.kind == "datetime" and not date.drifted and date.new_categories == ()
        assert date.date_range.reference[0].startswith(str(ref["Date"].min().date()))
        assert date.date_range.current[1].startswith(str(cur["Date"].max().date()))
        assert date.recency_days == (cur["Date"].max() - ref["Date"].max()).days
        assert any(said in line for line in result.summary) and any("(dates, read as" in s for s in result.summary)
    # only days ≤ 12: no part above 12 tells the order; the reading that spaces the weekly dates evenly is
    # day/month (month/day would put them on the first 12 days of each month), and the summary says why
    early = [t[t["Date"].dt.day <= 12] for t in (ref, cur)]
    result = analyse(*(t.assign(Date=t["Date"].dt.strftime("%d/%m/%Y")) for t in early), DriftOptions(tests_only=True))
    assert column(result, "Date").date_range.current[1].startswith(str(early[1]["Date"].max().date()))
    assert any("no value has a part above 12, and this reading spaces the dates evenly" in line
               for line in result.summary)  # fmt: skip


def test_a_real_trend_that_separates_the_tables_is_a_strong_change_not_leakage():
    """Gapminder 1952 against 2007: life expectancy rose everywhere (a trend), rows sorted by country."""
    from causaldata import gapminder

    table = gapminder.load_pandas().data
    ref, cur = (table[table["year"] == y].drop(columns="year") for y in (1952, 2007))
    result = analyse(ref, cur, DriftOptions())
    adversarial = result.adversarial
    assert adversarial.sole_separator == "lifeExp" and adversarial.leakage_suspects == ()
    said = " ".join(result.summary)
    assert "leakage" not in said.replace("not leakage", "") and "'lifeExp' alone separates the tables: a strong" in said


def test_a_column_constant_in_the_reference_reports_its_real_change():
    """Grunfeld's ten firms: `capital` stuck at one value (2.8, General Motors' 1935 figure) in the reference
    years 1935–1944, as a broken feed would write it; the real values in 1945–1954."""
    import statsmodels.api as sm

    table = sm.datasets.grunfeld.load_pandas().data
    ref = table[table["year"] <= 1944].assign(capital=2.8)
    cur = table[table["year"] > 1944]
    result = analyse(ref, cur, DriftOptions(tests_only=True))
    capital = column(result, "capital")
    assert capital.drifted and capital.reference_constant and capital.psi > 1
    assert capital.mean_shift_sd is None
    said = " ".join(result.summary)
    assert "'capital' was constant at 2.8 in the reference; now mean" in said
    assert "mean up 0.00 sd" not in said and "PSI 0.000" not in said


def test_a_large_psi_under_no_drift_always_says_why_it_does_not_count():
    """Random halves of Grunfeld's 220 rows: no drift; every moderate or large PSI carries its reason."""
    import statsmodels.api as sm

    from handlers.analytics_cards import drift_card

    table = sm.datasets.grunfeld.load_pandas().data.drop(columns="year")
    explained = 0
    for seed in range(12):
        order = np.random.default_rng(seed).permutation(len(table))
        result = analyse(table.iloc[order[:110]], table.iloc[order[110:]], DriftOptions(tests_only=True))
        if result.dataset_drift:
            continue
        card = json.dumps(drift_card(result, ("a.csv", "b.csv"), None), ensure_ascii=False)
        for found in result.columns:
            if (found.psi or 0) >= 0.1:
                explained += 1
                assert "does not count" in found.note, found
                assert f"PSI {found.psi:.3f} · " in card and "but does not count: the" in card
        for line in result.summary:
            if "PSI" in line:
                assert "does not count" in line or "does not decide" in line, line
    assert explained  # the case happened at least once on these splits


def test_ks_p_value_is_scipys_exact_where_it_applies():
    """Thornton's `tinc` (incentive amounts), two halves of 2,410 rows: scipy's ks_2samp(method='auto')."""
    from scipy import stats

    ref, cur = thornton_halves(2)
    tinc = column(analyse(ref, cur, DriftOptions(tests_only=True)), "tinc")
    expected = stats.ks_2samp(ref["tinc"].dropna(), cur["tinc"].dropna(), method="auto")
    assert tinc.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert tinc.ks_statistic == pytest.approx(expected.statistic, abs=1e-12)
