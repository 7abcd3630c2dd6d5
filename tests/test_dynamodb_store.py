"""DynamoDBStore through the real boto3 client against moto's DynamoDB server on loopback (real HTTP)."""

from __future__ import annotations

import asyncio

import pytest

from services.store import ACCEPTING, COMPLETED, QUEUED, RUNNING, Feedback, StateConflict, update_conversation
from services.store.dynamodb import DynamoDBStore
from tests.aws import aws_environment, create_table, moto_server


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def store(moto_url, monkeypatch):
    import boto3

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb")
    table = create_table(client)
    yield DynamoDBStore(table, client)
    client.delete_table(TableName=table)


def test_the_table_has_ttl_on(store):
    """The table is created from template.yaml's StateTable (tests/aws.py), so this fails if the template
    loses its TTL, names another attribute than the store writes, or drops point-in-time recovery."""
    from services.store.dynamodb import TTL_ATTRIBUTE

    ttl = store._client.describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == TTL_ATTRIBUTE
    backups = store._client.describe_continuous_backups(TableName=store.table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


async def test_concurrent_duplicate_deliveries_claim_once(store):
    results = await asyncio.gather(*(store.acquire("activity|c|1", ACCEPTING, 60) for _ in range(12)))
    assert sum(r.ok for r in results) == 1 and {r.previous for r in results if not r.ok} == {ACCEPTING}
    item = store._client.get_item(TableName=store.table, Key={"pk": {"S": "idem#activity|c|1"}})["Item"]
    assert int(item["ttl"]["N"]) > float(item["expires_at"]["N"])  # DynamoDB's TTL sweeps it after the lease


async def test_states_leases_and_owners(store):
    assert (await store.acquire("m", ACCEPTING, 60)).ok
    assert (await store.acquire("m", QUEUED, 60, take_over=(ACCEPTING,))).ok
    running = await store.acquire("m", RUNNING, 60, take_over=(ACCEPTING, QUEUED))
    assert running.ok and running.previous == QUEUED
    await store.release("m", "someone-else")
    assert (await store.acquire("m", ACCEPTING, 60)).previous == RUNNING  # not released by a stranger
    await store.release("m", running.owner)
    assert (await store.acquire("m", RUNNING, 60)).ok
    await store.complete("m", 3600)
    got = await store.acquire("m", RUNNING, 60, take_over=(ACCEPTING, QUEUED, RUNNING))
    assert not got.ok and got.previous == COMPLETED


async def test_a_crash_between_claim_and_enqueue_costs_one_lease(store):
    """The ingress claimed (accepting) and died before the enqueue: the re-delivery after the lease runs it."""
    assert (await store.acquire("activity|c|9", ACCEPTING, 0.3)).ok
    assert (await store.acquire("activity|c|9", ACCEPTING, 30)).previous == ACCEPTING  # too early: retry later
    await asyncio.sleep(0.4)
    again = await store.acquire("activity|c|9", ACCEPTING, 30)
    assert again.ok and again.previous == ""


async def test_two_writers_of_one_conversation(store):
    read_a, read_b = await store.load_conversation("k"), await store.load_conversation("k")
    assert read_a.version == 0
    assert await store.save_conversation("k", {"writer": "a"}, version=read_a.version) == 1
    with pytest.raises(StateConflict):
        await store.save_conversation("k", {"writer": "b"}, version=read_b.version)
    await asyncio.gather(*(update_conversation(store, "n", lambda s: {"n": s.get("n", 0) + 1}, attempts=40)
                           for _ in range(8)))  # fmt: skip
    assert (await store.load_conversation("n")).state == {"n": 8}
    await store.clear_conversation("k")
    assert (await store.load_conversation("k")).version == 0


async def test_values_with_ttl_and_feedback(store):
    await store.put_value("cred|u", {"blob": "x"}, ttl_seconds=60)
    await store.put_value("gone", {"blob": "y"}, ttl_seconds=0)
    assert await store.get_value("cred|u") == {"blob": "x"} and await store.get_value("gone") is None
    await store.delete_value("cred|u")
    assert await store.get_value("cred|u") is None
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="like", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="dislike", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a2", reaction="like", user_id="v"))
    assert sorted((f.answer_id, f.reaction) for f in await store.list_feedback()) == [("a1", "dislike"), ("a2", "like")]
