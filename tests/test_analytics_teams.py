"""Analytics through /api/messages: `explain` and `metrics` with attachments, DATA_DIR paths and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from services.settings import REPO_ROOT
from tests.conftest import card_of, card_text
from tests.fakes.bedrock import FakeBedrock


def predictions_csv(n: int = 3000) -> bytes:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 4, n)
    return pd.DataFrame({"label": (rng.random(n) < p).astype(int), "p": p}).to_csv(index=False).encode()


async def ask(bot, text: str, *, file: tuple[str, bytes] | None = None, channel=None):
    channel = channel or bot.channel()
    activity = channel.message(text)
    if file:
        channel.with_file(activity, file[0], bot.connector.serve_file(*file))
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    return bot.connector.messages()


async def test_explain_answers_with_the_glossary_card(start_bot):
    bot = await start_bot()
    (reply,) = await ask(bot, "explain ndcg@10")
    text = card_text(card_of(reply))
    assert "NDCG (normalized discounted cumulative gain)" in text and "linear gain" in json.dumps(card_of(reply))
    assert reply.body["summary"].startswith("How close a ranking")


async def test_explain_unknown_metric_suggests_the_closest(start_bot):
    bot = await start_bot()
    (reply,) = await ask(bot, "explain ndgc")
    assert "no entry for “ndgc”" in reply.body["text"] and "`ndcg`" in reply.body["text"]


async def test_explain_follow_up_goes_to_bedrock_grounded_on_the_entry(start_bot, monkeypatch):
    async with FakeBedrock(tokens=["Linear gain keeps grades proportional."]) as bedrock:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        bot = await start_bot(backend="bedrock", bedrock_model_id="m.test-v1", bedrock_region="us-east-1")
        messages = await ask(bot, "explain ndcg why linear gain?")
    prompt = bedrock.requests[0]["messages"][-1]["content"][0]["text"]
    assert "DCG@k = Σ" in prompt and prompt.endswith("Question: why linear gain?")
    assert messages[-1].body["text"] == "Linear gain keeps grades proportional."


async def test_explain_follow_up_without_bedrock_shows_the_entry_and_says_so(start_bot):
    bot = await start_bot()
    card, note = await ask(bot, "explain log loss is 0.41 good?")
    assert "Log loss" in card_text(card_of(card)) and "need a backend with a model" in note.body["text"]


async def test_metrics_on_an_attached_file_answers_with_a_card_and_chart(start_bot):
    bot = await start_bot()
    (reply,) = await ask(bot, "metrics y_true=label y_score=p", file=("preds.csv", predictions_csv()))
    card = card_of(reply)
    assert card_text(card).startswith("Binary classifier: 3,000 rows from preds.csv")
    facts = {f["title"]: f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]}
    assert {"ROC AUC", "PR AUC", "Log loss", "Normalized entropy", "Calibration (pred/obs)"} <= set(facts)
    image = next(e for e in card["body"] if e["type"] == "Image")
    assert image["url"].startswith("data:image/png;base64,")
    assert len(json.dumps(reply.body).encode()) < 80_000  # fits in one Teams message
    assert card["actions"][0]["title"] == "Calibration table"


async def test_metrics_infers_usual_column_names(start_bot):
    bot = await start_bot()
    (reply,) = await ask(bot, "metrics", file=("preds.csv", predictions_csv()))
    assert "Binary classifier" in card_text(card_of(reply))


async def test_metrics_reads_a_file_in_data_dir_and_refuses_paths_outside(start_bot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "preds.csv").write_bytes(predictions_csv())
    (tmp_path / "secret.csv").write_text("label,p\n1,0.5\n")
    bot = await start_bot(data_dir=data)
    replies = await ask(bot, "metrics y_true=label y_score=p preds.csv")
    assert "Binary classifier" in card_text(card_of(replies[-1]))
    replies = await ask(bot, "metrics y_true=label y_score=p ../secret.csv")
    assert "outside the data folder" in replies[-1].body["text"]
    replies = await ask(bot, "metrics y_true=label y_score=p missing.csv")
    # the folder's files are listed to admins only (tests/test_edge_hardening.py)
    assert "no file missing.csv" in replies[-1].body["text"] and "preds.csv" not in replies[-1].body["text"]


@pytest.mark.parametrize(
    ("text", "file", "words"),
    [
        ("metrics y_true=label y_score=p", None, "with the predictions file"),
        ("metrics y_true=truth y_score=p", ("p.csv", predictions_csv()), "no column 'truth'"),
        ("metrics y_true=label y_score=p colour=blue", ("p.csv", predictions_csv()), "don't know the option colour"),
        ("metrics y_true=label y_score=p threshold=high", ("p.csv", predictions_csv()), "threshold takes a number"),
        ("metrics y_true=label y_score=p", ("p.csv", b"label,p\n1,0.2\n1,0.9\n"), "single class"),
        ("metrics y_true=label y_score=p", ("p.csv", b""), "p.csv is empty"),
        (
            "metrics y_true=label y_score=p",
            ("p.csv", b"label,p\n1,1e309\n0,0.2\n"),
            "too large for a 64-bit float",
        ),
        ("metrics y_true=label y_score=p", ("p.csv", b"label,p\n\xff\xfe1,0.2\n"), "is not UTF-8 text"),
        ("metrics y_true=" + "x" * 300 + " y_score=p", ("p.csv", predictions_csv()), "a column of 300 characters"),
        ("metrics y_true=label y_score=p local.csv", None, "DATA_DIR is not set"),
    ],
)
async def test_metrics_bad_input_gets_one_sentence(start_bot, text, file, words):
    bot = await start_bot()
    replies = await ask(bot, text, file=file)
    reply = replies[-1].body["text"]
    assert words in reply
    assert "reference" not in reply  # a user mistake, not a failure
    assert not any(name in reply for name in ("Error", "Exception", "Traceback"))
    assert "x" * 61 not in reply  # quoted user data is cut to an excerpt


async def test_expired_or_oversized_attachments_are_explained(start_bot):
    bot = await start_bot(analytics_max_file_mb=1)
    channel = bot.channel()
    activity = channel.with_file(channel.message("metrics"), "gone.csv", f"{bot.connector.url}files/none")
    await bot.post(activity)
    await bot.settle()
    assert "expired" in bot.connector.messages()[-1].body["text"]
    replies = await ask(bot, "metrics", file=("big.csv", b"x" * 1_100_000))
    assert "larger than the 1 MB limit" in replies[-1].body["text"]


def test_the_ingress_never_imports_the_analytics_libraries():
    code = (
        "import sys, bot.server, bot.gateway, handlers.analytics; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'scipy', 'sklearn', "
        "'matplotlib', 'pyarrow'}); print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


async def test_explain_follow_up_is_budgeted_tallied_and_audited_like_a_chat_turn(start_bot, monkeypatch, tmp_path):
    from datetime import UTC, datetime

    from services.usage.sqlite import SQLiteUsageStore
    from services.usage.store import Hold

    user = "0a0a0a0a-0000-4000-8000-000000000002"
    async with FakeBedrock(tokens=["Linear gain keeps grades proportional."]) as bedrock:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        bot = await start_bot(backend="bedrock", bedrock_model_id="m.test-v1", bedrock_region="us-east-1",
                              user_daily_token_limit=100_000)  # fmt: skip
        await ask(bot, "explain ndcg why linear gain?", channel=bot.channel(aad_object_id=user))
        assert len(bedrock.requests) == 1

        store = SQLiteUsageStore(tmp_path / "state.db")
        try:
            (row,) = [r for r in await store.rows("2000-01-01", "2999-12-31") if r.dimension == "user"]
            assert row.key == user and row.tally.turns == 1 and row.tally.output_tokens > 0
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            spent = Hold(f"user:{user}", day, 0, 0, 100_000, None, 2**31)
            await store.settle([spent], 100_000, 0)  # the user's day is used up
        finally:
            await store.close()
        messages = await ask(bot, "explain auc is 0.7 good?", channel=bot.channel(aad_object_id=user))
        assert "daily allowance" in messages[-1].body["text"] and len(bedrock.requests) == 1

    records = [json.loads(line) for path in (tmp_path / "audit").glob("*.jsonl") for line in path.open()]
    assert [r["outcome"] for r in records] == ["answered", "over_budget"]
    assert records[0]["user_id"] == user and records[0]["model_id"] == "m.test-v1" and records[0]["question"] is None
    assert records[0]["usage"]["output_tokens"] == row.tally.output_tokens
