"""The monitors' store: SQLite and DynamoDB (moto's server on loopback, the table built from template.yaml)."""

from __future__ import annotations

import asyncio

import pytest

from services.monitors.model import Floor, Monitor
from services.monitors.store import DUE_INDEX, DynamoDBMonitorStore, SQLiteMonitorStore
from tests.aws import aws_environment, create_table, moto_server


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "dynamodb"])
def monitors(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield SQLiteMonitorStore(tmp_path / "state.db")
        return
    import boto3

    url = request.getfixturevalue("moto_url")
    for name, value in aws_environment(url).items():
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb")
    table = create_table(client)
    yield DynamoDBMonitorStore(table, client)
    client.delete_table(TableName=table)


def monitor(key: str = "conv-a", next_run: float | None = 1000.0, **fields) -> Monitor:
    return Monitor(
        kind="metrics", conversation_key=key, service_url="http://127.0.0.1:1", conversation_id=key,
        created_by="aad-1", created_at=fields.pop("created_at", 1.0), sources=["preds.csv"],
        floors=[Floor(metric="auc", op="<", value=0.8)], schedule="every hour", next_run=next_run, **fields,
    )  # fmt: skip


async def test_due_lists_only_active_monitors_at_or_before_now_in_order(monitors):
    late, early, paused, future = (
        monitor(next_run=900.0), monitor(next_run=500.0), monitor(next_run=None, paused="creator left"),
        monitor("conv-b", next_run=5000.0),
    )  # fmt: skip
    for m in (late, early, paused, future):
        await monitors.save(m)
    assert [m.id for m in await monitors.due(1000.0)] == [early.id, late.id]
    assert [m.id for m in await monitors.due(1000.0, limit=1)] == [early.id]
    assert (await monitors.get(paused.id)).paused == "creator left"
    assert (await monitors.get(early.id)).floors[0].text == "auc<0.8"


async def test_advance_moves_next_run_once_for_two_ticks(monitors):
    m = monitor(next_run=600.0)
    await monitors.save(m)
    if isinstance(monitors, DynamoDBMonitorStore):
        # moto's server checks a condition and writes without a lock: two concurrent conditional updates both
        # succeeded there on a loaded machine (DynamoDB itself makes each conditional write atomic), so the
        # condition is tested one write after the other
        first, second = await monitors.advance(m.id, 600.0, 4200.0), await monitors.advance(m.id, 600.0, 4200.0)
    else:
        first, second = await asyncio.gather(
            monitors.advance(m.id, 600.0, 4200.0), monitors.advance(m.id, 600.0, 4200.0)
        )
    assert sorted([first, second]) == [False, True]
    assert (await monitors.get(m.id)).next_run == 4200.0
    assert await monitors.due(1000.0) == []


async def test_conversation_listing_and_delete(monitors):
    a1, a2, b1 = monitor("conv-a", created_at=2.0), monitor("conv-a", created_at=1.0), monitor("conv-b")
    for m in (a1, a2, b1):
        await monitors.save(m)
    assert [m.id for m in await monitors.for_conversation("conv-a")] == [a2.id, a1.id]
    await monitors.delete(a1)
    assert [m.id for m in await monitors.for_conversation("conv-a")] == [a2.id]
    assert await monitors.get(a1.id) is None
    assert {m.id for m in await monitors.due(2000.0)} == {a2.id, b1.id}


def test_template_declares_the_due_index():
    from tests.cfn import resource

    (index,) = resource("StateTable")["GlobalSecondaryIndexes"]
    assert index["IndexName"] == DUE_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["due", "next_run"]


async def test_one_tick_enqueues_every_due_monitor_not_one_batch_a_minute(monitors):
    """1,000 daily monitors at 09:00 must not wait for five ticks (five minutes) at 200 a tick."""
    from handlers.monitor_tick import tick

    class Counted:
        def __init__(self) -> None:
            self.jobs = []

        async def submit(self, job) -> None:
            self.jobs.append(job.idempotency_key)

    due = [monitor(f"conv-{i}", next_run=100.0 + i) for i in range(25)]
    for m in due:
        await monitors.save(m)
    queue = Counted()
    assert await tick(monitors, queue, 1000.0, limit=10) == 25
    assert sorted(queue.jobs) == sorted(f"monitor:{m.id}:{int(m.next_run)}" for m in due)
    assert await monitors.due(1000.0) == [] and await tick(monitors, queue, 1000.0, limit=10) == 0


async def test_update_replaces_a_monitor_but_never_brings_back_a_stopped_one(monitors):
    """A run records its verdict after reading the monitor; `monitor stop` may come in between."""
    m = monitor(next_run=600.0)
    await monitors.save(m)
    assert await monitors.update(m.model_copy(update={"last_verdict": "drift", "next_run": None}))
    assert (await monitors.get(m.id)).last_verdict == "drift" and await monitors.due(1000.0) == []
    await monitors.delete(m)
    assert not await monitors.update(m.model_copy(update={"last_verdict": "ok"}))
    assert await monitors.get(m.id) is None and await monitors.for_conversation(m.conversation_key) == []
