"""SQLiteStore: conversation state, atomic dedupe markers with expiry, feedback."""

from __future__ import annotations

import asyncio

from services.store import Feedback, SQLiteStore


async def test_conversation_state_round_trip_and_clear(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    assert await store.get_conversation("k") == {}
    await store.put_conversation("k", {"backend": "local", "backend_state": {"turns": 2}})
    await store.put_conversation("k2", {"x": 1})
    assert (await store.get_conversation("k"))["backend_state"] == {"turns": 2}
    await store.clear_conversation("k")
    assert await store.get_conversation("k") == {} and await store.get_conversation("k2") == {"x": 1}
    await store.close()


async def test_claim_is_atomic_under_concurrency_and_expires(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    results = await asyncio.gather(*(store.claim("m", 60) for _ in range(20)))
    assert results.count(True) == 1
    assert await store.claim("short", 0) is True
    assert await store.claim("short", 0) is True  # expired at once, so claimable again
    await store.close()


async def test_second_reaction_replaces_the_first(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="like", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="dislike", user_id="u"))
    await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="like", user_id="v"))
    stored = await store.list_feedback()
    assert sorted((f.user_id, f.reaction) for f in stored) == [("u", "dislike"), ("v", "like")]
    await store.close()
