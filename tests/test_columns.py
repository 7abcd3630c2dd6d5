"""Column kinds shared by drift and uplift: integer codes, numbers stored as text, identifiers, overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.analytics import drift, uplift
from services.analytics.columns import as_numbers, infer_kind
from services.analytics.errors import AnalyticsError


def kind(values, name="x", **overrides) -> tuple[str, str]:
    found = infer_kind(pd.Series(values), name, **overrides)
    return found.kind, found.detail


def test_integer_codes_under_a_code_name_are_categories_and_quantities_stay_numbers():
    rng = np.random.default_rng(0)
    village = pd.Series(rng.integers(1, 125, 3000), dtype=float)
    village[::50] = np.nan  # a missing value makes pandas read the codes as floats
    assert kind(village, "villnum") == ("categorical", "integer codes")
    assert kind(rng.integers(1, 10, 3000), "region") == ("categorical", "integer codes")
    assert kind(rng.integers(18, 88, 3000), "age")[0] == "numeric"
    assert kind(rng.integers(0, 9, 3000), "num_children")[0] == "numeric"  # a count, not a code


def test_a_continuous_column_is_never_an_identifier_whatever_its_name_or_spread():
    rng = np.random.default_rng(1)
    income = rng.lognormal(10, 1, 5000)
    assert kind(income, "income")[0] == "numeric"
    assert kind(income, "price_index")[0] == "numeric"  # fractional values: a quantity, not an id
    assert kind(np.round(income), "income")[0] == "numeric"  # whole dollars, nearly all distinct, spread out
    assert kind(np.arange(1000, 6000), "row") == ("identifier", "a row counter")
    assert kind(rng.permutation(5000), "n") == ("identifier", "a row counter")
    assert kind(rng.integers(0, 10**6, 5000), "customer_id") == ("identifier", "its name looks like an id")


def test_numbers_stored_as_text_are_numbers_and_codes_with_leading_zeros_stay_text():
    values = [f"{v:,}" for v in range(1000, 1990, 10)] + ["unknown"]  # '1,000' ... and one stray word
    assert kind(values, "amount") == ("numeric", "numbers stored as text")
    parsed = as_numbers(pd.Series(["$1,234.5", " 7% ", "12", "n/a", "1,2"]))
    assert parsed.iloc[:3].tolist() == [1234.5, 7.0, 12.0] and parsed.iloc[3:].isna().all()
    assert kind([f"{z:05d}" for z in range(100, 160)] * 3, "zip")[0] == "categorical"
    assert kind([f"name {i}" for i in range(300)], "customer")[0] == "identifier"
    assert kind(["a", "b", "c"] * 100, "plan")[0] == "categorical"
    assert as_numbers(pd.Series([True, False])).tolist() == [1.0, 0.0]


def test_uplift_reads_a_boolean_feature_as_zero_and_one():
    rng = np.random.default_rng(4)
    table = pd.DataFrame({"flag": rng.random(400) < 0.5, "x": rng.normal(0, 1, 400),
                          "t": rng.integers(0, 2, 400), "y": rng.integers(0, 2, 400)})  # fmt: skip
    features, kinds = uplift._features(table, {"t", "y"})
    assert kinds["flag"].kind == "boolean" and features["flag"].tolist() == table["flag"].astype(float).tolist()


def test_user_overrides_win():
    assert kind(np.arange(5000), "row", categorical=("row",)) == ("categorical", "as you asked")
    assert kind([1, 2, 3] * 100, "villnum", numeric=("villnum",)) == ("numeric", "as you asked")


def test_drift_tests_text_numbers_as_numbers_and_codes_as_categories_and_says_so():
    rng = np.random.default_rng(2)

    def table(shift: float) -> pd.DataFrame:
        amount = rng.normal(100 + shift, 10, 2000)
        return pd.DataFrame({"amount": [f"{a:,.2f}" for a in amount], "store_code": rng.integers(1, 40, 2000),
                             "customer_id": rng.permutation(10**6)[:2000]})  # fmt: skip

    result = drift.analyse(table(0), table(5), drift.DriftOptions(tests_only=True))
    columns = {c["name"]: c for c in result.to_dict()["columns"]}
    assert columns["amount"]["kind"] == "numeric" and columns["amount"]["drifted"]
    assert columns["amount"]["test"] == "Kolmogorov–Smirnov"
    assert columns["store_code"]["kind"] == "categorical" and not columns["store_code"]["drifted"]
    assert all("." not in c["category"] for c in columns["store_code"]["top_changes"])  # '12', not '12.0'
    assert columns["customer_id"]["kind"] == "identifier" and "p_value" not in columns["customer_id"]
    summary = " ".join(result.summary)
    assert "integer codes" in summary and "'store\\_code'" in summary and "stored as text" in summary
    assert "Left out as identifiers" in summary and "'customer\\_id'" in summary
    with pytest.raises(AnalyticsError, match="no column 'nope'"):
        drift.analyse(table(0), table(0), drift.DriftOptions(tests_only=True, categorical=("nope",)))


def test_uplift_reads_village_codes_as_categories_on_a_published_experiment():
    from causaldata import thornton_hiv

    data = thornton_hiv.load_pandas().data.dropna(subset=["any", "got"])
    result = uplift.analyse(data, "any", "got", bootstrap=20)
    assert result.column_kinds["villnum"] == {"kind": "categorical", "detail": "integer codes"}
    assert result.column_kinds["age"]["kind"] == "numeric"
    assert any("integer codes" in line and "villnum" in line for line in result.summary)
    as_numbers_too = uplift.analyse(data, "any", "got", bootstrap=20, numeric=("villnum",), ignore=("tinc",))
    assert as_numbers_too.column_kinds["villnum"]["kind"] == "numeric"
    assert "tinc" not in as_numbers_too.features and "tinc" in as_numbers_too.skipped_columns


def test_column_names_and_values_from_a_file_are_inert_and_short_in_summaries_and_cards():
    import json

    from handlers.analytics_cards import drift_card

    link = "[Verify your account](https://evil.example/login)" + "x" * 300
    image = "![x](https://evil.example/p.png)"
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({link: rng.normal(0, 1, 500), "plan": rng.choice(["a", "b"], 500)})
    current = pd.DataFrame({link: rng.normal(1, 1, 500), "plan": rng.choice(["a", image], 500)})
    result = drift.analyse(reference, current, drift.DriftOptions(tests_only=True))
    shown = json.dumps(drift_card(result, ("ref.csv", "cur.csv"), None), ensure_ascii=False)
    for rendered in (shown, json.dumps(result.summary, ensure_ascii=False)):
        assert "](" not in rendered and "https://" not in rendered and "x" * 100 not in rendered
