"""Analytics from chat: `explain <metric>` (the glossary), the analysis commands (`metrics`, `drift`, `uplift`:
their options, checks and pipeline are the specs in services/analytics/commands.py) and `stop`.

An analysis runs in a process of its own (services/analytics/isolation.py), killed at the turn's time limit or
on `stop`; its progress is shown in place. The conversation's last data files are remembered for
ANALYTICS_FILE_MEMORY_MINUTES, so that a follow-up can name columns without attaching them again. Nothing here
imports numpy or pandas: the heavy libraries live in the analysis process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from handlers.analytics_cards import drift_card, entry_card, evaluation_card, suggestions_text, uplift_card
from handlers.analytics_large import PENDING_TTL_SECONDS, job_id, place
from handlers.app import stream_answer
from handlers.jobs import ConversationRef
from handlers.models import AnswerStream, FileAttachment, Replier, StreamStopped, Turn
from handlers.report import user_error
from handlers.router import Router
from handlers.usage import metered
from services.analytics.commands import DRIFT, METRICS, UPLIFT, CommandSpec
from services.analytics.errors import AnalyticsError
from services.analytics.glossary import Entry, glossary
from services.analytics.isolation import AnalysisFailed, AnalysisStopped, Limits, Runner
from services.analytics.pipeline import Outcome, summary_line
from services.backends import Backend, Question
from services.backends.base import capabilities_of
from services.dataset_prefixes import Listing, is_many, list_many
from services.datasets import DatasetError, download, fetch
from services.quoting import quote
from services.settings import Settings
from services.store import Store
from services.usage import UsageService

log = logging.getLogger(__name__)

PROGRESS_AFTER_SECONDS = 4.0  # a shorter analysis answers without a progress message
TEAMS_CHART_BYTES = 48_000  # the chart travels inside the card: keep the message under Teams' size limit
STOP_TTL_SECONDS = 900


@dataclass(frozen=True)
class ChatCommand:
    """An analysis command in chat: its spec, the card that shows its outcome, the first progress phrase."""

    spec: CommandSpec
    card: Callable[[Outcome], dict[str, Any]]
    working: str


CHAT_COMMANDS = (
    ChatCommand(METRICS, lambda o: evaluation_card(o.result, o.names[0], o.chart), "Evaluating"),
    ChatCommand(DRIFT, lambda o: drift_card(o.result, (o.names[0], o.names[1]), o.chart), "Comparing"),
    ChatCommand(UPLIFT, lambda o: uplift_card(o.result, o.names[0], o.chart), "Analysing the experiment"),
)


@dataclass(frozen=True)
class AnalyticsConfig:
    """Where analytics may read data (DATA_DIR, the largest file, allowed hosts and buckets), how long a
    conversation's files are remembered, and what one analysis process may use."""

    data_dir: Path | None = None
    max_bytes: int = 200_000_000
    allowed_hosts: tuple[str, ...] = ()  # DOWNLOAD_ALLOWED_HOSTS: where attachments may be downloaded from
    allowed_buckets: tuple[str, ...] = ()  # S3_ALLOWED_BUCKETS: which buckets s3:// sources may name
    file_memory_seconds: int = 30 * 60
    limits: Limits = field(default_factory=Limits)
    processes: int = 2
    admins: frozenset[str] = frozenset()  # ADMIN_USERS: who is told which files DATA_DIR holds
    engine: str = "auto"  # ANALYTICS_ENGINE, for folders and prefixes (handlers/analytics_large.py)
    spark_rows: int = 5_000_000
    spark_mb: int = 200
    prefix_max_bytes: int = 100_000_000_000  # ANALYTICS_PREFIX_MAX_GB: one folder's or prefix's listing
    emr: Any = None  # services.analytics.emr.EmrJob when EMR Serverless is turned on

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalyticsConfig:
        """Return the analytics configuration the settings describe."""
        processes = settings.analytics_processes
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cpus // processes)  # the worker's CPUs, shared by its analysis processes
        limits = Limits(settings.analytics_memory_mb, int(settings.turn_timeout_seconds) + 5, threads)
        return cls(
            settings.data_dir, settings.analytics_max_file_mb * 1_000_000,
            tuple(settings.download_allowed_hosts), tuple(settings.s3_allowed_buckets),
            settings.analytics_file_memory_minutes * 60, limits, processes, frozenset(settings.admin_users),
            settings.analytics_engine, settings.analytics_spark_rows, settings.analytics_spark_mb,
            settings.analytics_prefix_max_gb * 1_000_000_000, emr_job_of(settings),
        )  # fmt: skip

    async def attachment(self, file: FileAttachment) -> tuple[bytes, str]:
        """Return (bytes, name) of an attached file, downloaded under the allow-list."""
        data = await download(file.download_url, file.name, self.max_bytes, allowed_hosts=self.allowed_hosts)
        return data, quote(file.name)  # the name is shown in sentences and cards: a short, inert excerpt

    async def source(self, source: str, user_id: str = "") -> tuple[bytes, str] | Listing:
        """Return (bytes, name) of an `s3://` URI or a DATA_DIR path named in the message by `user_id` (the
        sentence for a missing file lists the folder's files to admins only); the bounded listing of an
        `s3://…/` prefix or a DATA_DIR folder (read later, by the engine chosen)."""
        if is_many(source, self.data_dir):
            return await list_many(source, data_dir=self.data_dir, allowed_buckets=self.allowed_buckets,
                                   max_bytes=self.prefix_max_bytes)  # fmt: skip
        data = await fetch(
            source, data_dir=self.data_dir, max_bytes=self.max_bytes, allowed_buckets=self.allowed_buckets,
            list_files=bool(user_id) and user_id in self.admins,
        )  # fmt: skip
        return data, quote(source.rsplit("/", 1)[-1])


class FileMemory:
    """The conversation's last data files, per user: references (an attachment's name and download link, or
    an `s3://` URI or DATA_DIR name), never bytes, kept in the store with a TTL. On AWS Lambda the next turn
    may run in another instance, so the store, not memory, keeps them; the worker downloads them again."""

    def __init__(self, store: Store | None, seconds: int) -> None:
        self.store = store
        self.seconds = seconds

    @staticmethod
    def _key(turn: Turn) -> str:
        return f"analytics-files:{turn.conversation.key}:{turn.user.id}"

    async def keep(self, turn: Turn, files: list[FileAttachment], sources: list[str]) -> None:
        """Remember `files` (or the named `sources`) for the conversation and user."""
        if self.store is None or self.seconds <= 0:
            return
        value = {"files": [f.model_dump() for f in files], "sources": sources, "at": time.time()}
        await self.store.put_value(self._key(turn), value, ttl_seconds=self.seconds)

    async def recall(self, turn: Turn) -> tuple[list[FileAttachment], list[str]]:
        """Return the remembered (files, sources), or two empty lists."""
        if self.store is None or self.seconds <= 0:
            return [], []
        value = await self.store.get_value(self._key(turn))
        if not value or time.time() - float(value.get("at", 0)) > self.seconds:  # a TTL is deleted lazily
            return [], []
        return [FileAttachment(**f) for f in value.get("files", [])], list(value.get("sources", []))


class Running:
    """Who has an analysis running, and who asked to stop theirs: in the store (`stop` may reach another
    worker than the analysis, e.g. the chat worker on Lambda), and in this process when there is no store."""

    def __init__(self, store: Store | None) -> None:
        self.store = store
        self._local: dict[str, dict[str, Any]] = {}

    async def start(self, user: str, command: str, ttl: int) -> float:
        started = time.time()
        value = {"command": command, "at": started}
        self._local[f"running:{user}"] = value
        if self.store is not None:
            await self.store.put_value(f"analytics-running:{user}", value, ttl_seconds=ttl)
        return started

    async def end(self, user: str) -> None:
        self._local.pop(f"running:{user}", None)
        if self.store is not None:
            await self.store.delete_value(f"analytics-running:{user}")

    async def running(self, user: str) -> dict[str, Any] | None:
        if self.store is not None:
            return await self.store.get_value(f"analytics-running:{user}")
        return self._local.get(f"running:{user}")

    async def ask_stop(self, user: str) -> None:
        value = {"at": time.time()}
        self._local[f"stop:{user}"] = value
        if self.store is not None:
            await self.store.put_value(f"analytics-stop:{user}", value, ttl_seconds=STOP_TTL_SECONDS)

    async def stop_asked(self, user: str, since: float) -> bool:
        """True when `user` asked to stop after `since` (epoch seconds): here, or through the store."""
        for value in (self._local.get(f"stop:{user}"), await self._stored(f"analytics-stop:{user}")):
            if value is not None and float(value.get("at", 0)) >= since:
                return True
        return False

    async def _stored(self, key: str) -> dict[str, Any] | None:
        return await self.store.get_value(key) if self.store is not None else None


class Progress:
    """Shows an analysis' progress in place: nothing for PROGRESS_AFTER_SECONDS, then one message (a Teams
    stream in personal chats, a message edited in place elsewhere) that each phrase and the elapsed time
    replace. Teams' Stop button on that stream asks the analysis to stop."""

    def __init__(self, replier: Replier, working: str) -> None:
        self.replier = replier
        self.phrase = f"{working}…"
        self.started = time.monotonic()
        self.stream: AnswerStream | None = None
        self.stopped = False

    def _text(self) -> str:
        return f"{self.phrase[:1].upper()}{self.phrase[1:]} ({time.monotonic() - self.started:.0f} s)"

    async def phrase_reported(self, phrase: str) -> None:
        self.phrase = phrase
        await self.tick()

    async def tick(self) -> None:
        """Show the latest phrase if it is time to (called on each phrase and every second)."""
        if time.monotonic() - self.started < PROGRESS_AFTER_SECONDS or self.stopped:
            return
        try:
            if self.stream is None:
                self.stream = await self.replier.start_stream(self._text())
            await self.stream.update(self._text())
        except StreamStopped:
            self.stopped = True

    async def done(self) -> None:
        """End the progress message, if one was shown."""
        if self.stream is not None and not self.stopped:
            await self.stream.fail(f"Done in {time.monotonic() - self.started:.0f} s.")


def register_analytics(
    router: Router,
    backend: Backend,
    config: AnalyticsConfig,
    usage: UsageService | None = None,
    store: Store | None = None,
) -> None:
    """Add `explain`, the analysis commands and `stop` to the router. With `usage`, the follow-up questions of
    `explain` (the only ones that call a model) are budgeted, tallied and audited like chat turns; with `store`,
    the conversation's last files are remembered and `stop` reaches an analysis running on another worker."""
    runner = Runner(config.limits, config.processes)
    memory = FileMemory(store, config.file_memory_seconds)
    running = Running(store)

    @router.command("explain", "what a metric means, e.g. `explain ndcg` or `explain auc`", "define", "glossary")
    async def explain(turn: Turn, replier: Replier, rest: str) -> None:
        terms = glossary()
        if not rest.strip():
            every = ", ".join(f"`{key}`" for key in terms.entries)
            await replier.send_text(f"Which metric? For example `explain ndcg`. The glossary covers: {every}.")
            return
        entry, question, suggestions = terms.split(rest.strip())
        if entry is None:
            await replier.send_text(suggestions_text(rest.strip(), suggestions, terms))
            return
        capabilities = capabilities_of(backend)
        if question and capabilities.generated:  # a model answers the follow-up; retrieval would only quote
            grounded = Question(text=_grounded(entry, question), conversation_key=turn.conversation.key,
                                user_id=turn.user.id, user_name=turn.user.name)  # fmt: skip
            await metered(
                usage, turn, replier, lambda: stream_answer(replier, backend, grounded), backend=backend.name,
                model_id=capabilities.model_id, question=turn.text, prompt_chars=len(grounded.text),
                answer_tokens=capabilities.answer_tokens,
            )  # fmt: skip
            return
        await replier.send_card(entry_card(entry, terms), summary=entry.meaning)
        if question:
            await replier.send_text("Follow-up questions about a metric need a backend with a model: here it is.")

    for chat in CHAT_COMMANDS:
        handler = _analysis_handler(chat, config, runner, memory, running)
        description = f"{chat.spec.summary} `help {chat.spec.name}` for options"
        router.command(chat.spec.name, description, *chat.spec.aliases, details=chat.spec.help())(handler)

    @router.command("stop", "stop your running analysis", "cancel")
    async def stop(turn: Turn, replier: Replier, rest: str) -> None:
        current = await running.running(turn.user.id)
        if current is None:
            await replier.send_text("You have no analysis running.")
            return
        await running.ask_stop(turn.user.id)
        await replier.send_text(f"Stopping your `{quote(str(current.get('command', 'analysis')), 20)}`…")


def _analysis_handler(
    chat: ChatCommand, config: AnalyticsConfig, runner: Runner, memory: FileMemory, running: Running
) -> Callable[[Turn, Replier, str], Any]:
    spec = chat.spec

    async def handle(turn: Turn, replier: Replier, rest: str) -> None:
        try:
            values, words = spec.parse(rest)
            sources, remembered = await _sources(spec, config, memory, turn, words)
        except (AnalyticsError, DatasetError) as problem:
            await replier.send_text(str(problem))
            user_error(problem)
            return
        if sources is None:
            await replier.send_text(spec.usage)
            return
        placed = None
        if any(isinstance(source, Listing) for source in sources):
            try:
                placed = await place(
                    spec, values, sources, default_engine=config.engine, spark_rows=config.spark_rows,
                    spark_mb=config.spark_mb, max_local_bytes=config.max_bytes, emr=config.emr,
                    allowed_buckets=config.allowed_buckets, token=job_id(turn.conversation.key, turn.id),
                )  # fmt: skip
            except (AnalyticsError, DatasetError) as problem:
                await replier.send_text(str(problem))
                user_error(problem)
                return
            if placed.emr_run:
                await _pending(memory.store, placed.emr_run, turn, replier, spec, sources)
                await replier.send_text(
                    f"{placed.message} Started on EMR Serverless (run {placed.emr_run}): I will post the result "
                    "here when it ends."
                )
                return
            sources, values = placed.sources, placed.values
            if placed.message:
                await replier.send_text(placed.message)
        elif values.get("engine") == "spark":  # one file is read here whole: said, not ignored silently
            await replier.send_text(
                "engine=spark reads folders and s3:// prefixes: this file runs on the local engine."
            )
        await replier.typing()
        progress = Progress(replier, chat.working)
        started = await running.start(turn.user.id, spec.name, int(config.limits.cpu_seconds) + 60)

        async def stop_requested() -> bool:
            await progress.tick()
            return progress.stopped or await running.stop_asked(turn.user.id, started)

        request = {"command": spec.name, "sources": sources, "values": values,
                   "max_chart_bytes": TEAMS_CHART_BYTES, "dpi": spec.chat_dpi}  # fmt: skip
        try:
            outcome = await runner.run(request, on_progress=progress.phrase_reported, stop_requested=stop_requested)
        except AnalyticsError as problem:
            note = f" (I still have {_names(sources)}: send the command again without attaching it.)"
            await replier.send_text(
                f"{problem}{note if remembered and memory.store is not None and memory.seconds else ''}"
            )
            user_error(problem)
            return
        except AnalysisStopped:
            await replier.send_text(f"Stopped your `{spec.name}`.")
            return
        except AnalysisFailed as failure:
            if "ModuleNotFoundError" in str(failure) or "ImportError" in str(failure):
                log.error("analytics libraries missing")
                await replier.send_text("Analytics are not installed on this gateway (requirements-analytics.txt).")
                return
            raise
        finally:
            await running.end(turn.user.id)
            if placed is not None:
                placed.remove()
        await progress.done()
        await replier.send_card(chat.card(outcome), summary=summary_line(outcome.result, f"{spec.name} result"))

    return handle


def _names(sources: list[Any]) -> str:
    return " and ".join(s.name if isinstance(s, Listing) else s[1] for s in sources)


def emr_job_of(settings: Settings) -> Any:
    """Return the EMR Serverless job settings when all are set (template.yaml's EnableEmrServerless), else None."""
    fields = (settings.emr_application_id, settings.emr_job_role_arn, settings.emr_job_uri, settings.emr_code_uri,
              settings.emr_output_prefix)  # fmt: skip
    if not all(fields):
        return None
    from services.analytics.emr import EmrJob

    return EmrJob(*fields)


async def _pending(
    store: Store | None, run: str, turn: Turn, replier: Replier, spec: CommandSpec, sources: list[Any]
) -> None:
    """Keep what the completion needs to post the run's answer here (services/analytics/emr.py `finish`)."""
    if store is None:
        return
    ref = getattr(replier, "ref", None)
    value = {
        "command": spec.name, "job_id": job_id(turn.conversation.key, turn.id),
        "conversation_key": turn.conversation.key,
        "names": [s.name for s in sources if isinstance(s, Listing)], "user": turn.user.id, "run": run,
        "conversation": turn.conversation.model_dump(), "user_model": turn.user.model_dump(),
        "ref": asdict(ref) if isinstance(ref, ConversationRef) else None,
    }  # fmt: skip
    await store.put_value(f"emr-run:{run}", value, ttl_seconds=PENDING_TTL_SECONDS)


async def _sources(
    spec: CommandSpec, config: AnalyticsConfig, memory: FileMemory, turn: Turn, words: list[str]
) -> tuple[list[Any] | None, bool]:
    """Return (the bytes and names of the tables `spec` reads, whether they are attachments to remember):
    attachments first, else sources named in the message, else the conversation's remembered files; (None,
    False) when there is nothing."""
    needed = len(spec.tables)
    files, named = list(turn.files), list(words)
    if not files and not named:
        files, named = await memory.recall(turn)
    if files:
        if len(files) < needed:
            raise DatasetError(_too_few(spec))
        await memory.keep(turn, files[:needed], [])
        return [await config.attachment(f) for f in files[:needed]], True
    if named:
        if len(named) < needed:
            raise DatasetError(_too_few(spec))
        if len(named) > needed:  # the extra ones were ignored silently: a typo'd option, or a table too many
            shown = ", ".join(quote(word, 40) for word in named[:4]) + (" …" if len(named) > 4 else "")
            tables = "one table" if needed == 1 else f"{needed} tables"
            raise DatasetError(f"`{spec.name}` reads {tables}, and I found {len(named)} names: {shown}.")
        await memory.keep(turn, [], named[:needed])
        return [await config.source(s, turn.user.aad_object_id) for s in named[:needed]], True
    return None, False


def _too_few(spec: CommandSpec) -> str:
    order = " first and the ".join(spec.tables)
    return f"{spec.name.capitalize()} needs two tables: attach (or name) the {order} data second."


def _grounded(entry: Entry, question: str) -> str:
    return (
        f"Answer the question about the metric below using this glossary entry as the reference.\n\n"
        f"{entry.name}: {entry.meaning}\nFormula: {entry.formula}\nRange: {entry.range}\nGood: {entry.good}\n"
        f"Use when: {entry.when}\nPitfalls: {' '.join(entry.pitfalls)}\n\nQuestion: {question}"
    )
