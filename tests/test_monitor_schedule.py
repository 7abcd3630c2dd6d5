"""The schedule grammar, next runs across DST changes, and date placeholders in the monitor's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.monitors.schedule import (
    ScheduleError,
    check_placeholders,
    parse_schedule,
    resolve_placeholders,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_phrases_and_their_canonical_text():
    assert parse_schedule("every day at 9:00").text == "every day at 09:00"
    assert parse_schedule("Every  Monday at 08:00 Europe/Berlin").text == "every monday at 08:00 Europe/Berlin"
    assert parse_schedule("every hour in utc").text == "every hour"
    assert parse_schedule("every weekday at 07:30", default_zone="America/New_York").zone == "America/New_York"


def test_daily_and_weekly_next_runs():
    daily = parse_schedule("every day at 09:00")
    assert daily.next_after(at(2026, 12, 7, 8, 59)) == at(2026, 12, 7, 9, 0)
    assert daily.next_after(at(2026, 12, 7, 9, 0)) == at(2026, 12, 8, 9, 0)  # strictly after: never twice
    monday = parse_schedule("every monday at 08:00")  # 2026-12-07 is a Monday
    assert monday.next_after(at(2026, 12, 7, 8, 0)) == at(2026, 12, 14, 8, 0)
    weekday = parse_schedule("every weekday at 08:00")
    assert weekday.next_after(at(2026, 12, 11, 9, 0)) == at(2026, 12, 14, 8, 0)  # Friday → Monday


def test_hourly_follows_the_local_hour_of_half_hour_zones():
    assert parse_schedule("every hour").next_after(at(2026, 1, 1, 10, 10)) == at(2026, 1, 1, 11, 0)
    assert parse_schedule("every hour Asia/Kolkata").next_after(at(2026, 1, 1, 10, 10)) == at(2026, 1, 1, 10, 30)


def test_dst_gap_runs_after_the_gap_and_repeated_hour_runs_once():
    berlin = parse_schedule("every day at 02:30 Europe/Berlin")
    # 2026-03-29: clocks jump 02:00 → 03:00; 02:30 does not exist and runs at 03:30 CEST (01:30 UTC)
    assert berlin.next_after(at(2026, 3, 28, 12)) == at(2026, 3, 29, 1, 30)
    assert berlin.next_after(at(2026, 3, 29, 12)) == at(2026, 3, 30, 0, 30)  # CEST from now on
    # 2026-10-25: 02:30 happens twice; the first (CEST, 00:30 UTC) runs, the second does not
    first = berlin.next_after(at(2026, 10, 24, 12))
    assert first == at(2026, 10, 25, 0, 30)
    assert berlin.next_after(first) == at(2026, 10, 26, 1, 30)


@pytest.mark.parametrize(
    "text",
    ["every dya at 09:00", "daily", "every day at 25:00", "every day at 09:00 Mars/Olympus", "every day at 9",
     "every day at 09:00 ../../etc/passwd", "every " + "x" * 200],
)  # fmt: skip
def test_a_bad_schedule_is_one_sentence_with_an_example(text):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    message = str(caught.value)
    assert message.count(". ") == 0 and message.endswith(".")
    assert "every day at 09:00" in message or "Europe/Berlin" in message
    assert len(message) < 200


def test_placeholders_resolve_in_the_monitors_time_zone():
    due = at(2026, 12, 7, 23, 30)  # already the 8th in Berlin
    uri = "s3://b/events/dt={yesterday}/h={hour}/{today:%Y%m%d}.csv"
    assert resolve_placeholders(uri, due, "Europe/Berlin") == "s3://b/events/dt=2026-12-07/h=00/20261208.csv"
    assert resolve_placeholders(uri, due, "UTC") == "s3://b/events/dt=2026-12-06/h=23/20261207.csv"
    assert resolve_placeholders("{date}", due, "UTC") == "2026-12-07"


def test_unknown_braces_and_formats_are_refused():
    check_placeholders("s3://b/dt={yesterday:%Y/%m/%d}/")
    for bad in ("s3://b/{weekday}/", "s3://b/{today:%s%n}/", "s3://b/{today"):
        with pytest.raises(ScheduleError):
            check_placeholders(bad)


def test_new_york_and_berlin_2027_changes_and_mondays_across_month_and_year_ends():
    new_york = parse_schedule("every day at 02:30 America/New_York")
    assert new_york.next_after(at(2027, 3, 13, 12)) == at(2027, 3, 14, 7, 30)  # the gap: 03:30 EDT
    assert new_york.next_after(at(2027, 3, 14, 12)) == at(2027, 3, 15, 6, 30)
    early = parse_schedule("every day at 01:30 America/New_York")  # 2027-11-07: 01:30 twice, runs once (EDT)
    assert early.next_after(at(2027, 11, 6, 12)) == at(2027, 11, 7, 5, 30)
    assert early.next_after(at(2027, 11, 7, 5, 30)) == at(2027, 11, 8, 6, 30)
    nine = parse_schedule("every day at 09:00 Europe/Berlin")  # 2027-03-28: 09:00 CET is 08:00 UTC, CEST 07:00
    assert [nine.next_after(at(2027, 3, d, 12)) for d in (26, 27)] == [at(2027, 3, 27, 8), at(2027, 3, 28, 7)]
    monday = parse_schedule("every monday at 08:00")
    assert monday.next_after(at(2026, 12, 28, 8)) == at(2027, 1, 4, 8)  # across the year's end
    assert monday.next_after(at(2027, 1, 25, 8)) == at(2027, 2, 1, 8)  # across a month's end
    kiritimati = parse_schedule("every monday at 08:00 Pacific/Kiritimati")  # UTC+14: Sunday 18:00 UTC
    assert kiritimati.next_after(at(2026, 12, 27, 12)) == at(2026, 12, 27, 18)
