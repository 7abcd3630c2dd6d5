"""Starting a drift or metrics job on EMR Serverless (boto3 `emr-serverless`), checked against the allowed
buckets first.

The worker starts a run (`start_drift`: the turn's id as client token, so a redelivered queue message starts no
second run) and keeps a pending record (`emr-run:<run id>`: where to post). The completion (`finish`, for each
run `ended_runs` lists) posts the answer exactly once: the idempotency record `emr-run-posted:<run id>` is
claimed before posting and completed after, as the worker does for jobs. The job itself is
services/analytics/spark_job.py, uploaded with the gateway's code by `make emr-artifacts`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from services.analytics.errors import AnalyticsError
from services.quoting import quote

log = logging.getLogger(__name__)

TERMINAL = {"SUCCESS": "succeeded", "FAILED": "failed", "CANCELLED": "was cancelled"}
ARROW = "spark.sql.execution.arrow.pyspark.enabled=true"
# The Python of the application's image (infra/emr/Dockerfile installs it with the job's pinned libraries):
# the release's own Python is 3.9 without them. EMR Serverless takes the driver's environment from
# spark.emr-serverless.driverEnv.* and the executors' from spark.executorEnv.*.
JOB_PYTHON = "/usr/bin/python3.11"
PYTHON_CONF = (
    f"spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={JOB_PYTHON}",
    f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={JOB_PYTHON}",
    f"spark.executorEnv.PYSPARK_PYTHON={JOB_PYTHON}",
)
MAX_MINUTES = 120  # a drift job of 100 M + 100 M rows takes minutes (bench/spark_drift.py): stop runaway jobs


@dataclass(frozen=True)
class EmrJob:
    """Where the job runs: the application, the job role, the job script and the gateway's code (zip) in S3."""

    application_id: str
    role_arn: str
    script_uri: str
    code_uri: str
    output_prefix: str


def _bucket(uri: str) -> str:
    parsed = urlparse(uri)
    return parsed.netloc if parsed.scheme == "s3" else ""


def check_sources(sources: list[str], allowed_buckets: Collection[str]) -> None:
    """Raise AnalyticsError (one sentence, the same for every refusal) unless every source is an s3:// prefix
    in an allowed bucket: the job role reads only those buckets, and nothing starts for a refused one."""
    for source in sources:
        if _bucket(source) not in allowed_buckets:
            raise AnalyticsError(
                f"I cannot read {quote(source, 100)} on Spark: name an s3:// prefix in a bucket this gateway may "
                "read (S3_ALLOWED_BUCKETS)."
            )


def start_drift(
    client: Any, job: EmrJob, reference: str, current: str, options: dict[str, Any], job_id: str,
    allowed_buckets: Collection[str],
) -> str:  # fmt: skip
    """Start the drift job on `reference` and `current` (s3:// prefixes); return the job run's id. `job_id`
    (the gateway's job id) is the client token: starting the same job twice returns the first run."""
    return start_analysis(client, job, "drift", [reference, current], options, job_id, allowed_buckets)


def start_analysis(
    client: Any, job: EmrJob, kind: str, sources: list[str], options: dict[str, Any], job_id: str,
    allowed_buckets: Collection[str],
) -> str:  # fmt: skip
    """Start the job of command `kind` ("drift": two prefixes; "metrics": one) on `sources` (s3:// prefixes);
    return the job run's id (see start_drift). Metrics runs get `"kind": "metrics"` in their options."""
    check_sources(sources, allowed_buckets)
    output = f"{job.output_prefix.rstrip('/')}/{job_id}/"
    options = options if kind == "drift" else {**options, "kind": kind}
    response = client.start_job_run(
        applicationId=job.application_id,
        clientToken=job_id,
        executionRoleArn=job.role_arn,
        name=f"{kind}-{job_id}"[:256],
        executionTimeoutMinutes=MAX_MINUTES,
        jobDriver={
            "sparkSubmit": {
                "entryPoint": job.script_uri,
                "entryPointArguments": [*sources, output, json.dumps(options, sort_keys=True)],
                "sparkSubmitParameters": submit_parameters(job.code_uri),
            }
        },
        tags={"gateway-job": job_id[:256]},
    )
    return str(response["jobRunId"])


def submit_parameters(code_uri: str) -> str:
    """Return the job run's spark-submit parameters: the gateway's code, Arrow, and the image's Python 3.11 on
    the driver and the executors."""
    return " ".join([f"--py-files {code_uri}", *(f"--conf {conf}" for conf in (ARROW, *PYTHON_CONF))])


def run_state(client: Any, application_id: str, run_id: str) -> tuple[str, str]:
    """Return (state, sentence): the run's EMR state and, once it ended badly, one sentence with its id."""
    run = client.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
    state = run["state"]
    if state in ("FAILED", "CANCELLED"):
        return state, f"The Spark job {TERMINAL[state]} (reference {quote(run_id, 40)}): ask an admin to look it up."
    return state, ""


RESULT_MAX_BYTES = 4_000_000  # a drift result is kilobytes; anything larger is not ours to post
POSTED_TTL_SECONDS = 7 * 24 * 3600


def client() -> Any:
    """Return an EMR Serverless client with short timeouts (AWS_ENDPOINT_URL_EMR_SERVERLESS in tests)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3})
    return boto3.client("emr-serverless", config=config)


def ended_runs(client: Any, application_id: str, since: Any, limit: int = 200) -> list[str]:
    """Return the ids of the application's runs created after `since` (a datetime) that have ended, at most
    `limit` (the completion's scheduled check calls this each minute)."""
    found: list[str] = []
    pages = client.get_paginator("list_job_runs").paginate(
        applicationId=application_id, createdAtAfter=since, states=list(TERMINAL)
    )
    for page in pages:
        found += [run["id"] for run in page.get("jobRuns", [])]
        if len(found) >= limit:
            break
    return found[:limit]


def read_result(s3: Any, output_prefix: str) -> dict[str, Any]:
    """Return the result the job wrote under `output_prefix` (Spark's text output: one part file, one JSON line)."""
    parsed = urlparse(output_prefix)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=100).get("Contents", [])
    parts = [o for o in listed if o["Key"].rsplit("/", 1)[-1].startswith("part-") and o["Size"] > 0]
    if len(parts) != 1 or parts[0]["Size"] > RESULT_MAX_BYTES:
        raise AnalyticsError("The Spark job ended without a readable result.")
    body = s3.get_object(Bucket=bucket, Key=parts[0]["Key"])["Body"].read(RESULT_MAX_BYTES + 1)
    try:
        result = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        raise AnalyticsError("The Spark job ended without a readable result.") from None
    if not isinstance(result, dict):
        raise AnalyticsError("The Spark job ended without a readable result.")
    return result


Post = Callable[[dict[str, Any], dict[str, Any] | None, str], Awaitable[None]]


async def finish(store: Any, emr_client: Any, s3: Any, job: EmrJob, run_id: str, post: Post) -> str:
    """Post the answer of run `run_id` once, through `post(pending record, result or None, failure sentence)`.

    Returns what happened: "running" (not ended yet), "unknown" (no pending record: not ours, or expired),
    "posted", or "duplicate" (another check holds or completed the post). A failure is one sentence with the
    run id as the reference; `post` raising releases the claim, so the next check tries again."""
    import asyncio

    state, sentence = await asyncio.to_thread(run_state, emr_client, job.application_id, run_id)
    if state not in TERMINAL:
        return "running"
    pending = await store.get_value(f"emr-run:{run_id}")
    if pending is None:
        return "unknown"
    key = f"emr-run-posted:{run_id}"
    claim = await store.acquire(key, "running", 300)
    if not claim.ok:
        return "duplicate"
    try:
        result = None
        if state == "SUCCESS":
            try:
                output = f"{job.output_prefix.rstrip('/')}/{pending['job_id']}/"
                result = await asyncio.to_thread(read_result, s3, output)
            except (AnalyticsError, ValueError, KeyError):
                sentence = f"The Spark job ended without a readable result (reference {quote(run_id, 40)})."
        await post(pending, result, sentence)
    except BaseException:
        await store.release(key, claim.owner)
        raise
    await store.complete(key, POSTED_TTL_SECONDS)
    await store.delete_value(f"emr-run:{run_id}")
    return "posted"


async def check_runs(store: Any, emr_client: Any, s3: Any, job: EmrJob, post: Post, now: Any = None) -> dict[str, str]:
    """The scheduled check: `finish` every run of the application that ended in the last MAX_MINUTES + 60
    minutes; return {run id: what happened}. Runs already posted find their pending record gone ("unknown")."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    since = (now or datetime.now(UTC)) - timedelta(minutes=MAX_MINUTES + 60)
    runs = await asyncio.to_thread(ended_runs, emr_client, job.application_id, since)
    done: dict[str, str] = {}
    for run in runs:  # one run that cannot be posted (Teams down for it) must not hold back the others
        try:
            done[run] = await finish(store, emr_client, s3, job, run, post)
        except Exception:  # noqa: BLE001 - its claim is released: the next check tries it again
            log.exception("posting EMR run %s failed; the next check tries again", quote(run, 40))
            done[run] = "failed"
    return done
