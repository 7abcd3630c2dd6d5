"""Usage in chat: budgets and accounting around each answer, and the admins' `usage` command.

Budgets are checked before the backend is called; tallies, budget settlement and the audit record follow
the answer whatever its outcome (answered, blocked, stopped, failed, timed out or cancelled).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from handlers.cards import card, facts, text
from handlers.models import Replier, Turn
from handlers.report import current_report, timed_out
from handlers.router import Router
from services.backends import FinalAnswer, TokenUsage, collect_unfinished_usage
from services.backends.base import budget_chars
from services.usage import Admission, TurnUsage, UsageService, team_of
from services.usage.audit import Outcome
from services.usage.report import UsageReport, load_report
from services.usage.store import Tally

log = logging.getLogger(__name__)

NOT_ADMIN = "The `usage` command is for the gateway's administrators; ask one of them if you need these figures."
USAGE_HELP = "Send `usage` for the last 7 days or `usage 30` for the last 30 days."
TOP = 10  # rows per table in the card
Answered = tuple[FinalAnswer, str] | None
T = TypeVar("T")


def user_of(turn: Turn) -> str:
    """Return the id usage is counted under: the Entra object id, or the channel's user id without one."""
    return turn.user.aad_object_id or turn.user.id


async def metered(
    service: UsageService | None,
    turn: Turn,
    replier: Replier,
    answer: Callable[[], Awaitable[Answered]],
    *,
    backend: str,
    model_id: str,
    question: str,
    prompt_chars: int | None = None,
    answer_tokens: int | None = None,
) -> Answered:
    """Run `answer` (which shows the backend's answer and returns (final answer, message id), or None when the
    user stopped it) inside the budgets and the accounting; return what it returned, or None when a budget
    refused the turn (the user got the sentence). Without a service, just run `answer`.

    `question` is what the audit keeps (when it keeps text); `prompt_chars` the length of what is sent to the
    model, for the budget reservation (default: the question's), and `answer_tokens` the backend's longest answer
    (Capabilities.answer_tokens). However the turn ends (answered, blocked,
    stopped, failed, timed out or cancelled), its reservation is settled, its tokens tallied and its audit
    record written, and a cancellation cannot interrupt that halfway."""
    if service is None:
        return await answer()
    conversation = turn.conversation
    team = team_of(conversation.type, conversation.id, conversation.tenant_id)
    report = current_report()  # the turn's report: its reference becomes the audit record's
    report.reference = report.reference or uuid.uuid4().hex[:8]
    record = TurnUsage(
        reference_id=report.reference, conversation_key=conversation.key, backend=backend, outcome="failed",
        model_id=model_id, question=question,
    )  # fmt: skip
    chars = budget_chars(question) if prompt_chars is None else prompt_chars
    admitting = _own_task(service.admit(user_of(turn), team, model_id, chars, answer_tokens))
    try:
        admission = await asyncio.shield(admitting)
    except asyncio.CancelledError:  # the reservation may still be made: release it, and audit, when it is
        record.outcome = _interrupted()
        _own_task(_finish_when_admitted(service, admitting, record))
        raise
    if not admission.allowed:
        record.outcome = report.outcome = "over_budget"
        await asyncio.shield(_own_task(service.finish(admission, record)))  # its audit record, whatever happens
        await replier.send_text(admission.sentence)
        return None
    unfinished: list[tuple[TokenUsage, str]] = []
    try:
        with collect_unfinished_usage() as unfinished:
            answered = await answer()
        _describe(record, answered, unfinished)
    except asyncio.CancelledError:  # the turn's time limit, or the worker shutting down
        record.outcome = _interrupted()
        _describe(record, None, unfinished, outcome=record.outcome)
        raise
    finally:  # an error keeps the outcome "failed" (the error policy answers the user); tokens 0 unless estimated
        notes = await asyncio.shield(_own_task(service.finish(admission, record)))
    if record.usage is not None:
        report.tokens_in, report.tokens_out = record.usage.prompt_tokens, record.usage.output_tokens
    for note in notes:
        await replier.send_text(note)
    return answered


# Accounting tasks run on their own, so that cancelling a turn cannot stop a reservation, a settlement or an
# audit record halfway; kept here until done (the event loop holds tasks only weakly).
_accounting: set[asyncio.Future[Any]] = set()


def _own_task(work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    task = asyncio.ensure_future(work)
    _accounting.add(task)
    task.add_done_callback(_accounting.discard)
    return task


def _interrupted() -> Outcome:
    """Return the outcome of a cancelled turn: "timeout" when its time limit expired, else "cancelled"."""
    return "timeout" if timed_out() else "cancelled"


async def _finish_when_admitted(service: UsageService, admitting: asyncio.Future[Admission], record: TurnUsage) -> None:
    """Settle (release) the reservation of a turn cancelled while it was being admitted, once it is made."""
    try:
        admission = await admitting
    except Exception:  # noqa: BLE001 - nothing was reserved; nobody is left to tell
        log.warning("budget check of a cancelled turn failed ref=%s", record.reference_id, exc_info=True)
        return
    await service.finish(admission, record)


def _describe(
    record: TurnUsage, answered: Answered, unfinished: list[tuple[TokenUsage, str]], *, outcome: Outcome = "stopped"
) -> None:
    """Fill `record` from the turn's result: the final answer, or (stopped, timed out, cancelled) the backend's
    estimate if any."""
    if answered is None:
        record.outcome = outcome
        if unfinished:
            record.usage, record.model_id = unfinished[-1][0], unfinished[-1][1] or record.model_id
        return
    final = answered[0]
    record.outcome = "blocked" if final.blocked else "answered"
    record.usage, record.model_id = final.usage, final.model_id or record.model_id
    record.guardrail_intervened = final.blocked
    record.sources = [c.url or c.source for c in final.citations]
    record.answer_id, record.answer = final.message_id, final.text


def register_usage(router: Router, service: UsageService) -> None:
    """Register the `usage` command (administrators only)."""

    @router.command(
        "usage", "token use and estimated cost of the last 7 or 30 days (administrators)",
        shown_to=lambda turn: service.is_admin(turn.user.aad_object_id),
    )  # fmt: skip
    async def usage(turn: Turn, replier: Replier, rest: str) -> None:
        if not service.is_admin(turn.user.aad_object_id):
            await replier.send_text(NOT_ADMIN)
            return
        choice = rest.strip().lower().removesuffix("d").removesuffix(" days")
        if choice not in ("", "7", "30"):
            await replier.send_text(USAGE_HELP)
            return
        days = int(choice or 7)
        report = await load_report(service.store, days)
        chart = await asyncio.to_thread(_chart, report)
        await replier.send_card(usage_card(report, chart), summary=f"Usage of the last {days} days")


def _chart(report: UsageReport) -> bytes:
    """Return the report's chart, or b"" when it cannot be drawn (the card then goes without it)."""
    try:
        from services.usage.chart import usage_chart  # matplotlib: only here, on the analytics worker

        return usage_chart(report)
    except (ImportError, ValueError, RuntimeError):
        log.warning("the usage chart could not be drawn", exc_info=True)
        return b""


def dollars(micro: int) -> str:
    """Return micro-dollars as a short dollar amount: two decimals from one cent, four below."""
    value = micro / 1_000_000
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def _line(tally: Tally) -> str:
    line = f"{tally.tokens:,} tokens · {dollars(tally.cost_micro)} · {tally.turns:,} turns"
    return line + (f" ({tally.unpriced_turns:,} price unknown)" if tally.unpriced_turns else "")


def usage_card(report: UsageReport, chart_png: bytes) -> dict[str, Any]:
    """Return the Adaptive Card of a usage report: totals, the chart, and the top users, teams and models."""
    total = report.total
    prompt = total.input_tokens + total.cache_read_tokens + total.cache_write_tokens
    cached = f"{total.cache_read_tokens / prompt:.0%}" if prompt else "–"
    body: list[dict[str, Any]] = [
        text(f"Usage from {report.first_day} to {report.last_day} (UTC)", weight="Bolder", size="Medium"),
        facts([
            ("Turns", f"{total.turns:,}"),
            ("Tokens", f"{total.tokens:,} ({total.input_tokens:,} input, {total.output_tokens:,} output, "
                       f"{total.cache_read_tokens:,} cache read, {total.cache_write_tokens:,} cache write)"),
            ("Prompt tokens read from the cache", cached),
            ("Estimated cost", dollars(total.cost_micro)),
        ]),
    ]  # fmt: skip
    if total.unpriced_turns:
        unknown = f"Price unknown for {total.unpriced_turns:,} turns (models not in the price table): "
        body.append(text(unknown + "counted in tokens only, not in the estimated cost.", isSubtle=True, size="Small"))
    if total.estimated_turns:
        body.append(text(f"{total.estimated_turns:,} stopped answers are counted with estimated tokens.",
                         isSubtle=True, size="Small"))  # fmt: skip
    if chart_png:
        uri = "data:image/png;base64," + base64.b64encode(chart_png).decode()
        body.append({"type": "Image", "url": uri, "altText": "Tokens per day", "size": "Stretch"})
    for title, rows in (("Users", report.by_user), ("Teams", report.by_team), ("Models", report.by_model),
                        ("Backends", report.by_backend)):  # fmt: skip
        if rows:
            body.append(text(f"{title} (top {min(TOP, len(rows))} of {len(rows)})", weight="Bolder", spacing="Medium"))
            body.append(facts([(key, _line(tally)) for key, tally in rows[:TOP]]))
    if not total.turns:
        body.append(text("No turns were recorded in this period."))
    return card(body)
