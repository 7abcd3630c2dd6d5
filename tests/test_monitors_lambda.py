"""Monitors on the deployed shape: the ingress and the analytics worker (SQS FIFO and DynamoDB on moto's
server), the tick function that EventBridge Scheduler invokes, and the fake Bot Connector."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bot.emulator.activities import TeamsChannel
from handlers.monitor_tick import monitor_job
from services.monitors.store import DynamoDBMonitorStore
from tests.aws import aws_environment, create_fifo_queues, create_table, moto_server, poll_once
from tests.conftest import DOCS, card_of, card_text
from tests.test_lambda import call, drain, http_event
from tests.test_monitors_e2e import ADMIN, write_predictions


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def deployed(moto_url, monkeypatch, tmp_path, connector):
    import boto3

    import entrypoints.lambda_ingress as ingress_module
    import entrypoints.lambda_tick as tick_module
    import entrypoints.lambda_worker as worker_module

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    prefix = uuid.uuid4().hex[:8]
    chat, _ = create_fifo_queues(sqs, f"chat-{prefix}")
    analytics, analytics_dlq = create_fifo_queues(sqs, f"analytics-{prefix}")
    table = create_table(dynamodb)
    (tmp_path / "data").mkdir()
    settings = {
        "STORE": "dynamodb", "DYNAMODB_TABLE": table, "QUEUE": "sqs", "CHAT_QUEUE_URL": chat,
        "ANALYTICS_QUEUE_URL": analytics, "BACKEND": "local", "KNOWLEDGE_DIR": str(DOCS),
        "STATE_DB": str(tmp_path / "state.db"), "JOB_MAX_RECEIVES": "3", "TURN_TIMEOUT_SECONDS": "120",
        "ADMIN_USERS": ADMIN, "DATA_DIR": str(tmp_path / "data"),
        "BOT_SERVICE_HOSTS": "http://127.0.0.1",  # the fake connector (no AWS_LAMBDA_FUNCTION_NAME here)
    }  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for module, name in ((ingress_module, "_ingress"), (worker_module, "_worker"), (tick_module, "_tick")):
        monkeypatch.setattr(module, name, None)
    yield {"sqs": sqs, "chat": chat, "analytics": analytics, "analytics_dlq": analytics_dlq, "ingress": ingress_module,
           "worker": worker_module, "tick": tick_module, "connector": connector, "data": tmp_path / "data",
           "monitors": DynamoDBMonitorStore(table, dynamodb)}  # fmt: skip
    if worker_module.__dict__.get("_worker"):
        worker_module.LOOP.run_until_complete(worker_module._worker.close())


async def test_create_then_the_tick_function_enqueues_and_the_analytics_worker_posts_once(deployed):
    aws, connector = deployed, deployed["connector"]
    channel = TeamsChannel(connector.url, shape="channel")
    create = channel.message("monitor metrics preds-{today}.csv y_true=label y_score=score auc<0.80 every hour")
    assert (await call(aws["ingress"].handler, http_event(create)))["statusCode"] == 200
    assert await drain(aws, "chat") == 0 and await drain(aws, "analytics") == 1  # `monitor` runs on analytics
    reply = connector.messages()[-1].body["text"]
    assert "created" in reply, reply
    monitor_id = reply.split("`")[1]
    monitor = await aws["monitors"].get(monitor_id)
    assert monitor.service_url == connector.url and ";messageid=" not in monitor.conversation_id

    assert (await call(aws["tick"].handler, {}))["enqueued"] == 0  # due at the next full hour, not now
    now = time.time()
    assert await aws["monitors"].advance(monitor_id, monitor.next_run, now - 5)  # make it due
    write_predictions(aws["data"], time.strftime("%Y-%m-%d", time.gmtime(now - 5)), broken=True)
    posts = len(connector.messages())
    assert (await call(aws["tick"].handler, {"source": "aws.scheduler"}))["enqueued"] == 1
    assert (await call(aws["tick"].handler, {}))["enqueued"] == 0  # the next run moved on
    assert (await aws["monitors"].get(monitor_id)).next_run > now
    # SQS delivers at least once: the same scheduled job a second time (another deduplication id) posts nothing
    due_job = monitor_job(monitor, now - 5).to_json()
    aws["sqs"].send_message(QueueUrl=aws["analytics"], MessageBody=due_job, MessageGroupId="g",
                            MessageDeduplicationId="again")  # fmt: skip
    assert await drain(aws, "analytics") == 2
    (post,) = connector.messages()[posts:]
    assert "floor crossed" in card_text(card_of(post)) and post.activity_id == ""
    assert "Messages" not in aws["sqs"].receive_message(QueueUrl=aws["analytics_dlq"])
    assert (await aws["monitors"].get(monitor_id)).last_verdict == "floor"


async def test_a_run_that_keeps_failing_is_retried_then_the_conversation_is_told_once(deployed, monkeypatch):
    aws, connector = deployed, deployed["connector"]
    import handlers.monitor_analysis as analysis

    async def broken(*args, **kwargs):
        raise RuntimeError("the analysis process died")

    monkeypatch.setattr(analysis, "analyse", broken)
    channel = TeamsChannel(connector.url, shape="groupChat")
    await call(
        aws["ingress"].handler, http_event(channel.message("monitor metrics preds-{today}.csv auc<0.8 every hour"))
    )
    await drain(aws, "analytics")
    monitor_id = connector.messages()[-1].body["text"].split("`")[1]
    monitor = await aws["monitors"].get(monitor_id)
    await aws["monitors"].advance(monitor_id, monitor.next_run, time.time() - 5)
    write_predictions(aws["data"], time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5)))
    posts = len(connector.messages())
    await call(aws["tick"].handler, {})
    failures = []
    for _ in range(3):  # JOB_MAX_RECEIVES=3: two failures retried by SQS, the third tells the conversation
        count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["analytics"], aws["worker"].handler)
        failures.append((count, len(answer["batchItemFailures"])))
    assert failures == [(1, 1)] * 3  # told on the last attempt, and still failed: dead-lettered for operators
    told = [m.body.get("text", "") for m in connector.messages()[posts:]]
    assert len(told) == 1 and "scheduled monitor run failed" in told[0] and "reference" in told[0]


async def test_a_monitor_whose_runs_keep_failing_is_paused_not_told_at_every_run(deployed, monkeypatch):
    """Each run is retried and told once; the third run in a row that fails pauses the monitor with one
    notice, so a broken analysis (or a bot removed from the channel) does not post at every run for ever."""
    aws, connector = deployed, deployed["connector"]
    import handlers.monitor_analysis as analysis

    async def broken(*args, **kwargs):
        raise RuntimeError("the analysis process died")

    monkeypatch.setattr(analysis, "analyse", broken)
    write_predictions(aws["data"], "x")
    channel = TeamsChannel(connector.url, shape="groupChat")
    await call(aws["ingress"].handler, http_event(channel.message("monitor metrics preds-x.csv auc<0.8 every hour")))
    await drain(aws, "analytics")
    monitor_id = connector.messages()[-1].body["text"].split("`")[1]
    posts = len(connector.messages())
    for run in range(4):
        monitor = await aws["monitors"].get(monitor_id)
        if monitor.next_run is None:
            break
        assert await aws["monitors"].advance(monitor_id, monitor.next_run, time.time() - 50 + run)
        assert (await call(aws["tick"].handler, {}))["enqueued"] == 1
        for _ in range(3):  # JOB_MAX_RECEIVES=3
            if (await asyncio.to_thread(poll_once, aws["sqs"], aws["analytics"], aws["worker"].handler))[0] == 0:
                break
    told = [m.body.get("text") or card_text(card_of(m)) for m in connector.messages()[posts:]]
    assert len(told) == 3 and all("scheduled monitor run failed" in t for t in told[:2]), told
    assert "is paused" in told[2] and "failed on my side 3 times in a row" in told[2]
    assert (await aws["monitors"].get(monitor_id)).next_run is None


def test_the_template_ticks_every_minute_with_least_privilege():
    from tests.cfn import resource

    schedule = resource("MonitorTickSchedule")
    assert schedule["ScheduleExpression"] == "rate(1 minute)" and schedule["FlexibleTimeWindow"]["Mode"] == "OFF"
    role = resource("MonitorTickScheduleRole")
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    tick = resource("MonitorTickFunction")
    assert tick["Handler"] == "entrypoints.lambda_tick.handler"
    actions = sorted(s["Action"] for s in tick["Policies"][0]["Statement"])
    assert actions == ["dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage"]
    # the state table also holds idempotency records, tokens and rate buckets: the tick may update monitors only
    (update,) = [s for s in tick["Policies"][0]["Statement"] if s["Action"] == "dynamodb:UpdateItem"]
    assert update["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["monitor#*"]}}


def test_the_tick_function_imports_no_analytics_library():
    import subprocess
    import sys

    from services.settings import REPO_ROOT

    code = "import sys, entrypoints.lambda_tick; print(sorted({'pandas', 'numpy', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


async def test_an_s3_prefix_of_partitions_reads_its_newest_partition_whole_and_other_buckets_are_refused(
    moto_url, monkeypatch
):
    import io

    import boto3
    import pandas as pd

    from handlers.monitors import MonitorConfig, MonitorRunner
    from services.datasets import DatasetError
    from services.monitors.sources import snapshots

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def parquet(values: list[int]) -> bytes:
        buffer = io.BytesIO()
        pd.DataFrame({"a": values}).to_parquet(buffer, index=False)
        return buffer.getvalue()

    for part, values in (("part-00000", [1, 2]), ("part-00001", [3, 4])):
        s3.put_object(Bucket=bucket, Key=f"events/dt=2026-12-07/{part}.parquet", Body=parquet(values))
    s3.put_object(Bucket=bucket, Key="events/dt=2026-12-07/_SUCCESS", Body=b"")
    await asyncio.sleep(1.1)  # S3's LastModified has one-second resolution: a re-run of an older day comes later
    s3.put_object(Bucket=bucket, Key="events/dt=2026-12-06/part-00000.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="events/hour=9/x.csv", Body=b"a\n1\n")  # another partition column
    s3.put_object(Bucket=bucket, Key="events/hour=10/x.csv", Body=b"a\n1\n")
    runner = MonitorRunner(None, MonitorConfig(allowed_buckets=(bucket,)), post=None)
    folder, name = await runner._fetch(f"s3://{bucket}/events/")  # the newest by its value, every part file
    assert name == "dt=2026-12-07" and sorted(pd.read_parquet(folder)["a"]) == [1, 2, 3, 4]
    from handlers.monitors import _remove

    _remove([(folder, name)])
    assert not folder.exists()  # the temporary copy is deleted after the run
    data, name = await runner._fetch(f"s3://{bucket}/events/dt=2026-12-06/")  # a partition named: that day
    assert (data, name) == (b"a,b\n1,2\n", "part-00000.csv")
    pair = await snapshots(f"s3://{bucket}/events/", 2, data_dir=None, allowed_buckets=(bucket,))
    assert pair == [f"s3://{bucket}/events/dt=2026-12-06/", f"s3://{bucket}/events/dt=2026-12-07/"]
    with pytest.raises(DatasetError, match="of different columns"):  # numbers by value (10 after 9), then text:
        await snapshots(f"s3://{bucket}/events/", 3, data_dir=None, allowed_buckets=(bucket,))  # hour=10 and dt=…
    with pytest.raises(DatasetError, match="no files"):
        await runner._fetch(f"s3://{bucket}/events/dt=2026-12-08/")
    with pytest.raises(DatasetError, match="S3_ALLOWED_BUCKETS"):
        await MonitorRunner(None, MonitorConfig(allowed_buckets=("other",)), post=None)._fetch(f"s3://{bucket}/events/")
