"""SQLiteStore: idempotency states with leases, versioned conversation state, values with a TTL, feedback."""

from __future__ import annotations

import asyncio

import pytest

from services.store import (
    ACCEPTING,
    COMPLETED,
    QUEUED,
    RUNNING,
    Feedback,
    SQLiteStore,
    StateConflict,
    get_conversation,
    update_conversation,
)


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    yield store
    await store.close()


async def test_conversation_state_round_trip_and_clear(store):
    assert (await store.load_conversation("k")).version == 0
    version = await store.save_conversation("k", {"backend": "local", "backend_state": {"turns": 2}}, version=0)
    await store.save_conversation("k2", {"x": 1}, version=0)
    loaded = await store.load_conversation("k")
    assert loaded.state["backend_state"] == {"turns": 2} and loaded.version == version == 1
    await store.clear_conversation("k")
    assert await get_conversation(store, "k") == {} and await get_conversation(store, "k2") == {"x": 1}


async def test_a_stale_write_is_refused_and_update_retries_on_fresh_state(store):
    await store.save_conversation("k", {"n": 1}, version=0)
    with pytest.raises(StateConflict):
        await store.save_conversation("k", {"n": 99}, version=0)
    assert await get_conversation(store, "k") == {"n": 1}

    async def slow_increment(state):
        await asyncio.sleep(0.01)
        return {"n": state.get("n", 0) + 1}

    await asyncio.gather(*(update_conversation(store, "k", slow_increment, attempts=50) for _ in range(10)))
    assert await get_conversation(store, "k") == {"n": 11}  # no increment lost to a concurrent writer


async def test_two_writers_of_one_state_one_wins_the_other_conflicts(store):
    read_a, read_b = await store.load_conversation("k"), await store.load_conversation("k")
    await store.save_conversation("k", {"writer": "a"}, version=read_a.version)
    with pytest.raises(StateConflict):
        await store.save_conversation("k", {"writer": "b"}, version=read_b.version)


async def test_acquire_is_atomic_under_concurrency(store):
    results = await asyncio.gather(*(store.acquire("m", ACCEPTING, 60) for _ in range(20)))
    assert sum(r.ok for r in results) == 1
    assert {r.previous for r in results if not r.ok} == {ACCEPTING}


async def test_states_move_forward_and_completed_blocks_everyone(store):
    accepted = await store.acquire("m", ACCEPTING, 60)
    assert accepted.ok and accepted.previous == ""
    assert (await store.acquire("m", QUEUED, 60, take_over=(ACCEPTING,))).ok
    assert not (await store.acquire("m", ACCEPTING, 60)).ok  # a re-delivery while queued
    running = await store.acquire("m", RUNNING, 60, take_over=(ACCEPTING, QUEUED))
    assert running.ok and running.previous == QUEUED
    assert (await store.acquire("m", RUNNING, 60, take_over=(ACCEPTING, QUEUED))).previous == RUNNING
    await store.complete("m", 3600)
    for status in (ACCEPTING, RUNNING):
        got = await store.acquire("m", status, 60, take_over=(ACCEPTING, QUEUED, RUNNING))
        assert not got.ok and got.previous == COMPLETED


async def test_an_expired_lease_no_longer_blocks_and_release_needs_the_owner(store):
    first = await store.acquire("m", RUNNING, 0.05)
    await asyncio.sleep(0.1)
    second = await store.acquire("m", RUNNING, 60)
    assert second.ok and second.previous == ""  # the crashed holder's lease ran out
    await store.release("m", first.owner)  # the old holder cannot release the new one's record
    assert not (await store.acquire("m", RUNNING, 60)).ok
    await store.release("m", second.owner)
    assert (await store.acquire("m", RUNNING, 60)).ok


async def test_values_expire(store):
    await store.put_value("v", {"a": 1})
    await store.put_value("short", {"b": 2}, ttl_seconds=0)
    assert await store.get_value("v") == {"a": 1} and await store.get_value("short") is None
    await store.delete_value("v")
    assert await store.get_value("v") is None


async def test_second_reaction_replaces_the_first(store):
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="like", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="dislike", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="like", user_id="v"))
    stored = await store.list_feedback()
    assert sorted((f.user_id, f.reaction) for f in stored) == [("u", "dislike"), ("v", "like")]


def test_feedback_export_writes_json_lines(tmp_path):
    import json
    import subprocess
    import sys

    from services.settings import REPO_ROOT

    async def seed() -> None:
        store = SQLiteStore(tmp_path / "state.db")
        await store.add_feedback(
            Feedback(
                conversation_key="k", answer_id="a1", reaction="like", user_id="u", model_id="m-1", backend="bedrock"
            )
        )
        await store.add_feedback(Feedback(conversation_key="k", answer_id="a2", reaction="dislike", comment="wrong"))
        await store.close()

    asyncio.run(seed())
    out = tmp_path / "feedback.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "feedback-export", "--output", str(out)],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "STATE_DB": str(tmp_path / "state.db")},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0 and "exported 2" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["answer_id"], r["reaction"], r["model_id"]) for r in rows] == [
        ("a1", "like", "m-1"),
        ("a2", "dislike", ""),
    ]
    assert rows[1]["comment"] == "wrong" and rows[0]["created_at"].endswith("Z")
