"""The EMR completion against results no one on the team wrote (found by hostile26): a JSON line of another shape,
a list, thousands of nested brackets. Each run is answered once with one sentence; one bad run does not hold back
the others. S3 and EMR Serverless on moto's server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.test_analytics_prefixes import _emr_bot, aws  # noqa: F401 - the fixture


async def test_unreadable_results_are_one_sentence_each_and_do_not_block_other_runs(
    start_bot,
    tmp_path: Path,
    aws,  # noqa: F811
) -> None:
    # before: DriftResult.from_dict raised (KeyError, AttributeError, RecursionError), the claim was released and
    # check_runs stopped at that run: every minute for three hours it failed again and the runs after it waited
    from handlers.emr_completion import poster
    from services.analytics import emr

    bot, client, app = await _emr_bot(start_bot, tmp_path, aws)
    bodies = [b'{"summary": ["drift"]}', b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b'{"rows": 5}']
    for threshold in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        await bot.post(
            bot.channel("groupChat").message(f"drift s3://events/oct/ s3://events/nov/ threshold={threshold}")
        )
        await bot.settle()
    runs = [r["id"] for r in client.list_job_runs(applicationId=app)["jobRuns"]]
    assert len(runs) == 5
    for run, body in zip(runs, bodies, strict=False):  # the fifth run is cancelled
        pending = await bot.gateway.store.get_value(f"emr-run:{run}")
        aws.put_object(Bucket="events", Key=f"results/{pending['job_id']}/part-00000", Body=body)
    client.cancel_job_run(applicationId=app, jobRunId=runs[4])
    worker = bot.gateway.queue._run.__self__
    job = emr.EmrJob(app, "", "", "", "s3://events/results/")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # moto's createdAt, always
    before = len(bot.connector.messages())
    first = await emr.check_runs(bot.gateway.store, client, aws, job, poster(worker.replier),
                                 now=midnight + timedelta(minutes=1))  # fmt: skip
    assert first == dict.fromkeys(runs, "posted")
    again = await emr.check_runs(bot.gateway.store, client, aws, job, poster(worker.replier),
                                 now=midnight + timedelta(minutes=1))  # fmt: skip
    assert again == dict.fromkeys(runs, "unknown")
    texts = [m.body.get("text", "") for m in bot.connector.messages()[before:]]
    assert len(texts) == 5
    assert sum("without a readable result" in text for text in texts) == 4
    assert sum("cancelled" in text for text in texts) == 1
    assert all(len(text) < 200 for text in texts)
