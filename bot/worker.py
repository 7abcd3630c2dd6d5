"""The worker: takes a job, answers it into Teams exactly once, and reports the turn.

The same worker runs behind the in-process queue (`make run`) and behind SQS (the Lambda chat and analytics
workers). Exactly one answer per activity, whatever the queue re-delivers:
- the worker takes the job's idempotency record to `running` (taking over from the ingress's `accepting` or
  `queued`); when another worker holds it, or it is `completed`, the delivery is dropped as a duplicate;
- when the turn ends (answered, or failed with a sentence the user saw) the record becomes `completed`;
- when the worker itself fails (a crash, the turn's time limit, the Bot Connector unavailable after its own
  retries), the record is released and the error raised, so the queue delivers the job again; on the last
  attempt the user is told, with a reference id, instead. A channel failure after the answer reached the user
  completes the job instead: a retry would answer twice.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

from bot.connector import BotConnector
from bot.replier import INTERRUPTED, TeamsReplier
from bot.teams_text import set_content_hosts
from bot.user_tokens import UserTokenService
from handlers.app import new_reference, run_turn
from handlers.jobs import Job
from handlers.models import ChannelUnavailable
from handlers.report import TurnReport, current_report, time_limit
from handlers.router import Router
from services.analytics.errors import AnalyticsError
from services.observability import hash_key
from services.observability.turns import observed_turn, strings_in
from services.safe_fetch import AllowList, FetchRefused
from services.settings import Settings
from services.store import ACCEPTING, QUEUED, RUNNING, Store, StoreUnavailable

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30  # the running lease outlives the turn's time limit by this much
# The one rule between the running lease and the queue (checked at start-up, see running_lease_seconds): a
# redelivery after the queue's visibility timeout must find the lease of a worker that died expired.
PLACEHOLDER_PREFIX = "placeholder|"  # store values: the "…" message or stream a turn opened, by job
GAVE_UP = "Sorry, I could not answer that: it failed several times on my side."
CUT_OFF = "This answer was interrupted. Please ask again."
DIED = "This answer was interrupted."
MONITOR_GAVE_UP = "A scheduled monitor run failed several times on my side; it runs again at its next time."


class StillRunning(Exception):
    """Another worker holds the job's unexpired `running` lease: the delivery fails, so that the queue delivers
    the job again later (after its visibility timeout) instead of deleting it as a duplicate."""


def running_lease_seconds(turn_seconds: float) -> float:
    """Return the `running` lease of a turn that may last `turn_seconds`. A queue whose visibility timeout is
    shorter than this would deliver a dead worker's job while its lease still blocks it (one rule: visibility
    timeout >= running lease, checked by the Lambda worker at start-up and by template.yaml's parameter ranges)."""
    return turn_seconds + LEASE_MARGIN_SECONDS


class Worker:
    """Answers jobs. `on_report` receives each turn's report (the one log line and metrics of the turn)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        router: Router,
        connector: BotConnector,
        *,
        on_report: Callable[[TurnReport], None] | None = None,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        user_tokens: UserTokenService | None = None,
        scheduled: Callable[[Job, TeamsReplier], Awaitable[TurnReport]] | None = None,
    ) -> None:
        self.scheduled = scheduled  # runs jobs of kind `monitor` (handlers/monitors.py), which have no activity
        self.user_tokens = user_tokens
        self.settings = settings
        self.store = store
        self.router = router
        self.connector = connector
        self.on_report = on_report or _log_report
        self._closers = closers or []
        # With a durable queue a turn cut off at shutdown runs again at the next start: say so, not "ask again".
        self.resumes_cut_off_turns: Callable[[], bool] = lambda: False
        self._service_hosts = AllowList.of(settings.bot_service_hosts)
        set_content_hosts(settings.content_allowed_hosts)  # images and links in what the worker sends

    def _refuses_service_url(self, job: Job) -> bool:
        """Return True (and log why) when the job's serviceUrl is not a Bot Framework service host: the worker
        would send the bot's token there. The ingress checked it against the caller's token; a job can also
        come from whoever can write to the queue, so the worker checks again before a byte leaves."""
        try:
            self._service_hosts.check(job.ref.service_url)
        except FetchRefused as problem:
            log.warning(
                "job %s refused: its serviceUrl is not in BOT_SERVICE_HOSTS (%s); nothing was sent",
                job.turn.id, problem.reason,
            )  # fmt: skip
            return True
        return False

    def replier_if_allowed(self, job: Job) -> TeamsReplier | None:
        """Return the job's replier, or None (logged) when its serviceUrl is not a Bot Framework service host:
        for posts that start outside a turn (an EMR run that ended), which must pass the same check."""
        return None if self._refuses_service_url(job) else self.replier(job)

    def replier(self, job: Job) -> TeamsReplier:
        """Return the Teams replier for the job's conversation (Teams streams only in personal chats)."""
        streaming = job.turn.conversation.type == "personal"
        sign_in = None
        if self.user_tokens is not None:
            sign_in = functools.partial(self.user_tokens.sign_in_card, job.ref, job.turn)
        return TeamsReplier(
            self.connector,
            job.ref,
            streaming=streaming,
            interval=self.settings.stream_interval_seconds,
            sign_in=sign_in,
            on_placeholder=functools.partial(self._remember_placeholder, job),
        )

    async def _remember_placeholder(self, job: Job, placeholder: dict[str, str]) -> None:
        """Keep the "…" message or stream id a turn opened, so that a retry after a crash can close it."""
        ttl = int(running_lease_seconds(self.settings.turn_timeout_seconds)) + 3600
        await self.store.put_value(PLACEHOLDER_PREFIX + job.idempotency_key, placeholder, ttl)

    async def _close_earlier_placeholder(self, job: Job, replier: TeamsReplier, text: str = INTERRUPTED) -> None:
        """End the placeholder an earlier attempt of this job left open (the worker died mid-turn)."""
        key = PLACEHOLDER_PREFIX + job.idempotency_key
        earlier = await self.store.get_value(key)
        if earlier:
            log.info("job %s: closing the placeholder of an interrupted attempt", job.turn.id)
            await replier.close_earlier(earlier, text)
            await self.store.delete_value(key)

    async def _finish(self, job: Job, replier: TeamsReplier) -> None:
        """Mark a job whose turn ran `completed` and forget its placeholder. A store failure here is logged, not
        raised: raising failed the queue message, and its retry ran the turn (and the model) a second time after
        the user had the answer; the record's `running` lease keeps other deliveries off until it expires."""
        try:
            await self.store.complete(job.idempotency_key, self.settings.dedupe_ttl_seconds)
            await self._forget_placeholder(job, replier)
        except StoreUnavailable as problem:
            log.error("job %s ran, but could not be marked completed (%s): not retried", job.turn.id, problem.code)

    async def _forget_placeholder(self, job: Job, replier: TeamsReplier) -> None:
        if replier.placeholder is not None:
            await self.store.delete_value(PLACEHOLDER_PREFIX + job.idempotency_key)

    async def run(
        self,
        job: Job,
        *,
        final_attempt: bool = True,
        raise_after_giving_up: bool = False,
        timeout: float | None = None,
        busy_fails: bool = False,
        resumed: bool = False,
    ) -> TurnReport | None:
        """Answer `job` unless it is answered or being answered already; return the turn's report, or None for
        a duplicate or a job given up. Raises when the worker failed and the queue should deliver the job again.
        On the final attempt the user is told instead, and the error raised only with `raise_after_giving_up`
        (so that SQS moves the job to the dead-letter queue, where it stays visible to operators). `timeout`
        shortens TURN_TIMEOUT_SECONDS (a Lambda worker passes what is left of its own time limit).

        `busy_fails` (SQS): a job whose record another worker holds `running` raises StillRunning instead of
        being dropped, so the queue keeps it until that lease is over. `resumed` (a durable in-process queue at
        start-up): the process that held the `running` lease is gone, so the job takes it over."""
        if self._refuses_service_url(job):
            await self.store.complete(job.idempotency_key, self.settings.dedupe_ttl_seconds)
            return None
        picked_up = time.time()
        timeout = min(timeout or self.settings.turn_timeout_seconds, self.settings.turn_timeout_seconds)
        take_over = (ACCEPTING, QUEUED, RUNNING) if resumed else (ACCEPTING, QUEUED)
        held = await self.store.acquire(
            job.idempotency_key, RUNNING, running_lease_seconds(timeout), take_over=take_over
        )
        if not held.ok:
            if held.previous == RUNNING and busy_fails:
                log.warning("job %s is running on another worker (live lease): delivery failed, retried later",
                            job.turn.id)  # fmt: skip
                raise StillRunning(job.turn.id)
            log.info("job %s is %s already: dropped as a duplicate", job.turn.id, held.previous)
            return None
        replier = self.replier(job)
        try:
            await self._close_earlier_placeholder(job, replier)
        except Exception:  # noqa: BLE001 - a stale "…" is not worth failing the answer for
            log.warning("job %s: could not close an earlier placeholder", job.turn.id, exc_info=True)
        try:
            with observed_turn(*_observation(job)):
                async with time_limit(timeout):
                    if job.kind == "monitor" and self.scheduled is not None:
                        report = await self.scheduled(job, replier)  # its errors go to the queue: retried
                    else:
                        report = await run_turn(self.router, job.turn, replier)
        except BaseException as error:
            if isinstance(error, ChannelUnavailable) and replier.answered:
                # The answer reached the user and what failed came after it (a note, a confirmation card):
                # running the turn again would answer twice, so the job ends here.
                log.error(
                    "channel failed after the answer activity=%s conversation=%s: not retried (%s %s)",
                    job.turn.id, job.turn.conversation.id, type(error).__name__, getattr(error, "status", ""),
                )  # fmt: skip
                await self._finish(job, replier)
                return None
            if isinstance(error, StoreUnavailable) and replier.answered:
                log.error(  # as above: the answer is shown; what failed was recording it (history, usage…)
                    "state store failed after the answer activity=%s conversation=%s: not retried (%s)",
                    job.turn.id, job.turn.conversation.id, error.code,
                )  # fmt: skip
                await self._finish(job, replier)
                return None
            if final_attempt and isinstance(error, Exception):
                await self.give_up(job, error, held_by=held.owner, replier=replier)
                if raise_after_giving_up:
                    raise
                return None
            # Retried by the queue (an Exception) or cut off at shutdown: either way no half-written answer stays.
            if await replier.abandon(INTERRUPTED if isinstance(error, Exception) else self._cut_off_text()):
                await self._forget_placeholder(job, replier)
            await self.store.release(job.idempotency_key, held.owner)
            raise
        await self._finish(job, replier)
        report.ack_seconds, report.queue_seconds = job.waits(picked_up)
        self.on_report(report)
        return report

    def _cut_off_text(self) -> str:
        return INTERRUPTED if self.resumes_cut_off_turns() else CUT_OFF

    async def give_up(
        self, job: Job, error: BaseException | None, *, held_by: str = "", replier: TeamsReplier | None = None
    ) -> bool:
        """Tell the user the job failed for good (with a reference id) and mark it completed, so that no later
        delivery answers it a second time. Used on the last attempt and for dead-lettered jobs.

        Returns False when the user could not be told because the channel is unavailable: the record is then
        released, not completed, so that the dead-letter function tries again."""
        if self._refuses_service_url(job):
            return True
        if not held_by:
            held = await self.store.acquire(
                job.idempotency_key, RUNNING, LEASE_MARGIN_SECONDS, take_over=(ACCEPTING, QUEUED, RUNNING)
            )
            if not held.ok:  # completed: the user has had an answer
                log.info("dead-lettered job %s was answered already", job.turn.id)
                return True
            held_by = held.owner
            replier = replier or self.replier(job)
            try:  # a worker that died mid-turn left its "…" open
                await self._close_earlier_placeholder(job, replier, DIED)
            except Exception:  # noqa: BLE001 - the sentence below matters more
                log.warning("dead-lettered job %s: could not close its placeholder", job.turn.id, exc_info=True)
        reference, error_kind = new_reference(), type(error).__name__ if error else "DeadLetter"
        sentence = "That took too long and was stopped." if isinstance(error, TimeoutError) else GAVE_UP
        if job.kind == "monitor":
            sentence = MONITOR_GAVE_UP
        log.error(
            "job failed for good ref=%s activity=%s conversation=%s kind=%s error=%s",
            reference, job.turn.id, job.turn.conversation.id, job.kind, error_kind,
        )  # fmt: skip
        report = TurnReport(job.turn.id, job.turn.conversation.key, job.turn.kind, outcome="failed",
                            reference=reference, error_kind=error_kind)  # fmt: skip
        report.ack_seconds = job.waits()[0]
        told = True
        try:
            # The turn's own replier, so that an answer stream left open ends with this sentence.
            again = "" if job.kind == "monitor" else " Please try again."
            await (replier or self.replier(job)).send_text(f"{sentence}{again} (reference {reference})")
        except ChannelUnavailable:
            log.exception("could not tell the user about ref=%s: the channel is unavailable", reference)
            told = False
        except Exception:  # noqa: BLE001 - the channel refused the sentence; the log line above has the reference
            log.exception("could not tell the user about ref=%s", reference)
        if told:
            await self.store.complete(job.idempotency_key, self.settings.dedupe_ttl_seconds)
            if replier is not None:
                await self._forget_placeholder(job, replier)
        else:
            await self.store.release(job.idempotency_key, held_by)
        self.on_report(report)
        return told

    async def close(self) -> None:
        """Close the connector's (and the token service's) HTTP session and whatever else the worker was given."""
        await self.connector.close()
        if self.user_tokens is not None:
            await self.user_tokens.close()
        for close in self._closers:
            await close()


def _log_report(report: TurnReport) -> None:
    log.info("turn %s", report.as_dict())


def _observation(job: Job) -> tuple[list[str], dict[str, str], Callable[[], dict[str, str]], tuple[type, ...]]:
    """What the turn's log lines and Sentry events must leave out (its text, card data, files, the user's name)
    and carry (ids, the conversation key hashed; the report's reference, backend and command when sent)."""
    turn = job.turn
    private = [*strings_in(turn.model_dump(include={"text", "data", "files"})), turn.user.name]
    tags = {"activity_id": turn.id, "conversation": hash_key(turn.conversation.key), "job_kind": job.kind}

    def details() -> dict[str, str]:
        report = current_report()
        return {"reference": report.reference, "backend": report.backend, "command": report.command}

    return private, tags, details, (AnalyticsError,)
