"""Many-file tables from chat (handlers/analytics_large.py): DATA_DIR folders and `s3://` prefixes of Parquet,
the engine chosen by ANALYTICS_ENGINE, ANALYTICS_SPARK_ROWS/MB and `engine=`, bounded listings; S3 on moto's
server on loopback, EMR Serverless there too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from services import dataset_prefixes
from tests.aws import aws_environment, moto_server
from tests.conftest import card_of, card_text


def write_days(folder: Path, shift: float, seed: int, days: int = 2, rows: int = 800) -> None:
    rng = np.random.default_rng(seed)
    for day in range(days):
        part = folder / f"dt=2026-11-0{day + 1}"
        part.mkdir(parents=True)
        table = pd.DataFrame({"x": rng.normal(shift, 1, rows), "y": rng.choice(["a", "b"], rows)})
        table.to_parquet(part / "part-0.parquet")
    (folder / "_SUCCESS").write_text("")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        for service in ("S3", "EMR_SERVERLESS"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", url)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="events")
        yield s3


def upload(s3, folder: Path, prefix: str) -> None:  # noqa: ANN001
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "events", f"{prefix}{path.relative_to(folder).as_posix()}")


async def test_drift_on_two_data_dir_folders_runs_locally_when_small(start_bot, tmp_path: Path) -> None:
    write_days(tmp_path / "oct", 0.0, 1)
    write_days(tmp_path / "nov", 1.0, 2)
    bot = await start_bot(data_dir=tmp_path)
    await bot.post(bot.channel().message("drift oct nov"))
    await bot.settle()
    texts = [m.body.get("text", "") for m in bot.connector.messages()]
    assert not any("Spark" in text for text in texts)
    assert card_text(card_of(bot.connector.messages()[-1])).startswith("Data drift detected: nov against oct")


async def test_analytics_engine_spark_on_prefixes_needs_emr_and_engine_local_overrides(
    start_bot, tmp_path: Path, aws
) -> None:
    write_days(tmp_path / "oct", 0.0, 1)
    write_days(tmp_path / "nov", 1.0, 2)
    upload(aws, tmp_path / "oct", "oct/")
    upload(aws, tmp_path / "nov", "nov/")
    bot = await start_bot(s3_allowed_buckets="events", analytics_engine="spark")
    await bot.post(bot.channel().message("drift s3://events/oct/ s3://events/nov/"))
    await bot.settle()
    text = bot.connector.messages()[-1].body["text"]
    assert "EMR Serverless" in text and "engine=local" in text  # no EMR here: one sentence, nothing ran
    await bot.post(bot.channel().message("drift s3://events/oct/ s3://events/nov/ engine=local"))
    await bot.settle()  # forced local: the prefixes are copied (2 files each, the _SUCCESS marker skipped)
    assert card_text(card_of(bot.connector.messages()[-1])).startswith("Data drift detected: nov against oct")


async def _emr_bot(start_bot, tmp_path: Path, aws) -> tuple[Any, Any, str]:
    """Two one-day prefixes in the bucket, an EMR Serverless application on moto and a bot that sends drift
    on them to it: (bot, the emr-serverless client, the application id)."""
    write_days(tmp_path / "oct", 0.0, 1, days=1)
    write_days(tmp_path / "nov", 1.0, 2, days=1)
    upload(aws, tmp_path / "oct", "oct/")
    upload(aws, tmp_path / "nov", "nov/")
    client = boto3.client("emr-serverless", region_name="us-east-1")
    app = client.create_application(name="gateway", releaseLabel="emr-7.5.0", type="SPARK")["applicationId"]
    bot = await start_bot(
        s3_allowed_buckets="events", analytics_engine="spark", emr_application_id=app,
        emr_job_role_arn="arn:aws:iam::123456789012:role/job", emr_job_uri="s3://events/code/spark_job.py",
        emr_code_uri="s3://events/code/gateway.zip", emr_output_prefix="s3://events/results/",
    )  # fmt: skip
    return bot, client, app


async def test_emr_starts_one_run_and_posts_its_result_once(start_bot, tmp_path: Path, aws) -> None:
    from services.analytics import emr

    bot, client, app = await _emr_bot(start_bot, tmp_path, aws)
    message = bot.channel().message("drift s3://events/oct/ s3://events/nov/")
    await bot.post(message)
    await bot.settle()
    text = bot.connector.messages()[-1].body["text"]
    assert "Running on Spark" in text and "minute" in text and "EMR Serverless (run" in text
    runs = client.list_job_runs(applicationId=app)["jobRuns"]
    assert len(runs) == 1
    run = runs[0]["id"]
    pending = await bot.gateway.store.get_value(f"emr-run:{run}")
    assert pending is not None and pending["names"] == ["oct", "nov"]
    # the job wrote its result (Spark's text output); moto's runs end at once
    aws.put_object(Bucket="events", Key=f"results/{pending['job_id']}/part-00000", Body=b'{"summary": ["drift"]}')
    posted: list[tuple] = []

    async def post(record, result, sentence) -> None:  # noqa: ANN001
        posted.append((record["conversation_key"], result, sentence))

    job = emr.EmrJob(app, "arn:aws:iam::123456789012:role/job", "", "", "s3://events/results/")
    assert emr.ended_runs(client, app, datetime(2000, 1, 1, tzinfo=UTC)) == [run]  # moto's runs end at once

    async def broken(record, result, sentence) -> None:  # noqa: ANN001
        raise ConnectionError("Teams is down")

    with pytest.raises(ConnectionError):  # the post failed: the claim is released, the next check posts
        await emr.finish(bot.gateway.store, client, aws, job, run, broken)
    outcomes = [await emr.finish(bot.gateway.store, client, aws, job, run, post) for _ in range(2)]
    assert outcomes == ["posted", "unknown"]
    assert posted == [(pending["conversation_key"], {"summary": ["drift"]}, "")]
    # a cancelled run: one sentence with the run id as the reference
    await bot.post(bot.channel().message("drift s3://events/oct/ s3://events/nov/ threshold=0.2"))
    await bot.settle()
    second = next(r["id"] for r in client.list_job_runs(applicationId=app)["jobRuns"] if r["id"] != run)
    client.cancel_job_run(applicationId=app, jobRunId=second)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # moto's createdAt, always
    checked = await emr.check_runs(bot.gateway.store, client, aws, job, post, now=midnight + timedelta(minutes=1))
    assert checked == {run: "unknown", second: "posted"}
    assert posted[-1][1] is None and f"reference {second}" in posted[-1][2] and "cancelled" in posted[-1][2]


async def test_the_scheduled_check_posts_the_drift_card_into_the_conversation(start_bot, tmp_path: Path, aws) -> None:
    import json

    from handlers.emr_completion import poster
    from services.analytics import emr
    from services.analytics.drift import analyse

    bot, client, app = await _emr_bot(start_bot, tmp_path, aws)
    await bot.post(bot.channel("groupChat").message("drift s3://events/oct/ s3://events/nov/"))
    await bot.settle()
    (run,) = [r["id"] for r in client.list_job_runs(applicationId=app)["jobRuns"]]
    pending = await bot.gateway.store.get_value(f"emr-run:{run}")
    tables = [pd.read_parquet(tmp_path / name) for name in ("oct", "nov")]
    result = json.dumps(analyse(tables[0].drop(columns="dt"), tables[1].drop(columns="dt")).to_dict(), default=float)
    aws.put_object(Bucket="events", Key=f"results/{pending['job_id']}/part-00000", Body=result.encode())
    worker = bot.gateway.queue._run.__self__  # the in-process worker: its Teams replier, as on Lambda
    before = len(bot.connector.messages())
    job = emr.EmrJob(app, "", "", "", "s3://events/results/")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # moto's createdAt, always
    for _ in range(2):  # two checks, one post
        await emr.check_runs(
            bot.gateway.store, client, aws, job, poster(worker.replier), now=midnight + timedelta(minutes=1)
        )
    posted = bot.connector.messages()[before:]
    assert len(posted) == 1
    assert card_text(card_of(posted[0])).startswith("Data drift detected: nov against oct")


async def test_make_run_posts_a_run_started_on_emr_once(start_bot, tmp_path: Path, aws) -> None:
    # `make run` with EMR_* set starts runs on EMR Serverless; the Lambda schedule that posts them does not run
    # here, so the in-process gateway checks too (before: no checker, the answer never came)
    from handlers.emr_completion import EmrChecker

    plain = await start_bot()
    assert not [task for task in plain.gateway.background if isinstance(task, EmrChecker)]  # no EMR: no check
    bot, client, app = await _emr_bot(start_bot, tmp_path, aws)
    (checker,) = [task for task in bot.gateway.background if isinstance(task, EmrChecker)]
    await bot.post(bot.channel().message("drift s3://events/oct/ s3://events/nov/"))
    await bot.settle()
    (run,) = [r["id"] for r in client.list_job_runs(applicationId=app)["jobRuns"]]
    client.cancel_job_run(applicationId=app, jobRunId=run)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # moto's createdAt, always
    checker.clock = lambda: midnight + timedelta(minutes=1)
    before = len(bot.connector.messages())
    assert [await checker.check_once() for _ in range(2)] == [{run: "posted"}, {run: "unknown"}]
    posted = bot.connector.messages()[before:]
    assert len(posted) == 1 and f"reference {run}" in posted[0].body["text"]


def test_listings_are_bounded_and_stay_inside_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from services.datasets import DatasetError

    write_days(tmp_path / "oct", 0.0, 1)
    listing = asyncio.run(dataset_prefixes.list_many("oct", data_dir=tmp_path, allowed_buckets=(), max_bytes=10**9))
    assert listing.rows == 1600 and len(listing.files) == 2  # rows from the footers; _SUCCESS skipped
    with pytest.raises(DatasetError, match="more than 1,000 bytes"):
        asyncio.run(dataset_prefixes.list_many("oct", data_dir=tmp_path, allowed_buckets=(), max_bytes=1000))
    monkeypatch.setattr(dataset_prefixes, "MAX_OBJECTS", 1)
    with pytest.raises(DatasetError, match="more than 1 files"):
        asyncio.run(dataset_prefixes.list_many("oct", data_dir=tmp_path, allowed_buckets=(), max_bytes=10**9))
    assert not dataset_prefixes.is_many("../", tmp_path / "oct")
    with pytest.raises(DatasetError, match="may not read"):
        asyncio.run(dataset_prefixes.list_many("s3://secret/x/", data_dir=None, allowed_buckets=("events",),
                                               max_bytes=10**9))  # fmt: skip


async def test_the_thresholds_choose_spark_for_a_large_folder_and_say_how_long(tmp_path: Path) -> None:
    from handlers.analytics_large import place
    from services.analytics.commands import DRIFT, METRICS, UPLIFT, check_values
    from services.analytics.errors import AnalyticsError

    write_days(tmp_path / "oct", 0.0, 1)
    write_days(tmp_path / "nov", 1.0, 2)
    listings = [await dataset_prefixes.list_many(name, data_dir=tmp_path, allowed_buckets=(), max_bytes=10**9)
                for name in ("oct", "nov")]  # fmt: skip
    values = check_values(DRIFT, {})
    small = await place(DRIFT, values, listings, default_engine="auto", spark_rows=10_000, spark_mb=100,
                        max_local_bytes=10**8)  # fmt: skip
    assert small.values["engine"] == "local" and small.message == "" and small.sources[0][0] == tmp_path / "oct"
    large = await place(DRIFT, values, listings, default_engine="auto", spark_rows=3000, spark_mb=100,
                        max_local_bytes=10**8)  # fmt: skip
    assert large.values["engine"] == "spark" and "3,200 rows" in large.message and "about 1 minute" in large.message
    assert large.sources == [(str(tmp_path / "oct"), "oct"), (str(tmp_path / "nov"), "nov")]
    forced = await place(DRIFT, check_values(DRIFT, {"engine": "local"}), listings, default_engine="spark",
                         spark_rows=1, spark_mb=1, max_local_bytes=10**8)  # fmt: skip
    assert forced.values["engine"] == "local"  # the command's engine= beats ANALYTICS_ENGINE
    with pytest.raises(AnalyticsError, match="does not run on Spark yet"):
        await place(UPLIFT, check_values(UPLIFT, {}), listings[:1], default_engine="spark", spark_rows=1,
                    spark_mb=1, max_local_bytes=10**8)  # fmt: skip
    metrics = await place(METRICS, check_values(METRICS, {}), listings[:1], default_engine="spark", spark_rows=1,
                          spark_mb=1, max_local_bytes=10**8)  # fmt: skip
    assert metrics.values["engine"] == "spark" and metrics.sources == [(str(tmp_path / "oct"), "oct")]


async def test_metrics_on_a_prefix_start_the_metrics_job_and_the_check_posts_the_metrics_card(
    start_bot, tmp_path: Path, aws
) -> None:
    import json

    from handlers.emr_completion import poster
    from services.analytics import emr
    from services.analytics.metrics import evaluate

    bot, client, app = await _emr_bot(start_bot, tmp_path, aws)
    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 400)
    scores = pd.DataFrame({"label": label, "p": np.clip(0.3 * label + rng.random(400) * 0.7, 0, 1)})
    (tmp_path / "scores").mkdir()
    scores.to_parquet(tmp_path / "scores" / "part-0.parquet")
    upload(aws, tmp_path / "scores", "scores/")
    await bot.post(bot.channel("groupChat").message("metrics s3://events/scores/ y_true=label y_score=p"))
    await bot.settle()
    assert "EMR Serverless (run" in bot.connector.messages()[-1].body["text"]
    (run,) = [r["id"] for r in client.list_job_runs(applicationId=app)["jobRuns"]]
    driver = client.get_job_run(applicationId=app, jobRunId=run)["jobRun"]["jobDriver"]["sparkSubmit"]
    source, output, options = driver["entryPointArguments"]  # one table: SOURCE OUTPUT OPTIONS
    assert source == "s3://events/scores/" and json.loads(options)["kind"] == "metrics"
    pending = await bot.gateway.store.get_value(f"emr-run:{run}")
    assert pending["command"] == "metrics" and output.endswith(f"/{pending['job_id']}/")
    result = json.dumps(evaluate(scores, "label", "p").to_dict())  # what the job writes (tests/test_spark_drift.py)
    aws.put_object(Bucket="events", Key=f"results/{pending['job_id']}/part-00000", Body=result.encode())
    worker = bot.gateway.queue._run.__self__
    before = len(bot.connector.messages())
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # moto's createdAt, always
    await emr.check_runs(bot.gateway.store, client, aws, emr.EmrJob(app, "", "", "", "s3://events/results/"),
                         poster(worker.replier), now=midnight + timedelta(minutes=1))  # fmt: skip
    (posted,) = bot.connector.messages()[before:]
    assert card_text(card_of(posted)).startswith("Binary classifier: 400 rows from scores; positive class '1'")


def test_partition_columns_below_the_named_folders_are_left_out_and_said(tmp_path: Path) -> None:
    """Two months, each folder holding its own day folders (dt=…): before, drift called `dt` changed (its values
    differ by construction) unless the user said ignore=dt. Data: statsmodels' Fair (1978) affairs survey, one
    random half per "month", so no other column moves."""
    import statsmodels.datasets

    from services.analytics import engine, pipeline
    from services.analytics.commands import DRIFT, check_values

    table = statsmodels.datasets.fair.load_pandas().data.sample(frac=1.0, random_state=0)
    halves = {"2026-10": table.iloc[::2], "2026-11": table.iloc[1::2]}
    for month, half in halves.items():
        for day in range(3):
            folder = tmp_path / month / f"dt={month}-0{day + 1}"
            folder.mkdir(parents=True)
            half.iloc[day::3].to_parquet(folder / "part-0.parquet", index=False)
    sources = [(tmp_path / month, month) for month in halves]
    result = pipeline.run(DRIFT, sources, check_values(DRIFT, {"engine": "local", "tests_only": True}),
                          chart=False).result  # fmt: skip
    assert "dt" not in {c.name for c in result.columns} and not result.dataset_drift
    assert any(note.startswith("'dt' is a folder partition") for note in result.kind_notes)
    named = pipeline.run(DRIFT, sources, check_values(DRIFT, {"engine": "local", "tests_only": True,
                                                              "categorical": ("dt",)}), chart=False).result  # fmt: skip
    assert named.column("dt").drifted and not any("folder partition" in note for note in named.kind_notes)
    assert engine.partition_columns(["file:///d/m/a=1/b=x/f.parquet", "/d/m/top.parquet", "/e/c=1/f.parquet"],
                                    "/d/m/") == ("a", "b")  # fmt: skip
    assert engine.partition_columns(["s3://b/events/dt=1/x.parquet"], "s3://b/events") == ("dt",)
