"""Issue 19 item 2: every numeric option of every command is checked before any work (finite, in range, under
a hard cap, and against bounds the data sets), and `help <command>` reads the same specs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from services.analytics import pipeline
from services.analytics.commands import COMMANDS, DRIFT, METRICS, UPLIFT, check_values
from services.analytics.errors import AnalyticsError
from services.analytics.isolation import Runner
from services.settings import REPO_ROOT
from tests.test_analytics_teams import ask, predictions_csv


@pytest.mark.parametrize(
    ("spec", "text", "words"),
    [
        (METRICS, "threshold=nan", "threshold takes a finite number"),
        (METRICS, "threshold=inf", "threshold takes a finite number"),
        (METRICS, "threshold=-inf", "threshold takes a finite number"),
        (METRICS, "k=1000000000", "k must be at least 1 and at most 10,000 (got 1,000,000,000)"),
        (METRICS, "k=0", "k must be at least 1"),
        (METRICS, "k=2.5", "k takes a whole number"),
        (METRICS, "sampling_rate=0", "sampling_rate must be above 0 and at most 1"),
        (METRICS, "w=nan", "sampling_rate takes a finite number"),
        (UPLIFT, "cost=inf", "cost takes a finite number"),
        (UPLIFT, "cost=-1", "cost must be at least 0"),
        (UPLIFT, "budget=-5", "budget must be at least 1 and at most 1,000,000,000 (got -5)"),
        (UPLIFT, "budget=1e30", "budget must be at least 1"),
        (DRIFT, "threshold=nan", "threshold takes a finite number"),
        (DRIFT, "threshold=0", "threshold must be above 0 and at most 1"),
        (DRIFT, "threshold=7", "threshold must be above 0 and at most 1"),
        (DRIFT, "correction=holm", "correction takes bh or bonferroni"),
        (UPLIFT, "bootstrap=100000", "I don't know the option bootstrap"),  # command line only
        (METRICS, "y_true=" + "x" * 300, "names a column of 300 characters"),
    ],
)
def test_bad_option_values_are_refused_in_one_sentence_before_any_data_is_read(spec, text, words):
    with pytest.raises(AnalyticsError) as refused:
        spec.parse(text)
    assert words in str(refused.value)
    assert str(refused.value).endswith(spec.usage)  # and says how to send the command


def test_the_command_line_checks_the_same_bounds():
    with pytest.raises(AnalyticsError, match="bootstrap must be at least 10 and at most 10,000"):
        check_values(UPLIFT, {"treatment": "t", "outcome": "y", "bootstrap": "1000000"})
    with pytest.raises(AnalyticsError, match="max_rows must be at least 100"):
        check_values(DRIFT, {"max_rows": "-1"})


def _ranking(queries: int = 30, per_query: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = queries * per_query
    return pd.DataFrame({"q": np.repeat(np.arange(queries), per_query), "rel": rng.integers(0, 3, n),
                         "s": rng.random(n)})  # fmt: skip


def test_k_above_the_rows_of_the_largest_query_is_refused_before_the_evaluation(monkeypatch):
    called = []
    monkeypatch.setattr("services.analytics.metrics.evaluate", lambda *a, **k: called.append(1))
    values, _ = METRICS.parse("y_true=rel y_score=s query=q k=5000")
    data = _ranking().to_csv(index=False).encode()
    with pytest.raises(AnalyticsError, match="k=5,000 is more than the 10 rows of the largest query"):
        pipeline.run(METRICS, [(data, "r.csv")], values, chart=False)
    assert not called


def test_k_of_a_billion_is_refused_by_the_command_line_under_a_memory_cap(tmp_path):
    """Before: `k` sized arrays of a billion floats. Run under RLIMIT_AS = 1.5 GB, so the old code fails with
    MemoryError instead of taking the test machine down."""
    path = tmp_path / "ranking.csv"
    _ranking().to_csv(path, index=False)
    code = (
        "import resource, sys, runpy; limit = 1536 * 1024 * 1024; "
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
        f"sys.argv = ['analytics', 'metrics', {str(path)!r}, '--y-true', 'rel', '--y-score', 's', '--query', 'q', "
        "'--k', '1000000000']; runpy.run_module('services.analytics', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "k must be at least 1 and at most 10,000" in done.stderr and "Traceback" not in done.stderr


def test_a_budget_above_the_rows_and_a_threshold_outside_the_probabilities_are_refused():
    experiment = pd.DataFrame({"t": [0, 1] * 50, "y": [0, 1, 1, 0] * 25, "x": range(100)})
    values = check_values(UPLIFT, {"treatment": "t", "outcome": "y", "budget": "5000"})
    with pytest.raises(AnalyticsError, match="budget=5,000 is more than the 100 people"):
        pipeline.run(UPLIFT, [(experiment.to_csv(index=False).encode(), "e.csv")], values, chart=False)
    values, _ = METRICS.parse("y_true=label y_score=p threshold=3")
    with pytest.raises(AnalyticsError, match="threshold=3 is outside 0–1"):
        pipeline.run(METRICS, [(predictions_csv(200), "p.csv")], values, chart=False)


@pytest.mark.parametrize(
    ("text", "file_count", "words"),
    [
        ("metrics y_true=label y_score=p threshold=nan", 1, "threshold takes a finite number"),
        ("metrics y_true=label y_score=p threshold=inf", 1, "threshold takes a finite number"),
        ("uplift treatment=label outcome=p cost=inf", 1, "cost takes a finite number"),
        ("uplift treatment=label outcome=p budget=-5", 1, "budget must be at least 1"),
        ("drift threshold=nan", 2, "threshold takes a finite number"),
        ("metrics y_true=label y_score=p k=1000000000", 1, "k must be at least 1 and at most 10,000"),
    ],
)
async def test_bad_numbers_in_chat_get_one_sentence_and_start_no_analysis(start_bot, monkeypatch, text, file_count,
                                                                          words):  # fmt: skip
    runs = []
    original = Runner.run

    async def counted(self, request, **kwargs):
        runs.append(request["command"])
        return await original(self, request, **kwargs)

    monkeypatch.setattr(Runner, "run", counted)
    bot = await start_bot()
    channel = bot.channel()
    activity = channel.message(text)
    for i in range(file_count):
        channel.with_file(activity, f"p{i}.csv", bot.connector.serve_file(f"p{i}.csv", predictions_csv()))
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    reply = bot.connector.messages()[-1].body["text"]
    assert words in reply and "went wrong" not in reply and "(reference" not in reply
    assert not runs


async def test_help_of_a_command_lists_its_options_and_an_example(start_bot):
    bot = await start_bot()
    (reply,) = await ask(bot, "help drift")
    text = reply.body["text"]
    assert "`threshold=" in text and "`correction=bh|bonferroni" in text and "Example: `drift " in text
    assert "alpha" not in text  # command-line only options are not offered in chat
    reply = (await ask(bot, "help"))[-1]
    assert "`help drift`" in reply.body["text"]
    reply = (await ask(bot, "help drfit"))[-1]
    assert "Did you mean `drift`?" in reply.body["text"]


def test_every_command_has_help_with_an_example_and_every_chat_option_is_described():
    for spec in COMMANDS.values():
        text = spec.help()
        assert f"Example: `{spec.example}`" in text and spec.example.split()[0] == spec.name
        for option in spec.options:
            assert (f"`{option.name}=" in text) is option.chat
