"""Usage accounting for chat turns: admission against budgets before the backend, then tallies, budget
settlement, the audit record and any one-time notes after it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.backends.base import TokenUsage
from services.usage import budgets
from services.usage.audit import AuditLog, AuditRecord, Outcome
from services.usage.prices import Price, cost_of, price_for
from services.usage.store import Hold, Tally, UsageStore

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3


def worst_price(prices: dict[str, Price]) -> Price:
    """Return the dearest price of the table in every field (what an unpriced model is charged at)."""
    rows = list(prices.values()) or [Price(input=0.0, output=0.0)]
    return Price(
        input=max(p.input for p in rows), output=max(p.output for p in rows),
        cache_read=max(p.cache_read for p in rows), cache_write=max(p.cache_write for p in rows),
    )  # fmt: skip


def team_of(conversation_type: str, conversation_id: str, tenant_id: str) -> str:
    """Return the team a conversation counts against: `channel:<id>` (a channel, whatever its thread),
    `chat:<id>` (a group chat) or `tenant:<id>` (personal chats count against their tenant)."""
    if conversation_type == "channel":
        return "channel:" + conversation_id.split(";messageid=", 1)[0]
    if conversation_type == "groupChat":
        return "chat:" + conversation_id
    return "tenant:" + (tenant_id or "unknown")


@dataclass
class Admission:
    """The answer to "may this turn call the backend?": `allowed`, the refusal sentence otherwise, and the
    reservations to settle when the turn ends."""

    allowed: bool
    user_id: str
    team: str
    sentence: str = ""
    holds: list[Hold] = field(default_factory=list)


@dataclass
class TurnUsage:
    """What a finished turn reports for accounting and audit. `question`/`answer` are dropped unless the
    service keeps text."""

    reference_id: str
    conversation_key: str
    backend: str
    outcome: Outcome
    model_id: str = ""
    usage: TokenUsage | None = None
    guardrail_intervened: bool = False
    sources: list[str] = field(default_factory=list)
    answer_id: str = ""
    question: str = ""
    answer: str = ""


class UsageService:
    """Accounting, budgets and audit for chat turns; one per process, shared by concurrent turns."""

    def __init__(
        self,
        store: UsageStore,
        prices: dict[str, Price],
        *,
        limits: budgets.Limits | None = None,
        admins: list[str] | tuple[str, ...] = (),
        audit: AuditLog | None = None,
        include_text: bool = False,
        answer_tokens: int = 1024,
    ) -> None:
        self.store = store
        self.prices = prices
        self.limits = limits or budgets.Limits()
        self.admins = frozenset(admins)
        self.audit = audit
        self.include_text = include_text
        self.answer_tokens = answer_tokens
        self._unpriced: set[str] = set()  # models already reported as "price unknown" in the log
        # A model missing from the price table is charged at the table's dearest price against cost limits (a
        # limit that does not apply to a model would fail open); its tallies still say "price unknown".
        self.worst_price = worst_price(prices)
        self._charged_worst: set[str] = set()

    def _warn_unpriced(self, model_id: str) -> None:
        """Say once per model and process that a model with no price is charged the worst case."""
        if model_id and model_id not in self._charged_worst and price_for(model_id, self.prices) is None:
            self._charged_worst.add(model_id)
            log.warning(
                "model %s is not in the price table: its turns are charged against cost limits at the worst-case "
                "price ($%s input, $%s output per million tokens); add its price to USAGE_PRICES_FILE",
                model_id, self.worst_price.input, self.worst_price.output,
            )  # fmt: skip

    def budget_price(self, model_id: str) -> Price:
        """Return the price a turn of `model_id` is charged at against cost limits: its own, else the worst case."""
        return price_for(model_id, self.prices) or self.worst_price

    def is_admin(self, user_id: str) -> bool:
        """True when `user_id` (an Entra object id) is in ADMIN_USERS."""
        return bool(user_id) and user_id in self.admins

    async def admit(
        self, user_id: str, team: str, model_id: str, question_chars: int, answer_tokens: int | None = None
    ) -> Admission:
        """Return whether the turn may call the backend, reserving its share of every budget that applies:
        the question's tokens plus `answer_tokens` (the backend's longest answer; default: the service's).
        Admins, and turns with no limits configured, are always admitted without a reservation."""
        if self.is_admin(user_id) or not (self.limits.user or self.limits.team):
            return Admission(True, user_id, team)
        answer = self.answer_tokens if answer_tokens is None else answer_tokens
        # `question_chars` is services.backends.base.budget_chars: three units for each token it may cost.
        tokens = -(-question_chars // CHARS_PER_TOKEN) + answer
        estimate = TokenUsage(input_tokens=tokens - answer, output_tokens=answer)
        if self.limits.user_daily_cost is not None or self.limits.team_monthly_cost is not None:
            self._warn_unpriced(model_id)
        cost = cost_of(estimate, self.budget_price(model_id)) or 0.0
        holds = budgets.holds_for(self.limits, user_id, team, tokens, round(cost * 1_000_000), datetime.now(UTC))
        reached = await self.store.reserve(holds)
        if reached is not None:
            log.info("turn refused: %s is at its %s limit", reached.scope.split(":", 1)[0], reached.period)
            return Admission(False, user_id, team, budgets.refusal(reached))
        return Admission(True, user_id, team, holds=holds)

    async def finish(self, admission: Admission, turn: TurnUsage) -> list[str]:
        """Record the turn: tallies per user, team and model, budget settlement and the audit record. Return the
        one-time notes to show (a budget past 80%), at most one per budget and period."""
        started = time.perf_counter()
        usage = turn.usage or TokenUsage()
        price = price_for(turn.model_id, self.prices) if turn.model_id else None
        cost = cost_of(usage, price)
        if price is None and turn.model_id and turn.model_id not in self._unpriced:
            self._unpriced.add(turn.model_id)  # once per model and process
            log.warning("price unknown for model %s: counted in tokens only (USAGE_PRICES_FILE)", turn.model_id)
        notes: list[str] = []
        try:
            notes = await self._account(admission, turn, usage, cost)
        except Exception:  # noqa: BLE001 - the answer is already shown: a failed tally must not fail the turn
            log.exception("usage could not be recorded ref=%s", turn.reference_id)
        if self.audit is not None:
            try:
                await self.audit.write(self.audit_record(admission, turn, cost))
            except Exception:  # noqa: BLE001 - as above; the log line names the turn, never its text
                log.exception("audit record could not be written ref=%s", turn.reference_id)
        log.debug("usage recorded ref=%s in %.2f ms", turn.reference_id, (time.perf_counter() - started) * 1000)
        return notes

    async def _account(self, admission: Admission, turn: TurnUsage, usage: TokenUsage, cost: float | None) -> list[str]:
        """Add the turn to the tallies and settle its reservations; return the notes of budgets past 80%."""
        cost_micro = round((cost or 0.0) * 1_000_000)
        # The budget is charged at the worst-case price when the model has none (the tally keeps it unpriced).
        charged = (
            cost_micro if cost is not None else round((cost_of(usage, self.budget_price(turn.model_id)) or 0) * 1e6)
        )
        notes: list[str] = []
        if admission.allowed:
            tally = Tally(
                usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
                cost_micro, turns=1, unpriced_turns=int(cost is None), estimated_turns=int(usage.estimated),
            )  # fmt: skip
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            keys: dict[Any, str] = {"user": admission.user_id or "unknown", "team": admission.team,
                                    "model": turn.model_id or turn.backend, "backend": turn.backend}  # fmt: skip
            await self.store.add(day, keys, tally)
            for balance in await self.store.settle(admission.holds, usage.total_tokens, charged):
                if budgets.near_limit(balance) and await self.store.mark_noted(balance.hold):
                    notes.append(budgets.note(balance))
        return notes

    def audit_record(self, admission: Admission, turn: TurnUsage, cost: float | None) -> AuditRecord:
        """Return the audit record of a turn (text only when the service keeps text)."""
        return AuditRecord(
            reference_id=turn.reference_id,
            user_id=admission.user_id,
            conversation_key=turn.conversation_key,
            team=admission.team,
            backend=turn.backend,
            model_id=turn.model_id,
            outcome=turn.outcome,
            guardrail_intervened=turn.guardrail_intervened,
            sources=turn.sources,
            usage=turn.usage,
            cost_usd=cost,
            answer_id=turn.answer_id,
            question=turn.question if self.include_text else None,
            answer=turn.answer if self.include_text else None,
        )

    async def close(self) -> None:
        """Release the store."""
        await self.store.close()


def usage_service_from_settings(settings: Any) -> UsageService | None:
    """Return the UsageService the settings describe: DynamoDB when USAGE_TABLE is set (else SQLite beside the
    state in STATE_DB), the price table, budgets, admins and the audit log. None on AWS (STORE=dynamodb) without
    USAGE_TABLE: there is no local file to count in, so usage is not counted (a warning says so)."""
    from services.usage.audit import audit_log_from_settings
    from services.usage.prices import load_prices

    if settings.usage_table:
        from services.usage.dynamodb import DynamoDBUsageStore

        store: UsageStore = DynamoDBUsageStore(settings.usage_table)
    elif settings.store == "dynamodb":
        log.warning("USAGE_TABLE is not set: token usage is not counted, budgets and the audit trail are off")
        return None
    else:
        from services.usage.sqlite import SQLiteUsageStore

        store = SQLiteUsageStore(settings.state_db)
    prices = load_prices(settings.usage_prices_file)
    limits = budgets.Limits.from_settings(settings)
    if limits.user_daily_cost is not None or limits.team_monthly_cost is not None:
        worst = worst_price(prices)
        log.info(
            "cost limits are set: a model missing from the price table is charged against them at the table's "
            "worst-case price ($%s input, $%s output per million tokens)", worst.input, worst.output,
        )  # fmt: skip
    return UsageService(
        store,
        prices,
        limits=limits,
        admins=settings.admin_users,
        audit=audit_log_from_settings(settings),
        include_text=settings.audit_include_text,
    )
