"""Analytics from chat: `explain <metric>` (the glossary) and `metrics ...` (evaluate a predictions file).

The evaluation runs on a thread pool of its own so the event loop keeps answering others; the heavy
libraries are imported there, never by the ingress.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.analytics_cards import drift_card, entry_card, evaluation_card, suggestions_text, uplift_card
from handlers.app import stream_answer
from handlers.models import FileAttachment, Replier, Turn
from handlers.report import user_error
from handlers.router import Router
from handlers.usage import metered
from services.analytics.errors import AnalyticsError
from services.analytics.glossary import Entry, glossary
from services.backends import Backend, Question
from services.backends.base import capabilities_of
from services.datasets import DatasetError, download, fetch
from services.quoting import quote
from services.settings import Settings
from services.usage import UsageService

log = logging.getLogger(__name__)

ANALYTICS_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analytics")
PROGRESS_AFTER_SECONDS = 4.0
TEAMS_CHART_BYTES = 48_000  # the chart travels inside the card: keep the message under Teams' size limit
OPTIONS = {"y_true", "y_score", "query", "threshold", "sampling_rate", "k", "positive"}
KIND_OPTIONS = {"categorical", "numeric", "ignore"}
UPLIFT_OPTIONS = {"treatment", "outcome", "score", "revenue", "cost", "budget"} | KIND_OPTIONS
DRIFT_OPTIONS = {"target", "threshold", "correction"} | KIND_OPTIONS
DRIFT_USAGE = (
    "Send `drift` with two files attached in a personal chat (first the reference, e.g. last month; then the "
    "current data), or followed by two `s3://` URIs or two file names in DATA_DIR. Options: `target=<column>`, "
    "`categorical=a,b` (e.g. integer codes), `numeric=c`, `ignore=d,e`, `threshold=0.1`, `correction=bonferroni`."
)
ALIASES = {"label": "y_true", "truth": "y_true", "score": "y_score", "prediction": "y_score", "w": "sampling_rate",
           "group": "query", "cutoff": "threshold"}  # fmt: skip
METRICS_USAGE = (
    "Send `metrics y_true=<label column> y_score=<score column>` with the predictions file (CSV or Parquet) "
    "attached in a personal chat, or followed by an `s3://` URI or a file name in DATA_DIR. Options: "
    "`query=<column>` for ranking metrics, `threshold=0.3` or `threshold=best-f1`, `sampling_rate=0.1` to "
    "recalibrate after negative downsampling, `k=10`, `positive=<label>` (default: the larger label)."
)


UPLIFT_USAGE = (
    "Send `uplift treatment=<column> outcome=<column>` with the experiment's data (CSV or Parquet) attached in "
    "a personal chat, or followed by an `s3://` URI or a file name in DATA_DIR. Add `revenue=<column> cost=0.5` "
    "for the profit of treating the top k% (and `budget=1000` to cap the people treated), or `score=<column>` "
    "to evaluate an existing model's uplift scores; `categorical=a,b`, `numeric=c` and `ignore=d` say how to "
    "read feature columns."
)


@dataclass(frozen=True)
class AnalyticsConfig:
    """Where analytics may read data: DATA_DIR for local files, and the largest file accepted."""

    data_dir: Path | None = None
    max_bytes: int = 200_000_000
    allowed_hosts: tuple[str, ...] = ()  # DOWNLOAD_ALLOWED_HOSTS: where attachments may be downloaded from
    allowed_buckets: tuple[str, ...] = ()  # S3_ALLOWED_BUCKETS: which buckets s3:// sources may name
    admins: frozenset[str] = frozenset()  # ADMIN_USERS: who is told which files DATA_DIR holds

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalyticsConfig:
        """Return the analytics configuration the settings describe."""
        return cls(
            settings.data_dir, settings.analytics_max_file_mb * 1_000_000,
            tuple(settings.download_allowed_hosts), tuple(settings.s3_allowed_buckets), frozenset(settings.admin_users),
        )  # fmt: skip

    async def attachment(self, file: FileAttachment) -> tuple[bytes, str]:
        """Return (bytes, name) of an attached file, downloaded under the allow-list."""
        data = await download(file.download_url, file.name, self.max_bytes, allowed_hosts=self.allowed_hosts)
        return data, quote(file.name)  # the name is shown in sentences and cards: a short, inert excerpt

    async def source(self, source: str, user_id: str = "") -> tuple[bytes, str]:
        """Return (bytes, name) of an `s3://` URI or a DATA_DIR path named in the message by `user_id` (the
        sentence for a missing file lists the folder's files to admins only)."""
        data = await fetch(
            source, data_dir=self.data_dir, max_bytes=self.max_bytes, allowed_buckets=self.allowed_buckets,
            list_files=bool(user_id) and user_id in self.admins,
        )  # fmt: skip
        return data, quote(source.rsplit("/", 1)[-1])


def parse_options(text: str) -> tuple[dict[str, str], list[str]]:
    """Return (key=value options, other words) of a command; keys lower-cased, '-' as '_', aliases resolved."""
    options, words = {}, []
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep and key:
            key = key.lower().lstrip("-").replace("-", "_")
            options[ALIASES.get(key, key)] = value
        else:
            words.append(token)
    return options, words


def _evaluate_job(source: tuple[bytes, str], options: dict[str, str]) -> tuple[dict[str, Any], bytes | None]:
    """Read, evaluate and chart (on the analytics pool): return the result and the Teams-sized chart."""
    data, name = source
    from services.analytics.charts import metrics_chart
    from services.analytics.metrics import evaluate, infer_columns
    from services.analytics.tables import read_table

    threshold: float | str | None = options.get("threshold")
    try:
        if threshold not in (None, "best-f1"):
            threshold = float(threshold)
        rate = float(options["sampling_rate"]) if "sampling_rate" in options else None
        k = int(options.get("k", 10))
    except ValueError:
        raise AnalyticsError("threshold takes a number or best-f1, sampling_rate a number, k a whole number.") from None
    if k < 1:
        raise AnalyticsError("k must be at least 1.")
    table = read_table(data, name)
    y_true, y_score = infer_columns(table, options.get("y_true"), options.get("y_score"))
    result = evaluate(table, y_true, y_score, query=options.get("query"), threshold=threshold, sampling_rate=rate, k=k,
                      positive=options.get("positive"))  # fmt: skip
    try:
        chart = metrics_chart(result, max_bytes=TEAMS_CHART_BYTES, dpi=80)
    except ValueError:
        chart = b""
    return result, chart


def _uplift_job(source: tuple[bytes, str], options: dict[str, str]) -> tuple[dict[str, Any], bytes | None]:
    """Read, analyse and chart an experiment (on the analytics pool)."""
    data, name = source
    from services.analytics.charts import uplift_chart
    from services.analytics.tables import read_table
    from services.analytics.uplift import analyse

    missing = [key for key in ("treatment", "outcome") if not options.get(key)]
    if missing:
        raise AnalyticsError(
            f"Name the {' and '.join(missing)} column{'s' if len(missing) > 1 else ''}. {UPLIFT_USAGE}"
        )
    try:
        cost = float(options["cost"]) if "cost" in options else None
        budget = int(options["budget"]) if "budget" in options else None
    except ValueError:
        raise AnalyticsError("cost takes a number (per person treated) and budget a whole number of people.") from None
    from threadpoolctl import threadpool_limits

    # the pool runs two jobs at once on small machines: one OpenMP thread each (a per-thread setting) avoids
    # oversubscription, which made an 8,000-row analysis take 9 s instead of 1.6 s on a loaded 2-core machine
    with threadpool_limits(limits=1, user_api="openmp"):
        result = analyse(
            read_table(data, name), options["treatment"], options["outcome"], score=options.get("score"),
            revenue=options.get("revenue"), cost=cost, budget=budget, categorical=_names(options, "categorical"),
            numeric=_names(options, "numeric"), ignore=_names(options, "ignore"),
        )  # fmt: skip
    try:
        chart = uplift_chart(result, max_bytes=TEAMS_CHART_BYTES, dpi=80)
    except ValueError:
        chart = b""
    return result, chart


def _names(options: dict[str, str], key: str) -> tuple[str, ...]:
    """Return the comma-separated column names of option `key` (empty when absent)."""
    return tuple(part.strip() for part in options.get(key, "").split(",") if part.strip())


def _drift_job(data: list[tuple[bytes, str]], options: dict[str, str]) -> tuple[dict[str, Any], bytes | None]:
    """Read both tables, analyse and chart the drift (on the analytics pool)."""
    from services.analytics.charts import drift_chart
    from services.analytics.drift import DriftOptions, analyse
    from services.analytics.tables import read_table

    try:
        threshold = float(options.get("threshold", 0.1))
    except ValueError:
        raise AnalyticsError("threshold takes a number, the effect size that counts as drift (default 0.1).") from None
    correction = options.get("correction", "bh").lower().replace("benjamini-hochberg", "bh")
    if correction not in ("bh", "bonferroni"):
        raise AnalyticsError("correction takes bh (Benjamini–Hochberg, the default) or bonferroni.")

    reference, current = (read_table(content, name) for content, name in data)
    drift_options = DriftOptions(
        categorical=_names(options, "categorical"), numeric=_names(options, "numeric"),
        ignore=_names(options, "ignore"), target=options.get("target"),
        effect_threshold=threshold, correction=correction,
    )  # fmt: skip
    result = analyse(reference, current, drift_options)
    try:
        chart = drift_chart(result, reference, current, max_bytes=TEAMS_CHART_BYTES, dpi=70)
    except ValueError:
        chart = b""
    return result, chart


async def run_with_progress(replier: Replier, job: Any, note: str) -> Any:
    """Run `job` on the analytics pool; if it takes long, tell the user once that it is still running."""
    future = asyncio.get_running_loop().run_in_executor(ANALYTICS_POOL, job)
    done, _ = await asyncio.wait({future}, timeout=PROGRESS_AFTER_SECONDS)
    if not done:
        await replier.send_text(note)
    return await future


def register_analytics(
    router: Router, backend: Backend, config: AnalyticsConfig, usage: UsageService | None = None
) -> None:
    """Add `explain`, `metrics`, `drift` and `uplift` to the router. With `usage`, the follow-up questions of
    `explain` (the only ones that call a model) are budgeted, tallied and audited like chat turns."""

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

    one_table = functools.partial(_load, config)
    two_tables = functools.partial(_two_tables, config)

    @router.command("metrics", "evaluate a predictions file: `metrics y_true=label y_score=p`", "evaluate")
    async def metrics(turn: Turn, replier: Replier, rest: str) -> None:
        done = await _analysis(turn, replier, rest, OPTIONS, METRICS_USAGE, one_table, _evaluate_job, "Still working…")
        if done is not None:
            result, chart, (_, name) = done
            summary = result["summary"][0] if result["summary"] else f"{result['task']} evaluation"
            await replier.send_card(evaluation_card(result, name, chart), summary=summary)

    @router.command("drift", "did the data drift? attach the reference, then the current file", "compare")
    async def drift(turn: Turn, replier: Replier, rest: str) -> None:
        done = await _analysis(
            turn, replier, rest, DRIFT_OPTIONS, DRIFT_USAGE, two_tables, _drift_job, "Still comparing…"
        )
        if done is not None:
            result, chart, data = done
            await replier.send_card(drift_card(result, (data[0][1], data[1][1]), chart), summary=result["summary"][0])

    @router.command("uplift", "who to treat and what it earns: `uplift treatment=called outcome=paid`")
    async def uplift(turn: Turn, replier: Replier, rest: str) -> None:
        done = await _analysis(
            turn, replier, rest, UPLIFT_OPTIONS, UPLIFT_USAGE, one_table, _uplift_job, "Still working…"
        )
        if done is not None:
            result, chart, (_, name) = done
            await replier.send_card(uplift_card(result, name, chart), summary=result["summary"][0])


async def _analysis(
    turn: Turn, replier: Replier, rest: str, known: set[str], usage: str, load: Any, job: Any, note: str
) -> tuple[dict[str, Any], bytes | None, Any] | None:
    """Parse options, load the data with `load(turn, words)`, run `job(data, options)` off the loop; return
    (result, chart, data), or reply with one sentence and return None on bad input."""
    options, words = parse_options(rest)
    unknown = sorted(set(options) - known)
    if unknown:
        shown = ", ".join(quote(option, 30) for option in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        await replier.send_text(f"I don't know the option {shown}. {usage}")
        user_error("UnknownOption")
        return None
    try:
        data = await load(turn, words)
    except DatasetError as problem:
        await replier.send_text(str(problem))
        user_error(problem)
        return None
    if data is None:
        await replier.send_text(usage)
        return None
    await replier.typing()
    try:
        result, chart = await run_with_progress(replier, functools.partial(job, data, options), note)
    except AnalyticsError as problem:
        await replier.send_text(str(problem))
        user_error(problem)
        return None
    except ImportError:
        log.exception("analytics libraries missing")
        await replier.send_text("Analytics are not installed on this gateway (requirements-analytics.txt).")
        return None
    return result, chart, data


async def _two_tables(config: AnalyticsConfig, turn: Turn, words: list[str]) -> list[tuple[bytes, str]]:
    """Return the reference and current tables' bytes and names: two attachments, or two sources named."""
    if len(turn.files) >= 2:
        return [await config.attachment(f) for f in turn.files[:2]]
    if len(turn.files) == 1 or len(words) == 1:
        raise DatasetError("Drift needs two tables: attach (or name) the reference first and the current data second.")
    if not words:
        raise DatasetError(DRIFT_USAGE)
    return [await config.source(s, turn.user.aad_object_id) for s in words[:2]]


def _grounded(entry: Entry, question: str) -> str:
    return (
        f"Answer the question about the metric below using this glossary entry as the reference.\n\n"
        f"{entry.name}: {entry.meaning}\nFormula: {entry.formula}\nRange: {entry.range}\nGood: {entry.good}\n"
        f"Use when: {entry.when}\nPitfalls: {' '.join(entry.pitfalls)}\n\nQuestion: {question}"
    )


async def _load(config: AnalyticsConfig, turn: Turn, words: list[str]) -> tuple[bytes, str] | None:
    """Return (file bytes, name) from the first attachment, else the first s3:// URI or DATA_DIR path named;
    None when the message names no data."""
    if turn.files:
        return await config.attachment(turn.files[0])
    if words:
        return await config.source(words[0], turn.user.aad_object_id)
    return None
