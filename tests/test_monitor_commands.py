"""What the monitor commands say: option errors in the monitor's terms, times in the monitor's own zone, and
what the user typed echoed back inert (no code span it can close)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from handlers.monitor_analysis import check_options
from handlers.monitors import local_time
from services.analytics.errors import AnalyticsError
from services.monitors.schedule import ScheduleError, parse_schedule


@pytest.mark.parametrize(("kind", "options", "said"), [
    ("drift", "foo=bar", "I don't know the option foo"),
    ("drift", "threshold=7", "threshold must be above 0"),
    ("metrics", "k=0", "k must be at least 1"),
])  # fmt: skip
def test_a_bad_option_is_explained_as_a_monitors_not_with_the_chat_commands_usage(kind, options, said):
    with pytest.raises(AnalyticsError) as caught:
        check_options(kind, options)
    message = str(caught.value)
    assert said in message and f"A `{kind}` monitor takes" in message and "`threshold=`" in message
    assert "attached" not in message and "Send `" not in message  # the one-off command's "send two files…"


def test_next_runs_are_shown_in_the_monitors_own_time_zone():
    berlin = parse_schedule("every monday at 08:00 Europe/Berlin")
    winter = berlin.next_after(datetime(2026, 12, 8, tzinfo=UTC)).timestamp()
    assert local_time(winter, "Europe/Berlin") == "2026-12-14 08:00 CET (07:00 UTC)"
    summer = berlin.next_after(datetime(2027, 3, 23, tzinfo=UTC)).timestamp()  # across the change of 2027-03-28
    assert local_time(summer, "Europe/Berlin") == "2027-03-29 08:00 CEST (06:00 UTC)"
    late = parse_schedule("every day at 22:30 America/New_York").next_after(datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert local_time(late.timestamp(), "America/New_York") == "2026-12-07 22:30 EST (2026-12-08 03:30 UTC)"
    assert local_time(datetime(2026, 12, 8, 9, tzinfo=UTC).timestamp(), "UTC") == "2026-12-08 09:00 UTC"


@pytest.mark.parametrize("text", [
    "every `<b>x</b>[a](https://evil.example/x)",
    "every day at 09:00 `<b>x</b>`",
])  # fmt: skip
def test_what_the_user_typed_is_quoted_inert_in_a_schedule_error(text):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    message = str(caught.value)
    assert "<b>" not in message and "](" not in message and "https://" not in message
    assert len(re.findall(r"(?<!\\)`", message)) % 2 == 0  # every code span the sentence opens, it closes


@pytest.mark.parametrize("floor", ["auc<nan", "auc<1e999", "auc&lt;high", "log_loss>"])
def test_a_floor_that_is_not_a_number_is_named_as_a_floor_not_counted_as_a_dataset(floor):
    from handlers.monitors import parse_definition

    with pytest.raises(ValueError, match="is not a floor I can read") as caught:
        parse_definition(f"metrics scores.csv {floor} every hour")
    assert "I found" not in str(caught.value)


@pytest.mark.parametrize("zone", ["EST", "est", "MST"])
def test_a_fixed_offset_abbreviation_is_refused_with_the_place_to_name(zone):
    """IANA's `EST` is UTC-5 all year: `every day at 09:00 EST` ran at 10:00 New York time all summer."""
    with pytest.raises(ScheduleError, match="no daylight saving") as caught:
        parse_schedule(f"every day at 09:00 {zone}")
    assert "America/" in str(caught.value)
    assert parse_schedule("every day at 09:00 America/New_York").zone == "America/New_York"
