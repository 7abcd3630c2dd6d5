"""Starting a drift job on EMR Serverless (services/analytics/emr.py) against moto's server on loopback."""

from __future__ import annotations

import json

import boto3
import pytest

from services.analytics import emr
from services.analytics.errors import AnalyticsError
from tests.aws import aws_environment, moto_server

JOB = emr.EmrJob("", "arn:aws:iam::123456789012:role/drift-job", "s3://code/drift_job.py", "s3://code/gateway.zip",
                 "s3://results/drift")  # fmt: skip


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - boto3's EMR Serverless client
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_EMR_SERVERLESS", url)
        yield boto3.client("emr-serverless", region_name="us-east-1")


def test_start_drift_sends_the_run_and_reads_its_state(client) -> None:
    app = client.create_application(name="gateway", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    job = emr.EmrJob(app, *list(JOB.__dict__.values())[1:])
    run = emr.start_drift(client, job, "s3://data/events/dt=2026-10/", "s3://data/events/dt=2026-11/",
                          {"threshold": 0.1}, "job-1", {"data"})  # fmt: skip
    sent = client.get_job_run(applicationId=app, jobRunId=run)["jobRun"]
    assert sent["executionRole"] == JOB.role_arn
    arguments = sent["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert arguments[:3] == [
        "s3://data/events/dt=2026-10/",
        "s3://data/events/dt=2026-11/",
        "s3://results/drift/job-1/",
    ]
    assert json.loads(arguments[3]) == {"threshold": 0.1}
    assert "--py-files s3://code/gateway.zip" in sent["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    state, sentence = emr.run_state(client, app, run)
    assert state in {"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"} and sentence == ""


class NoCalls:
    def start_job_run(self, **_: object) -> None:
        raise AssertionError("a job started for a refused bucket")


def test_a_bucket_outside_the_allow_list_starts_nothing() -> None:
    with pytest.raises(AnalyticsError, match="S3_ALLOWED_BUCKETS"):
        emr.start_drift(NoCalls(), JOB, "s3://data/a/", "s3://secret/b/", {}, "job-2", {"data"})
    with pytest.raises(AnalyticsError, match="S3_ALLOWED_BUCKETS"):
        emr.start_drift(NoCalls(), JOB, "/etc/", "s3://data/b/", {}, "job-3", {"data"})
