"""Posting EMR Serverless drift and metrics results into their conversations (services/analytics/emr.py
`check_runs`).

The pending record the chat turn kept (handlers/analytics.py) holds the conversation, the user and where to post;
from it a job is rebuilt (kind `analytics`, idempotency key `emr:<run id>`) only to get the worker's Teams
replier, its serviceUrl checked again before a byte leaves. The answer is the chat command's own card (drift or
metrics, from the pending record's command), so the conversation cannot tell which engine ran; a failed run gets
its one sentence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from handlers.analytics_cards import drift_card, evaluation_card
from handlers.jobs import ConversationRef, Job
from handlers.models import Conversation, Replier, Turn, User
from handlers.periodic import Periodic
from services.analytics.drift_types import DriftResult
from services.analytics.metrics_types import MetricsResult
from services.analytics.pipeline import summary_line

log = logging.getLogger(__name__)


def pending_job(run_id: str, pending: dict[str, Any]) -> Job:
    """Return the job standing for a pending run's conversation (to address the reply, never queued)."""
    conversation = Conversation(**pending["conversation"])
    key = f"emr:{run_id}"
    return Job(
        kind="analytics", idempotency_key=key, group_key=conversation.key, ref=ConversationRef(**pending["ref"]),
        turn=Turn(id=key, kind="message", user=User(**pending["user_model"]), conversation=conversation),
        accepted_at=time.time(),
    )  # fmt: skip


def poster(replier_for: Callable[[Job], Replier | None]) -> Any:
    """Return the `post` of emr.finish: the command's card (or the failure sentence) through `replier_for(job)`,
    which returns None for a job it refuses to answer (its serviceUrl off BOT_SERVICE_HOSTS)."""

    async def post(pending: dict[str, Any], result: dict[str, Any] | None, sentence: str) -> None:
        if not pending.get("ref"):  # asked where there is no conversation to post to: nothing to retry
            log.warning("EMR run %s has no conversation to post to: its result stays in S3", pending.get("run"))
            return
        job = pending_job(str(pending.get("run", "")), pending)
        replier = replier_for(job)
        if replier is None:
            return
        if result is None:
            await replier.send_text(sentence)
            return
        names = (pending["names"] + ["", ""])[:2]
        if pending.get("command") == "metrics":
            evaluation = MetricsResult.from_dict(result)  # the job's JSON line
            await replier.send_card(evaluation_card(evaluation, names[0], None),
                                    summary=summary_line(evaluation, "metrics result"))  # fmt: skip
            return
        drift = DriftResult.from_dict(result)  # the job's JSON line
        card = drift_card(drift, (names[0], names[1]), None)
        await replier.send_card(card, summary=summary_line(drift, "drift result"))

    return post


class EmrChecker(Periodic):
    """The scheduled check in this process (`make run` with EMR_* set): every `interval` seconds, `check_runs`
    posts the runs that ended through `replier_for`. On AWS the analytics worker's EmrCheck schedule does this
    (entrypoints/lambda_worker.py `emr_check`); without it a run started from `make run` would never be posted.
    The same claims make each run post once even when both check the same application."""

    what = "EMR check"

    def __init__(
        self, store: Any, job: Any, replier_for: Callable[[Job], Replier | None], *, interval: float = 60.0,
        clock: Callable[[], Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(interval=interval)
        self.store = store
        self.job = job
        self.replier_for = replier_for
        self.clock = clock  # returns the check's `now` (a datetime); None: the current time

    async def check_once(self) -> dict[str, str]:
        """Post the runs that ended; return {run id: what happened} (services/analytics/emr.py `check_runs`)."""
        import asyncio

        import boto3

        from services.analytics import emr

        s3, client = await asyncio.to_thread(lambda: (boto3.client("s3"), emr.client()))
        now = self.clock() if self.clock else None
        return await emr.check_runs(self.store, client, s3, self.job, poster(self.replier_for), now=now)

    run_once = check_once
