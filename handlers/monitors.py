"""Monitors in chat: `monitor drift|metrics … every …`, `monitors`, `monitor stop|run|mute|resume <id>`, and
the scheduled run that decides whether a result is worth a post.

A scheduled run is a job of kind `monitor` (handlers/jobs.py: no inbound activity; idempotency key = monitor
id + due time) that the analytics worker hands to `MonitorRunner.run`. It posts a new message (a new thread
in a channel) only when it matters: drift found, a floor crossed, the data unreadable, or the verdict changed
since the last run ("back to normal"); otherwise it records the run quietly.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from handlers import monitor_analysis
from handlers.cards import card, facts, text
from handlers.jobs import ConversationRef, Job
from handlers.models import Replier, Turn, User
from handlers.report import TurnReport, user_error
from handlers.router import Router
from services.analytics.errors import AnalyticsError
from services.analytics.isolation import Limits, Runner
from services.dataset_prefixes import list_many, local_copy
from services.datasets import DatasetError, fetch, local_path
from services.monitors.model import Floor, Monitor, Verdict
from services.monitors.schedule import (
    EXAMPLE,
    ScheduleError,
    check_placeholders,
    has_placeholders,
    parse_schedule,
    resolve_placeholders,
)
from services.monitors.sources import is_partition, snapshots
from services.monitors.store import MAX_MONITORS_PER_CONVERSATION, MonitorStore
from services.quoting import quote

log = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 1_000
MAX_SOURCE_CHARS = 400
MAX_MUTE_SECONDS = 30 * 86_400
USAGE = (
    "Create a monitor with `monitor drift <reference> <current> every day at 09:00` or "
    "`monitor metrics <predictions> auc<0.80 every monday at 08:00 Europe/Berlin`; the data are `s3://` URIs "
    "or DATA_DIR files (a folder or prefix ending in `/` is a table; `monitor drift <table>/` alone compares its "
    "newest partition with the one before), and `{yesterday}` in a name is the day before each run. Then "
    "`monitors` lists them, "
    "and `monitor stop|run|mute|resume <id>` (e.g. `monitor mute 1a2b3c4d 2d`)."
)
NOT_ALLOWED = "Only the gateway's administrators may create monitors here (MONITOR_CREATORS=admins)."
NOT_YOURS = "Only the monitor's creator or an administrator may do that."
# monitors read with the local engine only (docs/monitors.md): no engine= to suggest
MONITOR_BOUND = "ANALYTICS_MAX_FILE_MB, the most a monitor reads; in chat, larger data goes to Spark"
MONITOR_TOO_BIG = "a monitor reads at most that much: point it at a narrower prefix, e.g. one partition"
_FLOOR = re.compile(r"^([a-z][a-z0-9_]{0,30})([<>])(-?\d+(?:\.\d+)?)$")
_DURATION = re.compile(r"^(\d{1,4})\s*(m|min|h|d|w)$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
Clock = Callable[[], float]


@dataclass(frozen=True)
class MonitorConfig:
    """Who may create monitors, where their data may come from, and when an unreadable monitor is paused."""

    creators: Literal["admins", "members"] = "admins"
    admins: frozenset[str] = frozenset()
    data_dir: Path | None = None
    allowed_buckets: tuple[str, ...] = ()
    max_bytes: int = 200_000_000
    unreadable_limit: int = 3

    @classmethod
    def from_settings(cls, settings: Any) -> MonitorConfig:
        """Return the configuration the settings describe."""
        return cls(
            settings.monitor_creators, frozenset(settings.admin_users), settings.data_dir,
            tuple(settings.s3_allowed_buckets), settings.analytics_max_file_mb * 1_000_000,
            settings.monitor_unreadable_limit,
        )  # fmt: skip

    def is_admin(self, user: User) -> bool:
        return bool(user.aad_object_id) and user.aad_object_id in self.admins

    def may_create(self, user: User) -> bool:
        return self.creators == "members" or self.is_admin(user)

    def check_source(self, source: str) -> None:
        """Raise DatasetError unless `source` is an `s3://` object or prefix in S3_ALLOWED_BUCKETS or a path
        inside DATA_DIR (placeholders may stand in the key or the path, not in the bucket)."""
        if len(source) > MAX_SOURCE_CHARS:
            raise DatasetError(f"A data name may be at most {MAX_SOURCE_CHARS} characters.")
        try:
            check_placeholders(source)
        except ScheduleError as problem:
            raise DatasetError(str(problem)) from None
        sample = resolve_placeholders(source, datetime(2000, 1, 1, tzinfo=UTC), "UTC")
        if source.startswith("s3://"):
            bucket = source[5:].split("/", 1)[0]
            if "{" in bucket or bucket not in self.allowed_buckets:
                raise DatasetError(f"The bucket {quote(bucket, 60)} is not in S3_ALLOWED_BUCKETS.")
            return
        if "://" in source:
            raise DatasetError("Monitors read `s3://` URIs and DATA_DIR files only.")
        if self.data_dir is None:
            raise DatasetError("DATA_DIR is not set on this gateway, so monitors can only read `s3://` data.")
        root = self.data_dir.resolve()
        if Path(sample).is_absolute() or not (root / sample).resolve().is_relative_to(root):
            raise DatasetError(f"{quote(source, 80)} is outside the data folder: give a path relative to DATA_DIR.")
        if not has_placeholders(source) and not (root / sample).is_dir():  # a fixed name must be there now; a
            local_path(sample, self.data_dir)  # dated one may come later; a folder is a table (sources.py)


def _remove(tables: list[tuple[Any, str]]) -> None:
    """Delete the temporary copies of S3 prefixes among `tables` (services/dataset_prefixes.local_copy's
    folders); DATA_DIR folders and bytes are left alone."""
    import shutil
    import tempfile

    for data, _ in tables:
        if isinstance(data, Path) and data.name.startswith("analytics-prefix-") and \
                data.parent == Path(tempfile.gettempdir()):  # fmt: skip
            shutil.rmtree(data, ignore_errors=True)


def parse_duration(value: str) -> int:
    """Return the seconds of `2h`, `3d`, `30m`, `1w` (at most 30 days); raise ValueError otherwise."""
    match = _DURATION.match(value.strip().lower())
    if not match or int(match[1]) == 0:
        raise ValueError(value)
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_MUTE_SECONDS:
        raise ValueError(value)
    return seconds


def parse_definition(rest: str) -> tuple[str, list[str], str, list[Floor], str]:
    """Return (kind, sources, options text, floors, schedule text) of `drift <ref> <cur> [options] every …` or
    `metrics <predictions> [options] auc<0.80 every …`; raise ValueError with one sentence otherwise."""
    head, sep, schedule = rest.partition(" every ")
    if not sep:
        raise ValueError(f"Say when the monitor runs, e.g. {EXAMPLE}.")
    words = head.split()
    kind = words[0].lower() if words else ""
    if kind not in monitor_analysis.TABLES:
        raise ValueError(USAGE)
    sources, options, floors = [], [], []
    for word in words[1:]:
        unescaped = html.unescape(word).lower()  # Teams sends `<` as &lt; in some clients
        floor = _FLOOR.match(unescaped)
        if floor:
            if floor[1] not in monitor_analysis.METRIC_KEYS:
                raise ValueError(
                    f"{quote(floor[1], 30)} is not a metric I can watch; use e.g. `auc<0.80` or `log_loss>0.4`."
                )
            value = float(floor[3])
            if not math.isfinite(value):  # 309+ digits: float() gives inf, which no store can hold
                raise ValueError(f"A floor is a finite number, e.g. `auc<0.80`; {quote(word, 30)} is not.")
            floors.append(Floor(metric=floor[1], op=floor[2], value=value))
        elif "<" in unescaped or ">" in unescaped:  # meant as a floor (no data name has them): say so
            raise ValueError(
                f"{quote(word, 30)} is not a floor I can read; write a metric, `<` or `>` and a number, "
                "e.g. `auc<0.80` or `log_loss>0.4`."
            )
        elif re.match(r"^[A-Za-z_]\w*=", word):  # `name=value`; `events/dt=2026-12-07/` is a folder
            options.append(word)
        else:
            sources.append(word)
    needed = monitor_analysis.TABLES[kind]
    if kind == "drift" and len(sources) == 1 and sources[0].endswith("/"):
        needed = 1  # one partitioned table: its newest partition against the one before (services/monitors/sources.py)
        if is_partition(sources[0].rstrip("/").rsplit("/", 1)[-1]):
            raise ValueError(
                f"{quote(sources[0], 80)} is one partition: name the table's folder (its newest partition is "
                "compared with the one before) or a reference and a current table."
            )
    if len(sources) != needed:
        what = "a reference and a current dataset" if kind == "drift" else "one predictions dataset"
        raise ValueError(f"A `{kind}` monitor reads {what}; I found {len(sources)}. {USAGE}")
    if kind == "metrics" and not floors:
        raise ValueError("Give the metrics monitor a floor to watch, e.g. `auc<0.80` or `log_loss>0.4`.")
    if kind == "drift" and floors:
        raise ValueError("Floors such as `auc<0.80` are for `metrics` monitors; a drift monitor posts on drift.")
    return kind, sources, " ".join(options), floors, "every " + schedule.strip()


def monitor_scope(turn: Turn) -> str:
    """Return the key a conversation's monitors are kept under: the chat's key, or in a channel the channel's
    (without the thread). Every post of a monitor starts a new thread, so a monitor made in one thread is
    listed, muted or stopped from any other, its alerts' threads included, and the limit per conversation
    counts the whole channel."""
    key = turn.conversation.key
    return key.split(";messageid=", 1)[0] if turn.conversation.type == "channel" else key


async def _in_scope(monitors: MonitorStore, turn: Turn) -> list[Monitor]:
    """Return the monitors of the turn's conversation (a channel's, and those an older version kept under the
    thread they were made in)."""
    scope = monitor_scope(turn)
    found = await monitors.for_conversation(scope)
    if turn.conversation.key != scope:
        found += await monitors.for_conversation(turn.conversation.key)
    return found


def post_target(turn: Turn, ref: ConversationRef) -> str:
    """Return the conversation id a monitor posts to: the channel itself (each post starts a new thread), or
    the chat."""
    if turn.conversation.type == "channel":
        return turn.conversation.id.split(";messageid=", 1)[0]
    return ref.conversation_id


def register_monitors(
    router: Router, monitors: MonitorStore, config: MonitorConfig, runner: MonitorRunner, clock: Clock = time.time
) -> None:
    """Add `monitor` and `monitors` to the router."""

    # Not in Teams' command menu (it holds 10 commands, and the analyses come first): `help` lists both, and
    # `monitor` only to those who may create monitors.
    @router.command("monitors", "list this conversation's monitors", details=USAGE, shown_to=lambda turn: True)
    async def list_(turn: Turn, replier: Replier, rest: str) -> None:
        found = await _in_scope(monitors, turn)
        if not found:
            await replier.send_text(f"No monitors here yet. {USAGE}")
            return
        lines = [_line(m, clock()) for m in found]
        await replier.send_text("Monitors in this conversation:\n\n" + "\n".join(lines))

    @router.command(
        "monitor", "scheduled drift and model checks that post here when something changes", details=USAGE,
        shown_to=lambda turn: config.may_create(turn.user),
    )  # fmt: skip
    async def monitor(turn: Turn, replier: Replier, rest: str) -> None:
        rest = " ".join(rest.split())
        if len(rest) > MAX_COMMAND_CHARS:
            await replier.send_text(f"That monitor is longer than {MAX_COMMAND_CHARS:,} characters.")
            user_error("TooLong")
            return
        verb, _, args = rest.partition(" ")
        verb = verb.lower()
        if verb in ("stop", "run", "mute", "resume"):
            await _manage(verb, args.split(), turn, replier)
        elif verb in monitor_analysis.TABLES:
            await _create(rest, turn, replier)
        else:
            await replier.send_text(USAGE)

    async def _create(rest: str, turn: Turn, replier: Replier) -> None:
        if not config.may_create(turn.user):
            await replier.send_text(NOT_ALLOWED)
            user_error("NotAllowed")
            return
        ref = getattr(replier, "ref", None)
        if not isinstance(ref, ConversationRef):
            await replier.send_text("Monitors post into Teams conversations; this one has no address to post to.")
            return
        try:
            kind, sources, options, floors, schedule_text = parse_definition(rest)
            schedule = parse_schedule(schedule_text)
            monitor_analysis.check_options(kind, options)
            for source in sources:
                config.check_source(source)
        except (ValueError, AnalyticsError, DatasetError) as problem:  # ScheduleError is a ValueError
            await replier.send_text(str(problem))
            user_error(problem)
            return
        existing = await _in_scope(monitors, turn)
        if len(existing) >= MAX_MONITORS_PER_CONVERSATION:
            await replier.send_text(f"This conversation has {len(existing)} monitors, the most it may have: "
                                    f"stop one first (`monitors` lists them).")  # fmt: skip
            return
        now = clock()
        created = Monitor(
            kind=kind, conversation_key=monitor_scope(turn), conversation_type=turn.conversation.type,
            service_url=ref.service_url, conversation_id=post_target(turn, ref), audience=ref.audience,
            tenant_id=turn.conversation.tenant_id, created_by=turn.user.aad_object_id or turn.user.id,
            created_by_name=turn.user.name[:100], created_at=now, sources=sources, options=options, floors=floors,
            schedule=schedule.text, time_zone=schedule.zone,
            next_run=schedule.next_after(datetime.fromtimestamp(now, UTC)).timestamp(),
        )  # fmt: skip
        await monitors.save(created)
        when = local_time(created.next_run or now, created.time_zone)
        watch = ", ".join(f.text for f in floors) if floors else "drift"
        await replier.send_text(
            f"Monitor `{created.id}` created: {quote(created.command, 200)}, {schedule.text}, watching {watch}. "
            f"First run {when}. I post here only when something changed; `monitor run {created.id}` runs it now."
        )

    async def _manage(verb: str, args: list[str], turn: Turn, replier: Replier) -> None:
        if not args:
            await replier.send_text(f"Which monitor? e.g. `monitor {verb} 1a2b3c4d` (`monitors` lists the ids).")
            return
        found = await monitors.get(args[0][:16])
        if found is None or found.conversation_key not in (monitor_scope(turn), turn.conversation.key):
            await replier.send_text(
                f"There is no monitor {quote(args[0], 16)} in this conversation (`monitors` lists them)."
            )
            return
        if not (config.is_admin(turn.user) or (turn.user.aad_object_id or turn.user.id) == found.created_by):
            await replier.send_text(NOT_YOURS)
            user_error("NotAllowed")
            return
        now = clock()
        if verb == "stop":
            await monitors.delete(found)
            await replier.send_text(f"Monitor `{found.id}` stopped and forgotten.")
        elif verb == "run":
            await replier.send_text(f"Running monitor `{found.id}` now; the result comes as a new message.")
            await runner.run_monitor(found, now, forced=True)
        elif verb == "mute":
            try:
                seconds = parse_duration(args[1] if len(args) > 1 else "")
            except ValueError:
                await replier.send_text(
                    "Mute for how long? e.g. `monitor mute <id> 2h`, `3d` or `1w` (at most 30 days)."
                )
                return
            await monitors.update(found.model_copy(update={"muted_until": now + seconds}))
            until = local_time(now + seconds, found.time_zone)
            await replier.send_text(f"Monitor `{found.id}` muted until {until}: it still runs and records, quietly.")
        else:  # resume
            schedule = parse_schedule(found.schedule)
            nxt = schedule.next_after(datetime.fromtimestamp(now, UTC)).timestamp()
            fresh = {"paused": "", "next_run": nxt, "muted_until": None, "unreadable_runs": 0, "failed_runs": 0,
                     "last_failed_due": None}  # fmt: skip
            await monitors.update(found.model_copy(update=fresh))
            await replier.send_text(f"Monitor `{found.id}` resumed.")


def local_time(epoch: float, zone: str) -> str:
    """Return `epoch` as the monitor's wall-clock time (what its schedule says), with UTC beside it:
    `2026-12-08 09:00 CET (08:00 UTC)`; in UTC, `2026-12-08 08:00 UTC`."""
    utc = datetime.fromtimestamp(epoch, UTC)
    if zone == "UTC":
        return utc.strftime("%Y-%m-%d %H:%M UTC")
    local = utc.astimezone(ZoneInfo(zone))
    same_day = local.date() == utc.date()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc.strftime('%H:%M' if same_day else '%Y-%m-%d %H:%M')} UTC)"


def _line(m: Monitor, now: float) -> str:
    state = f"paused: {m.paused}" if m.paused else (
        "next " + local_time(m.next_run, m.time_zone) if m.next_run else "idle"
    )  # fmt: skip
    if m.muted_until and m.muted_until > now:
        state += ", muted"
    verdict = {"": "not run yet", "ok": "normal", "drift": "drift", "floor": "floor crossed",
               "unreadable": "data unreadable", "failed": "failed"}[m.last_verdict]  # fmt: skip
    return f"- `{m.id}` {m.kind} {m.schedule} · {state} · last: {verdict} · {quote(m.command, 120)}"


@dataclass
class RunOutcome:
    """What one run found and did: the verdict, whether it posted, and why."""

    verdict: Verdict
    posted: bool
    reason: str


class MonitorRunner:
    """Runs monitors (scheduled jobs, `monitor run`) and posts what matters through `post(monitor, card,
    summary)`, a proactive message into the stored conversation. `analysis` runs the analyses in processes
    (services/analytics/isolation.py), under the chat's limits."""

    def __init__(
        self,
        monitors: MonitorStore,
        config: MonitorConfig,
        post: Callable[[Monitor, dict[str, Any], str], Any],
        *,
        analysis: Runner | None = None,
        fetch_source: Callable[[str], Any] | None = None,
        clock: Clock = time.time,
        is_member: Callable[[Monitor], Awaitable[bool | None]] | None = None,
    ) -> None:
        self.is_member = is_member  # whether the creator is still in the conversation (None: cannot tell)
        self.analysis = analysis or Runner(Limits())  # the chat's analysis processes (their spares are shared)
        self.monitors = monitors
        self.config = config
        self.post = post
        self.fetch_source = fetch_source or self._fetch
        self.clock = clock

    def _is_folder(self, source: str) -> bool:
        if source.startswith("s3://"):
            return source.endswith("/")
        root = self.config.data_dir.resolve() if self.config.data_dir else None
        return root is not None and (root / source).resolve().is_dir()

    async def _fetch(self, source: str) -> tuple[Any, str]:
        """Return (the bytes of a file, or a local folder of a many-file table; its name) for `source`: a prefix
        or folder is its snapshot (services/monitors/sources.py: the newest partition, or all its files)."""
        self.config.check_source(source)  # checked again at run time: the settings may have changed
        if self._is_folder(source):
            (snapshot,) = await snapshots(source, 1, data_dir=self.config.data_dir,
                                          allowed_buckets=self.config.allowed_buckets)  # fmt: skip
            return await self._read_table(snapshot)
        data = await fetch(source, data_dir=self.config.data_dir, max_bytes=self.config.max_bytes,
                           allowed_buckets=self.config.allowed_buckets)  # fmt: skip
        return data, quote(source.rsplit("/", 1)[-1] or source, 80)

    async def _read_table(self, source: str) -> tuple[Any, str]:
        """Return a many-file table for the analysis: the bytes of its one data file, else a local folder of all
        of them (a DATA_DIR folder in place, an S3 prefix copied into a temporary folder that `_remove` deletes),
        at most ANALYTICS_MAX_FILE_MB in all."""
        listing = await list_many(source, data_dir=self.config.data_dir, allowed_buckets=self.config.allowed_buckets,
                                  max_bytes=self.config.max_bytes, bound=MONITOR_BOUND)  # fmt: skip
        folder = await local_copy(listing, self.config.max_bytes, MONITOR_TOO_BIG)
        if len(listing.files) > 1:
            return folder, listing.name
        key = listing.files[0][0]  # a DATA_DIR path, or an S3 key under the prefix the copy mirrors
        prefix = urlparse(source).path.lstrip("/")
        only = Path(key) if not source.startswith("s3://") else folder / PurePosixPath(key[len(prefix) :])
        try:
            return await asyncio.to_thread(only.read_bytes), quote(only.name, 80)
        finally:
            _remove([(folder, "")])

    async def _partition_pair(self, source: str) -> list[tuple[Any, str]]:
        """The tables of a one-table drift monitor: the partition before the newest one, then the newest."""
        self.config.check_source(source)
        pair = await snapshots(source, 2, data_dir=self.config.data_dir, allowed_buckets=self.config.allowed_buckets)
        tables: list[tuple[Any, str]] = []
        try:
            for partition in pair:
                tables.append(await self._read_table(partition))
        except BaseException:
            _remove(tables)
            raise
        return tables

    async def run_job(self, job: Job, replier: Replier) -> TurnReport:
        """Run the scheduled job's monitor (the worker calls this for jobs of kind `monitor`). Raises when the
        run failed on our side, so the queue retries it."""
        report = TurnReport(job.turn.id, job.group_key, "monitor", command="monitor")
        assert job.monitor is not None
        found = await self.monitors.get(job.monitor.monitor_id)
        if found is None or found.paused:  # stopped or paused after the tick enqueued it: nothing to do
            log.info("monitor %s is %s: run skipped", job.monitor.monitor_id, "paused" if found else "gone")
            return report
        try:
            await self.run_monitor(found, job.monitor.due)  # its log line says what it found and whether it posted
        except Exception:
            if not await self._failed(found.id, job.monitor.due):
                raise  # retried by the queue; after its last attempt the conversation is told once
        report.final_seconds = round(report.elapsed(), 4)
        return report

    async def _failed(self, monitor_id: str, due: float) -> bool:
        """Count a run that failed on our side (its retries once); when `unreadable_limit` runs in a row have
        failed, pause the monitor with one notice and return True (the job ends here): otherwise a monitor
        that cannot run (the analysis broken, the bot removed from the conversation) would post a failure
        at every run, for ever."""
        fresh = await self.monitors.get(monitor_id)
        if fresh is None or fresh.paused:
            return False
        count = fresh.failed_runs + (fresh.last_failed_due != due)
        if count < self.config.unreadable_limit:
            await self.monitors.update(fresh.model_copy(update={"failed_runs": count, "last_failed_due": due}))
            return False
        log.exception("monitor %s failed %d runs in a row: paused", monitor_id, count)
        await self._pause(fresh, f"its runs failed on my side {count} times in a row")
        return True

    async def run_monitor(self, monitor: Monitor, due: float, *, forced: bool = False) -> RunOutcome:
        """Run `monitor` for the run due at `due`, post if it matters (always when `forced`), record the run."""
        if not (self.config.creators == "members" or monitor.created_by in self.config.admins):
            return await self._pause(monitor, "its creator may no longer create monitors (MONITOR_CREATORS=admins)")
        if self.is_member is not None and await self.is_member(monitor) is False:
            return await self._pause(monitor, f"its creator{_named(monitor)} is no longer in this conversation")
        sources = [
            resolve_placeholders(s, datetime.fromtimestamp(due, UTC), monitor.time_zone) for s in monitor.sources
        ]
        tables: list[tuple[Any, str]] = []
        try:
            if monitor.kind == "drift" and len(sources) == 1:  # one partitioned table: newest against the previous
                tables = await self._partition_pair(sources[0])
            else:
                for source in sources:
                    tables.append(await self.fetch_source(source))
            result, chart = await monitor_analysis.analyse(monitor.kind, tables, monitor.options, self.analysis)
            verdict, headline, details = _verdict(monitor, result)
        except (DatasetError, AnalyticsError) as problem:
            return await self._unreadable(monitor, due, str(problem), forced)
        finally:
            _remove(tables)
        names = [name for _, name in tables]
        muted = bool(monitor.muted_until and monitor.muted_until > due) and not forced
        back = verdict == "ok" and monitor.last_verdict in ("drift", "floor", "unreadable")
        post = forced or verdict in ("drift", "floor") or back
        if post and not muted:
            if back:
                headline = f"Back to normal: {headline}"
            color = "Good" if verdict == "ok" else "Attention"
            where = f"{monitor.kind} {' and '.join(names)} · {monitor.schedule}"
            body = [text(f"Monitor {monitor.id}: {headline}", size="Medium", weight="Bolder", color=color),
                    text(where, isSubtle=True, size="Small")]  # fmt: skip
            if details:
                body.append(facts(details[:8]))
            if chart:
                import base64

                uri = "data:image/png;base64," + base64.b64encode(chart).decode()
                body.append({"type": "Image", "url": uri, "altText": f"{monitor.kind} chart", "size": "Stretch"})
            full = monitor_analysis.full_card(monitor.kind, result, names, b"")  # the chart is shown above
            actions = [{"type": "Action.ShowCard", "title": "See the full report", "card": full}]
            await self.post(monitor, card(body, actions), f"Monitor {monitor.id}: {headline}")
        reason = "muted" if post and muted else ("posted" if post else "quiet")
        await self._record(monitor, verdict, headline, posted=post and not muted)
        log.info("monitor %s ran for %s: %s (%s)", monitor.id, int(due), verdict, reason)
        return RunOutcome(verdict, post and not muted, reason)

    async def _unreadable(self, monitor: Monitor, due: float, problem: str, forced: bool) -> RunOutcome:
        count = monitor.unreadable_runs + 1
        if count >= self.config.unreadable_limit:
            return await self._pause(monitor, f"its data was unreadable {count} runs in a row ({problem.rstrip('.')})")
        first = monitor.last_verdict != "unreadable"
        muted = bool(monitor.muted_until and monitor.muted_until > due) and not forced
        posted = (first or forced) and not muted
        if posted:
            body = [text(f"Monitor {monitor.id}: the data could not be read", size="Medium", weight="Bolder",
                         color="Attention"), text(problem),
                    text(f"I try again at the next run; after {self.config.unreadable_limit} unreadable runs in a "
                         f"row the monitor is paused.", isSubtle=True, size="Small")]  # fmt: skip
            await self.post(monitor, card(body), f"Monitor {monitor.id}: the data could not be read")
        await self._record(monitor, "unreadable", problem, posted=posted, unreadable=count)
        return RunOutcome("unreadable", posted, "unreadable")

    async def _pause(self, monitor: Monitor, reason: str) -> RunOutcome:
        """Pause `monitor` (out of the due index) and post one notice; nothing when it was stopped meanwhile."""
        fresh = await self.monitors.get(monitor.id)  # `monitor` was read when the run started
        if fresh is None:  # stopped while it ran: saving it would bring it back
            return RunOutcome("unreadable", False, "stopped")
        paused = fresh.model_copy(update={"paused": reason[:300], "next_run": None})
        if not await self.monitors.update(paused):  # stopped since it was read just now
            return RunOutcome("unreadable", False, "stopped")
        body = [text(f"Monitor {monitor.id} is paused", size="Medium", weight="Bolder", color="Attention"),
                text(f"It stopped because {reason}."),
                text(f"`monitor resume {monitor.id}` starts it again, `monitor stop {monitor.id}` removes it.",
                     isSubtle=True, size="Small")]  # fmt: skip
        await self.post(monitor, card(body), f"Monitor {monitor.id} is paused")
        log.warning("monitor %s paused: %s", monitor.id, reason)
        return RunOutcome("unreadable", True, "paused")

    async def _record(self, monitor: Monitor, verdict: Verdict, summary: str, *, posted: bool,
                      unreadable: int = 0) -> None:  # fmt: skip
        fresh = await self.monitors.get(monitor.id)  # the tick moved next_run since this run was read
        if fresh is None:  # stopped while it ran
            return
        await self.monitors.update(fresh.model_copy(update={
            "last_run": self.clock(), "last_verdict": verdict, "last_summary": summary[:300],
            "unreadable_runs": unreadable, "runs": fresh.runs + 1, "posts": fresh.posts + int(posted),
            "failed_runs": 0, "last_failed_due": None,
        }))  # fmt: skip


def _named(monitor: Monitor) -> str:
    return f" ({quote(monitor.created_by_name, 60)})" if monitor.created_by_name else ""


def _verdict(monitor: Monitor, result: Any) -> tuple[Verdict, str, list[tuple[str, str]]]:
    """Return (verdict, one-line headline, facts) of an analysis result for `monitor`."""
    if monitor.kind == "drift":
        moved = monitor_analysis.moved_columns(result)
        if monitor_analysis.drift_found(result):
            shown = ", ".join(quote(c, 40) for c in moved[:5]) + (" …" if len(moved) > 5 else "")
            return (
                "drift",
                f"drift in {len(moved)} column{'s' * (len(moved) != 1)}: {shown}",
                [("Columns that moved", shown or "(the tables as a whole)")],
            )
        return "ok", "no drift", []
    crossed, rows = [], []
    for floor in monitor.floors:
        value = monitor_analysis.metric_value(result, floor.metric)
        if value is None:
            raise AnalyticsError(f"The evaluation has no {floor.metric} (the task may not report it).")
        rows.append((floor.metric, f"{value:.4g} (floor {floor.text})"))
        if floor.crossed(value):
            crossed.append(f"{floor.metric} {value:.4g}")
    if crossed:
        return "floor", f"floor crossed: {', '.join(crossed)}", rows
    return "ok", "every metric within its floor", rows
