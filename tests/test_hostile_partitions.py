"""Which partition is the newest (services/monitors/sources.py), on folder names no one on the team chose (found by
hostile26): months and days without a leading zero, two formats, dates year last, two partition columns, NaN,
more partitions than are listed. A wrong order compares the wrong days without a word; a refusal says why."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from services.datasets import DatasetError
from services.monitors import sources
from services.monitors.sources import snapshots
from tests.test_analytics_prefixes import aws  # noqa: F401 - the fixture


def _folders(root: Path, names: list[str]) -> None:
    for name in names:
        (root / "t" / name).mkdir(parents=True)


@pytest.mark.parametrize(
    ("names", "pair"),
    [
        (["dt=2026-9", "dt=2026-10", "dt=2026-11"], ["dt=2026-10", "dt=2026-11"]),  # was 2026-11 then 2026-9
        (["dt=2026-12-7", "dt=2026-12-10"], ["dt=2026-12-7", "dt=2026-12-10"]),
        (["hour=2026-12-07T9", "hour=2026-12-07T10"], ["hour=2026-12-07T9", "hour=2026-12-07T10"]),
        (["n=9", "n=10", "n=1.5"], ["n=9", "n=10"]),
        (["dt=2026-12-06", "dt=2026-12-07", "dt=__HIVE_DEFAULT_PARTITION__"], ["dt=2026-12-06", "dt=2026-12-07"]),
    ],
)
async def test_the_newest_partition_is_the_largest_value_read_run_by_run(tmp_path, names, pair):
    _folders(tmp_path, names)
    found = await snapshots("t/", 2, data_dir=tmp_path, allowed_buckets=())
    assert found == [f"t/{name}/" for name in pair]


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (["dt=2026-12-07", "dt=20261208"], "not written one way"),  # was: 2026-12-07 the newest
        (["dt=5", "dt=nan"], "not written one way"),  # was: nan the newest
        (["dt=2026-12-07", "region=eu"], "partitions of different columns"),  # was: a day against a region
        (["dt=07-12-2026", "dt=08-11-2026"], "year last"),  # was: 8 November newer than 7 December
    ],
)
async def test_an_order_that_cannot_be_told_is_refused_in_one_sentence(tmp_path, names, words):
    _folders(tmp_path, names)
    with pytest.raises(DatasetError, match=words):
        await snapshots("t/", 2, data_dir=tmp_path, allowed_buckets=())


async def test_more_partitions_than_listed_is_refused_not_cut(tmp_path, monkeypatch):
    # before: the first 5,000 names were kept, so past 5,000 days the newest days were never compared
    monkeypatch.setattr(sources, "MAX_PARTITIONS", 5)
    _folders(tmp_path, [f"dt={day}" for day in range(1, 8)])
    with pytest.raises(DatasetError, match="more than 5 partitions"):
        await snapshots("t/", 2, data_dir=tmp_path, allowed_buckets=())


async def test_more_s3_partitions_than_listed_is_refused_not_cut(aws, monkeypatch):  # noqa: F811
    monkeypatch.setattr(sources, "MAX_PARTITIONS", 3)
    s3 = boto3.client("s3", region_name="us-east-1")
    for day in range(1, 6):
        s3.put_object(Bucket="events", Key=f"t/dt=2026-12-0{day}/part-0.parquet", Body=b"x")
    with pytest.raises(DatasetError, match="more than 3 partitions"):
        await snapshots("s3://events/t/", 2, data_dir=None, allowed_buckets=("events",))


def test_a_monitor_reads_a_file_name_with_an_equals_sign_as_data():
    # before: `scores_k=10.csv` was taken for an option and refused ("I do not know scores_k=10.csv")
    from handlers.monitors import parse_definition

    kind, found, options, _, _ = parse_definition("metrics scores_k=10.csv k=5 auc<0.8 every day at 09:00")
    assert (kind, found, options) == ("metrics", ["scores_k=10.csv"], "k=5")
