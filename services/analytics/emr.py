"""Starting a drift job on EMR Serverless (boto3 `emr-serverless`), checked against the allowed buckets first.

Built: the StartJobRun call (the job id as client token, so a redelivered queue message starts no second run)
and reading a run's state. Not built: the template's application and job role, the completion rule and the
message to the conversation (docs/analytics.md, "Large data on Spark").
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from services.analytics.errors import AnalyticsError
from services.quoting import quote

TERMINAL = {"SUCCESS": "succeeded", "FAILED": "failed", "CANCELLED": "was cancelled"}
ARROW = "spark.sql.execution.arrow.pyspark.enabled=true"
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
    check_sources([reference, current], allowed_buckets)
    output = f"{job.output_prefix.rstrip('/')}/{job_id}/"
    response = client.start_job_run(
        applicationId=job.application_id,
        clientToken=job_id,
        executionRoleArn=job.role_arn,
        name=f"drift-{job_id}"[:256],
        executionTimeoutMinutes=MAX_MINUTES,
        jobDriver={
            "sparkSubmit": {
                "entryPoint": job.script_uri,
                "entryPointArguments": [reference, current, output, json.dumps(options, sort_keys=True)],
                "sparkSubmitParameters": f"--py-files {job.code_uri} --conf {ARROW}",
            }
        },
        tags={"gateway-job": job_id[:256]},
    )
    return str(response["jobRunId"])


def run_state(client: Any, application_id: str, run_id: str) -> tuple[str, str]:
    """Return (state, sentence): the run's EMR state and, once it ended badly, one sentence with its id."""
    run = client.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
    state = run["state"]
    if state in ("FAILED", "CANCELLED"):
        return state, f"The Spark job {TERMINAL[state]} (reference {quote(run_id, 40)}): ask an admin to look it up."
    return state, ""
