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
