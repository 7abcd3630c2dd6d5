"""ChatWorkerFunction, AnalyticsWorkerFunction and DeadLetterFunction: SQS → the worker → Teams.

Batches go through Powertools' SqsFifoPartialProcessor: a record that fails is reported as a partial batch
failure (and, FIFO, so is every record after it in the batch), so SQS delivers it again; after the queue's
`maxReceiveCount` (JOB_MAX_RECEIVES) the worker tells the user instead of failing, and the job still lands
in the dead-letter queue, whose function tells the user when a worker died without saying anything (a
Lambda timeout or out-of-memory kill). One event loop per container, as in the ingress.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.worker import Worker, running_lease_seconds
from entrypoints.wiring import build_worker, resolve_secrets
from handlers.jobs import Job, JobFormatError
from services.deployed_settings import load_deployed_settings
from services.observability import register_secrets
from services.observability.start import start_at_cold_start, start_observability
from services.settings import Settings, SettingsError

log = logging.getLogger(__name__)
LOOP = asyncio.new_event_loop()
_worker: Worker | None = None
_startup_error: SettingsError | None = None  # invalid settings, found (and logged) at the first invocation
start_at_cold_start("worker")


class MisconfiguredQueue(RuntimeError):
    """The job queue's visibility timeout is shorter than the worker's `running` lease."""


def check_queue_timing(settings: Settings, function_seconds: float | None = None) -> None:
    """Refuse to start (log an ERROR and raise MisconfiguredQueue) unless the queue's visibility timeout is at
    least the `running` lease of the longest turn (TURN_TIMEOUT_SECONDS, or the function's own time left at its
    first invocation, plus the lease margin). Shorter, SQS would deliver the job to a second worker while the
    first is still answering it, or while the lease of a worker that died still blocks the job."""
    visibility = settings.queue_visibility_timeout_seconds
    if not visibility:
        return
    longest = max(settings.turn_timeout_seconds, function_seconds or 0.0)
    lease = running_lease_seconds(longest)
    if visibility < lease:
        log.error(
            "QUEUE_VISIBILITY_TIMEOUT_SECONDS=%s is shorter than the worker's running lease (%s s: its time limit "
            "%s s plus the lease margin): refusing to start; raise the queue's VisibilityTimeout "
            "(ChatQueueVisibilityTimeout or AnalyticsQueueVisibilityTimeout) to at least %s",
            visibility, lease, longest, lease,
        )  # fmt: skip
        raise MisconfiguredQueue(f"queue visibility timeout {visibility} s < worker running lease {lease} s")


def worker(lambda_context: Any = None) -> Worker:
    """Return this container's worker, built on first use (after checking the queue's timing).

    Invalid settings are logged once as an ERROR and raised again, without reloading, at every later
    invocation of the container: the job fails fast and is retried by SQS (then dead-lettered)."""
    global _worker, _startup_error
    if _startup_error is not None:
        raise _startup_error
    if _worker is None:
        try:
            settings = load_deployed_settings()
        except SettingsError as problem:
            _startup_error = problem
            log.error("the worker cannot start: %s (fix the stack's parameters and deploy again)", problem)
            raise
        left = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context is not None else None
        check_queue_timing(settings, left)
        settings = resolve_secrets(settings)
        if settings.settings_parameter_path:  # what the path adds (LOG_FORMAT, SENTRY_RELEASE…) applies too
            start_observability(settings, "worker")
        register_secrets(settings.microsoft_app_password.get_secret_value())
        _worker = build_worker(settings)
    return _worker


STOP_MARGIN_SECONDS = 10  # the turn stops this long before Lambda would kill the worker, to tell the user


def answer(record: SQSRecord, lambda_context: Any = None) -> None:
    """Answer one job; raise so that SQS delivers it again (a malformed message is never retried usefully,
    but it is still raised: it ends in the dead-letter queue, where an operator can look at it)."""
    try:
        job = Job.from_json(record.body)
    except JobFormatError as problem:
        log.error("message %s is %s", record.message_id, problem)
        raise
    receives = int(record.attributes.approximate_receive_count or 1)
    final = receives >= worker(lambda_context).settings.job_max_receives
    left = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context is not None else None
    timeout = max(1.0, left - STOP_MARGIN_SECONDS) if left is not None else None
    # busy_fails: a job another worker still holds fails its batch item, so SQS keeps it (not a "duplicate")
    LOOP.run_until_complete(
        worker().run(job, final_attempt=final, raise_after_giving_up=True, timeout=timeout, busy_fails=True)
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; return the partial batch failures (`batchItemFailures`). The analytics worker's
    schedule (template.yaml's EmrCheck, when EnableEmrServerless) comes here too: `emr_check`."""
    if event.get("source") == "aws.events" and "Records" not in event:
        return emr_check(context)
    if (refused := _refused(event, context)) is not None:
        return refused
    processor = SqsFifoPartialProcessor()
    # A batch whose every record failed is reported like any other, not raised as a function error (the base
    # processor takes this flag; the FIFO one does not pass it through its constructor).
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event=event, record_handler=answer, processor=processor, context=context)


def emr_check(context: Any = None) -> dict[str, Any]:
    """Post the results of the EMR Serverless runs that ended (services/analytics/emr.py `check_runs`: once per
    run); return how many runs were looked at and posted."""
    import boto3

    from handlers.analytics import emr_job_of
    from handlers.emr_completion import poster
    from services.analytics import emr

    current = worker(context)
    job = emr_job_of(current.settings)
    if job is None:
        return {"checked": 0, "posted": 0}

    s3 = boto3.client("s3")
    post = poster(current.replier_if_allowed)
    done = LOOP.run_until_complete(emr.check_runs(current.store, emr.client(), s3, job, post))
    return {"checked": len(done), "posted": sum(what == "posted" for what in done.values())}


DEAD_LETTER_MAX_RECEIVES = 10  # tries at telling the user while Teams is unavailable (the DLQ's visibility: 6 min)


def dead_letter_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Tell the users of dead-lettered jobs that their request failed, unless they had an answer already.
    When Teams cannot be reached, the record is reported as a batch item failure so that the dead-letter
    queue delivers it again later (up to DEAD_LETTER_MAX_RECEIVES times)."""
    if (refused := _refused(event, context)) is not None:
        return refused
    failures = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            job = Job.from_json(record.body)
        except JobFormatError as problem:
            log.error("dead-lettered message %s is %s: dropped", record.message_id, problem)
            continue
        if LOOP.run_until_complete(worker().give_up(job, None)):
            continue
        if int(record.attributes.approximate_receive_count or 1) < DEAD_LETTER_MAX_RECEIVES:
            failures.append({"itemIdentifier": record.message_id})
        else:
            log.error("dead-lettered job %s: the user could not be told; dropped", job.turn.id)
    return {"batchItemFailures": failures}


def _refused(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """Return every record as a batch item failure when this container's settings are invalid (logged once),
    without reading the jobs; else None."""
    try:
        worker(context)
    except (SettingsError, MisconfiguredQueue):
        return {"batchItemFailures": [{"itemIdentifier": raw.get("messageId")} for raw in event.get("Records", [])]}
    except Exception:  # noqa: BLE001 - anything else fails each record on the usual path, as before
        return None
    return None
