"""The usage stores (SQLite, and DynamoDB against moto's server on loopback): atomic tallies, budget
reservations that let exactly one of two concurrent turns through, and the one-time note marker."""

from __future__ import annotations

import asyncio
import time
import uuid

import boto3
import pytest

from services.usage.dynamodb import DynamoDBUsageStore, create_usage_table
from services.usage.sqlite import SQLiteUsageStore
from services.usage.store import Hold, Tally
from tests.aws import aws_environment, moto_server


async def together(store, calls):
    """Run coroutines concurrently. moto's server does not serialise concurrent writes to one item the way
    DynamoDB does (its backends take no lock per operation), so against it they run one after the other:
    what makes DynamoDB safe is the condition evaluated on the server with the write, which this still tests."""
    if isinstance(store, DynamoDBUsageStore):
        return [await call for call in calls]
    return await asyncio.gather(*calls)


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        usage = SQLiteUsageStore(tmp_path / "state.db")
        yield usage
        await usage.close()
        return
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        client = boto3.client("dynamodb")
        table = f"usage-{uuid.uuid4().hex[:8]}"  # moto keeps its state for the whole process
        create_usage_table(client, table)
        yield DynamoDBUsageStore(table, client)


def hold(scope="user:u1", period="2026-11-23", tokens=1000, cost=0, token_limit=1500, cost_limit=None) -> Hold:
    return Hold(scope, period, tokens, cost, token_limit, cost_limit, int(time.time()) + 86_400)


async def test_tallies_add_up_per_day_and_dimension(store):
    keys = {"user": "u1", "team": "tenant:t1", "model": "m1"}
    await together(store, [store.add("2026-11-23", keys, Tally(10, 5, 100, 0, 7, turns=1)) for _ in range(20)])
    await store.add("2026-11-24", {"user": "u2", "team": "tenant:t1", "model": "m1"}, Tally(1, 1, turns=1))
    rows = {(r.day, r.dimension, r.key): r.tally for r in await store.rows("2026-11-23", "2026-11-24")}
    assert rows[("2026-11-23", "user", "u1")] == Tally(200, 100, 2000, 0, 140, turns=20)
    assert rows[("2026-11-23", "model", "m1")].turns == 20
    assert rows[("2026-11-24", "user", "u2")].tokens == 2
    assert {d for d, _, _ in rows} == {"2026-11-23", "2026-11-24"}
    assert await store.rows("2026-11-25", "2026-11-30") == []


async def test_two_concurrent_reservations_at_the_limit_let_exactly_one_through(store):
    first = hold(tokens=1000)
    assert await store.reserve([first]) is None
    (balance,) = await store.settle([first], tokens=1400, cost_micro=0)  # used 1,400 of 1,500
    assert balance.tokens == 1400
    results = await together(store, [store.reserve([hold(tokens=1000)]) for _ in range(2)])
    assert sorted(r is None for r in results) == [False, True]


async def test_a_reservation_is_all_or_nothing_across_user_and_team(store):
    team = hold("team:chat:1", "2026-11", tokens=1000, token_limit=1000)
    assert await store.reserve([team]) is None  # the team counter now holds its limit
    user = hold("user:u9", tokens=10)
    reached = await store.reserve([user, team])
    assert reached == team
    assert await store.reserve([user]) is None
    (balance,) = await store.settle([user], tokens=0, cost_micro=0)
    assert balance.tokens == 0  # the refused transaction reserved nothing on the user


async def test_cost_limits_count_micro_dollars(store):
    first = hold(tokens=0, cost=0, token_limit=None, cost_limit=50_000)
    assert await store.reserve([first]) is None
    await store.settle([first], tokens=900, cost_micro=50_000)
    assert await store.reserve([hold(tokens=0, cost=1, token_limit=None, cost_limit=50_000)]) is not None


async def test_the_note_marker_is_set_once(store):
    mine = hold()
    await store.reserve([mine])
    assert sorted(await together(store, [store.mark_noted(mine), store.mark_noted(mine)])) == [False, True]
    assert await store.mark_noted(mine) is False
