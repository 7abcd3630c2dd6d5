"""The monitors' schedule grammar, next-run times and date placeholders.

    every hour | every day at 09:00 | every monday at 08:00 | every weekday at 07:30   [Europe/Berlin]

Times are wall-clock times in the schedule's time zone (an IANA name, default UTC): zoneinfo does the DST
arithmetic. Our own parser rather than cron or a library such as croniter: the grammar is four phrases a
person types in a chat, and a one-sentence error with an example is worth more than cron's generality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.quoting import quote

MAX_SCHEDULE_CHARS = 80
EXAMPLE = "`every day at 09:00`, `every hour`, `every monday at 08:00 Europe/Berlin`"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}$")
_PHRASE = re.compile(
    r"^every\s+(?:(?P<hour>hour)|(?P<day>day|weekday|" + "|".join(DAYS) + r")\s+at\s+(?P<hh>\d{1,2}):(?P<mm>\d{2}))"
    r"(?:\s+(?:in\s+)?(?P<zone>\S+))?$",
    re.I,
)


_FIXED_ABBREVIATIONS = {"EST": "America/New_York", "MST": "America/Denver"}


class ScheduleError(ValueError):
    """The schedule text is not one of the phrases the grammar knows; the message is one sentence with an example."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: `every` is 'hour', 'day', 'weekday' or a day name; `at` the local time (None hourly)."""

    every: str
    at: time | None
    zone: str = "UTC"

    @property
    def text(self) -> str:
        """Return the schedule as the canonical phrase (what `monitors` shows)."""
        when = "every hour" if self.at is None else f"every {self.every} at {self.at:%H:%M}"
        return when if self.zone == "UTC" else f"{when} {self.zone}"

    def next_after(self, after: datetime) -> datetime:
        """Return the first run strictly after `after` (an aware datetime), in UTC.

        A local time that a DST change skips runs at the first instant after the gap (zoneinfo maps 02:30 on a
        spring-forward day to 03:30); one that happens twice runs once, at the first (fold=0)."""
        zone = ZoneInfo(self.zone)
        local = after.astimezone(zone)
        if self.at is None:
            start = local.replace(minute=0, second=0, microsecond=0)
            candidate = start.astimezone(UTC)
            while candidate <= after:
                candidate += timedelta(hours=1)
            return candidate
        day = local.date()
        for _ in range(9):  # at most a week ahead, plus the DST edge
            if self._runs_on(day):
                candidate = _at(day, self.at, zone).astimezone(UTC)
                if candidate > after:
                    return candidate
            day += timedelta(days=1)
        raise AssertionError("unreachable: every phrase runs at least once a week")

    def _runs_on(self, day: date) -> bool:
        if self.every == "day":
            return True
        if self.every == "weekday":
            return day.weekday() < 5
        return DAYS[day.weekday()] == self.every


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # A wall time in a spring-forward gap does not exist: round trip through UTC moves it past the gap.
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return aware.astimezone(UTC).astimezone(zone)
    return aware


def parse_schedule(text: str, default_zone: str = "UTC") -> Schedule:
    """Return the Schedule `text` describes; raise ScheduleError with one sentence and an example otherwise."""
    text = " ".join(text.split())
    if len(text) > MAX_SCHEDULE_CHARS:
        raise ScheduleError(f"That schedule is longer than {MAX_SCHEDULE_CHARS} characters; try {EXAMPLE}.")
    match = _PHRASE.match(text)
    if not match:
        raise ScheduleError(f"I could not read the schedule {quote(text, 40)}; write it like {EXAMPLE}.")
    zone = check_zone(match["zone"] or default_zone)
    if match["hour"]:
        return Schedule("hour", None, zone)
    hh, mm = int(match["hh"]), int(match["mm"])
    if hh > 23 or mm > 59:
        raise ScheduleError(
            f"`{match['hh']}:{match['mm']}` is not a time of day; use 24-hour times like `every day at 09:00`."
        )
    return Schedule(match["day"].lower(), time(hh, mm), zone)


def check_zone(name: str) -> str:
    """Return the IANA time zone `name` as zoneinfo spells it; raise ScheduleError when there is none."""
    if name.upper() == "UTC":
        return "UTC"
    if name.upper() in _FIXED_ABBREVIATIONS:  # IANA's EST is UTC-5 all year: 09:00 "EST" is 10:00 in New York's summer
        raise ScheduleError(
            f"{quote(name, 10)} is a fixed offset with no daylight saving; name the place instead, e.g. "
            f"`{_FIXED_ABBREVIATIONS[name.upper()]}`."
        )
    if len(name) > 40 or not _ZONE_NAME.match(name):
        raise ScheduleError(f"{quote(name, 40)} is not a time zone; name one like `Europe/Berlin` or `UTC`.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{quote(name, 40)} is not a time zone I know; name one like `Europe/Berlin` or `UTC`."
        ) from None
    return name


_PLACEHOLDER = re.compile(r"\{(today|yesterday|tomorrow|date|hour)(?::([^{}]{1,20}))?\}")
_FORMAT = re.compile(r"^(?:%[YmdHjUuVGgyb]|[-_/.T ])+$")


def has_placeholders(text: str) -> bool:
    """True when `text` has a date placeholder such as `{yesterday}`."""
    return bool(_PLACEHOLDER.search(text))


def check_placeholders(text: str) -> None:
    """Raise ScheduleError for a brace that is not a known placeholder, or a format that is not a date format."""
    for match in _PLACEHOLDER.finditer(text):
        if match[2] is not None and not _FORMAT.match(match[2]):
            raise ScheduleError(
                f"{quote(match[0], 40)} has a format I do not use; write e.g. `{{yesterday:%Y/%m/%d}}`."
            )
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        raise ScheduleError("Only `{today}`, `{yesterday}`, `{tomorrow}`, `{date}` and `{hour}` may stand in braces.")


def resolve_placeholders(text: str, due: datetime, zone: str) -> str:
    """Return `text` with `{today}` / `{date}`, `{yesterday}`, `{tomorrow}` (ISO dates, or `{today:%Y/%m/%d}`) and
    `{hour}` (00-23) replaced, as of `due` in the time zone `zone` (the monitor's, not the server's)."""
    local = due.astimezone(ZoneInfo(zone))

    def replace(match: re.Match[str]) -> str:
        word, fmt = match[1], match[2]
        if word == "hour":
            return local.strftime(fmt or "%H")
        day = local.date() + timedelta(days={"yesterday": -1, "tomorrow": 1}.get(word, 0))
        return day.strftime(fmt or "%Y-%m-%d")

    return _PLACEHOLDER.sub(replace, text)
