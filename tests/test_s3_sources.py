"""`s3://` data sources through the real boto3 client against moto's S3 server on loopback."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from services.quoting import quote
from tests.conftest import card_of, card_text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    import boto3

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="analytics")
    yield client
    server.stop()


def predictions() -> bytes:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 4, 2000)
    return pd.DataFrame({"label": (rng.random(2000) < p).astype(int), "p": p}).to_csv(index=False).encode()


async def test_metrics_reads_an_s3_uri(start_bot, s3):
    s3.put_object(Bucket="analytics", Key="models/preds.csv", Body=predictions())
    bot = await start_bot(s3_allowed_buckets="analytics")
    await bot.post(bot.channel().message("metrics y_true=label y_score=p s3://analytics/models/preds.csv"))
    await bot.settle()
    assert card_text(card_of(bot.connector.messages()[-1])).startswith("Binary classifier: 2,000 rows from preds.csv")


@pytest.mark.parametrize(
    ("uri", "words"),
    [("s3://analytics/missing.csv", "does not exist or"), ("s3://nobucket/x.csv", "does not exist or"),
     ("s3://analytics", "not a full S3 address")],
)  # fmt: skip
async def test_s3_problems_get_one_sentence(start_bot, s3, uri, words):
    bot = await start_bot(s3_allowed_buckets="analytics")
    await bot.post(bot.channel().message(f"metrics y_true=label y_score=p {uri}"))
    await bot.settle()
    assert words in bot.connector.messages()[-1].body["text"]


async def test_s3_objects_over_the_limit_are_refused_before_download(start_bot, s3):
    s3.put_object(Bucket="analytics", Key="big.csv", Body=b"x" * 1_100_000)
    bot = await start_bot(analytics_max_file_mb=1, s3_allowed_buckets="analytics")
    await bot.post(bot.channel().message("metrics s3://analytics/big.csv"))
    await bot.settle()
    assert "larger than the 1 MB limit" in bot.connector.messages()[-1].body["text"]


async def test_drift_reads_two_s3_uris(start_bot, s3):
    rng = np.random.default_rng(1)
    for key, shift in (("jan.csv", 0.0), ("feb.csv", 1.0)):
        table = pd.DataFrame({"x": rng.normal(shift, 1, 1500), "y": rng.choice(["a", "b"], 1500)})
        s3.put_object(Bucket="analytics", Key=key, Body=table.to_csv(index=False).encode())
    bot = await start_bot(s3_allowed_buckets="analytics")
    await bot.post(bot.channel().message("drift s3://analytics/jan.csv s3://analytics/feb.csv"))
    await bot.settle()
    assert card_text(card_of(bot.connector.messages()[-1])).startswith("Data drift detected: feb.csv against jan.csv")


async def test_buckets_off_the_list_and_missing_objects_get_the_same_sentence(start_bot, s3):
    s3.put_object(Bucket="analytics", Key="preds.csv", Body=predictions())
    s3.create_bucket(Bucket="secret")
    s3.put_object(Bucket="secret", Key="preds.csv", Body=predictions())
    bot = await start_bot(s3_allowed_buckets="analytics")
    uris = ("s3://secret/preds.csv", "s3://secret/missing.csv", "s3://analytics/missing.csv")
    for uri in uris:
        await bot.post(bot.channel().message(f"metrics y_true=label y_score=p {uri}"))
        await bot.settle()
    messages = zip(bot.connector.messages(), uris, strict=True)
    texts = [c.body["text"].replace(quote(uri, 100), "URI") for c, uri in messages]
    assert len(texts) == 3 and len(set(texts)) == 1  # nothing tells an existing object from a missing one
