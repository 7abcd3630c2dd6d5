"""Hostile inputs to the analysis commands' options and data names (found by hostile26): names with `=` that
are data (Hive partitions), an option given twice, quoted column names with spaces, data names too long for the
file system, and what the monitors, the Spark path and the EMR completion do with data no one on the team wrote."""

from __future__ import annotations

import time

import pytest

from services.analytics.commands import DRIFT, METRICS, UPLIFT
from services.analytics.errors import AnalyticsError


@pytest.mark.parametrize(
    ("spec", "text", "words"),
    [
        (METRICS, "y_true=label y_score=p events/dt=2026-10/", ["events/dt=2026-10/"]),
        (METRICS, "y_true=label y_score=p s3://b/events/dt=2026-10/", ["s3://b/events/dt=2026-10/"]),
        (METRICS, "y_true=label dt=2026-10/", ["dt=2026-10/"]),
        (METRICS, "y_true=label scores_k=10.csv", ["scores_k=10.csv"]),
        (DRIFT, "ev/dt=2026-9/ ev/dt=2026-10/ ignore=dt", ["ev/dt=2026-9/", "ev/dt=2026-10/"]),
    ],
)
def test_a_data_name_with_an_equals_sign_is_data_not_an_option(spec, text, words):
    # before: "I don't know the option events/dt." for every partition named in chat
    values, found = spec.parse(text)
    assert found == words
    assert values.get("y_true", "label") == "label"


def test_an_option_given_twice_with_different_values_is_refused():
    # before: the last one won silently (`y_true=label y_true=p` evaluated p against itself: R² 1.000)
    with pytest.raises(AnalyticsError, match=r"^y_true is given twice \(label and p\): give it once\."):
        METRICS.parse("y_true=label y_score=p y_true=p")
    with pytest.raises(AnalyticsError, match="y_true is given twice"):
        METRICS.parse("label=a truth=b")  # two aliases of one option
    assert METRICS.parse("y_true=label y_true=label")[0]["y_true"] == "label"  # the same twice is harmless


def test_a_quoted_value_may_hold_spaces_and_unclosed_quotes_stay_cheap():
    values, words = METRICS.parse('y_true="churned in 30 days" y_score=\u201cthe score\u201d m.csv')
    assert (values["y_true"], values["y_score"], words) == ("churned in 30 days", "the score", ["m.csv"])
    values, _ = UPLIFT.parse('treatment=arm outcome=y treated="Usual care"')
    assert values["treated"] == "Usual care"
    started = time.perf_counter()
    with pytest.raises(AnalyticsError):
        METRICS.parse("k=\u201cx " * 7000)  # 28 KB of unclosed quotes: linear, not quadratic
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("name", ["a" * 300, "\u202e" * 5000, "x/" + "b" * 256 + "/", "c" * 300 + "/"])
async def test_a_data_name_too_long_for_the_file_system_gets_one_sentence(tmp_path, name):
    # before: OSError ENAMETOOLONG from is_dir()/is_file(): "Sorry, something went wrong", and the whole
    # name in the error log
    from handlers.analytics import AnalyticsConfig
    from services.datasets import DatasetError

    config = AnalyticsConfig(data_dir=tmp_path)
    with pytest.raises(DatasetError) as refused:
        await config.source(name)
    assert len(str(refused.value)) < 300
    assert "no file" in str(refused.value) or "not a file name" in str(refused.value)


def test_infinite_scores_in_a_parquet_folder_get_one_sentence(tmp_path):
    # before: a single file was refused (read_table), but a DATA_DIR folder skipped that check and scikit-learn's
    # ValueError ("Input contains infinity") became "something went wrong"
    import numpy as np
    import pandas as pd

    from services.analytics import pipeline

    folder = tmp_path / "scores"
    folder.mkdir()
    p = np.linspace(0, 1, 100)
    p[3] = np.inf
    pd.DataFrame({"label": [0, 1] * 50, "p": p}).to_parquet(folder / "part-0.parquet")
    values, _ = METRICS.parse("y_true=label y_score=p engine=local")
    with pytest.raises(AnalyticsError, match="'p' holds an infinite value"):
        pipeline.run(METRICS, [(folder, "scores")], values, chart=False)


async def test_column_lists_reach_the_emr_job(monkeypatch):
    # before: `ignore=dt` (a tuple of names) was left out of the job's options, so EMR compared the partition
    # column the docs tell you to ignore; categorical= and numeric= were dropped too
    from handlers.analytics_large import place
    from services.analytics import emr
    from services.dataset_prefixes import Listing

    sent = {}

    def start(client, job, kind, sources, options, token, allowed):  # noqa: ANN001, ANN202
        sent.update(options)
        return "run-1"

    monkeypatch.setattr(emr, "start_analysis", start)
    monkeypatch.setattr(emr, "client", lambda: None)
    values, _ = DRIFT.parse("ignore=dt,region categorical=code engine=spark")
    listings = [Listing(f"s3://events/{day}/", (("k", 10),)) for day in ("oct", "nov")]
    placed = await place(DRIFT, values, listings, default_engine="auto", spark_rows=1, spark_mb=1,
                         max_local_bytes=1, emr=object(), allowed_buckets=("events",))  # fmt: skip
    assert placed.emr_run == "run-1"
    assert sent["ignore"] == ["dt", "region"] and sent["categorical"] == ["code"]
    import json

    from services.analytics.spark_job import _values

    assert _values(json.loads(json.dumps(sent)))["ignore"] == ("dt", "region")  # what the job reads back


@pytest.mark.parametrize(
    ("spec", "text", "words"),
    [
        (METRICS, "y_true=label y_score=label", "y_true and y_score name the same column 'label'"),
        (METRICS, "y_true=label y_score=p query=p", "y_score and query name the same column 'p'"),
        (UPLIFT, "treatment=arm outcome=arm", "treatment and outcome name the same column 'arm'"),
        (UPLIFT, "treatment=arm outcome=label score=arm", "treatment and score name the same column 'arm'"),
    ],
)
def test_one_column_for_two_roles_is_refused_before_the_analysis(spec, text, words):
    # before: `uplift treatment=arm outcome=arm` reported "treating everyone adds 300 successes (+300 to +300)",
    # `metrics y_true=label y_score=label` a perfect classifier
    import numpy as np
    import pandas as pd

    from services.analytics import pipeline

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"label": rng.integers(0, 2, 300), "p": rng.random(300), "arm": rng.integers(0, 2, 300),
                          "x": rng.random(300)})  # fmt: skip
    values, _ = spec.parse(text)
    with pytest.raises(AnalyticsError, match=words):
        pipeline.run(spec, [(table.to_csv(index=False).encode(), "d.csv")], values, chart=False)


async def test_a_folder_linking_out_of_data_dir_is_refused_and_its_listing_is_bounded(tmp_path, monkeypatch):
    # before: a link inside a DATA_DIR folder was followed (the Parquet reader reads the folder whole), and the
    # whole tree was listed and sorted before the count bound refused it (120,000 files: 7.6 s)
    import os

    import pandas as pd

    from services import dataset_prefixes
    from services.dataset_prefixes import list_many
    from services.datasets import DatasetError

    data, outside = tmp_path / "data", tmp_path / "secret"
    (data / "ok").mkdir(parents=True)
    outside.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(outside / "s.parquet")
    pd.DataFrame({"a": [3, 4]}).to_parquet(data / "ok" / "part-0.parquet")
    os.symlink(data / "ok" / "part-0.parquet", data / "ok" / "part-1.parquet")  # inside DATA_DIR: fine
    assert len((await list_many("ok", data_dir=data, allowed_buckets=(), max_bytes=10**9)).files) == 2
    for link, target in (("file", outside / "s.parquet"), ("dir", outside)):
        folder = data / link
        folder.mkdir()
        pd.DataFrame({"a": [5]}).to_parquet(folder / "part-0.parquet")
        os.symlink(target, folder / "part-1.parquet" if link == "file" else folder / "dt=2026-12-07")
        with pytest.raises(DatasetError, match="holds a link to outside the data folder"):
            await list_many(link, data_dir=data, allowed_buckets=(), max_bytes=10**9)
    monkeypatch.setattr(dataset_prefixes, "MAX_ENTRIES", 10)
    for i in range(20):
        (data / "ok" / f"_tmp{i}").write_bytes(b"")
    with pytest.raises(DatasetError, match="more than"):
        await list_many("ok", data_dir=data, allowed_buckets=(), max_bytes=10**9)


@pytest.mark.parametrize(
    ("values", "given", "treated"),
    [
        (["Alpha", "Beta"], "beta", "Beta"),  # case
        (["Alpha", "Beta"], " Beta ", "Beta"),
        ([0, 1], "1.0", "1"),  # the same number
        ([0.0, 1.0], "1", "1"),
        ([False, True], "true", "True"),  # a truth value, as metrics' positive= reads it
        ([False, True], "1", "True"),
    ],
)
def test_treated_and_success_read_a_label_as_metrics_positive_does(values, given, treated):
    # before: "treated='beta' is not a value of 'arm': its values are 'Alpha' and 'Beta'" (and 1.0 for 1, true for
    # True), while positive= in metrics accepted each
    import pandas as pd

    from services.analytics.uplift import _arms, _binary

    series = pd.Series(values * 5)
    assert _arms(series, "arm", given)[1] == treated
    assert (_binary(series, "y", "outcome", given)[0] == (series == values[1]).to_numpy()).all()
    with pytest.raises(AnalyticsError, match="is not a value of"):
        _arms(pd.Series(["a", "A"] * 5), "arm", "á")  # nothing matches: the sentence lists the values


@pytest.mark.parametrize(
    ("spec", "text", "words"),
    [
        (METRICS, "treated=1", "treated= is an option of `uplift`, not of `metrics`."),
        (
            UPLIFT,
            "treatment=t outcome=y engine=spark",
            "engine= is an option of `metrics` and `drift`, not of `uplift`.",
        ),
        (DRIFT, "positive=1", "positive= is an option of `metrics`, not of `drift`."),
    ],
)
def test_an_option_of_another_command_is_named_as_such(spec, text, words):
    # before: "I don't know the option treated." as for a typo
    with pytest.raises(AnalyticsError) as refused:
        spec.parse(text)
    assert str(refused.value).startswith(words)


async def test_engine_spark_on_one_file_says_it_runs_locally(start_bot, tmp_path):
    # before: engine=spark on a single file ran on the local engine without a word
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    pd.DataFrame({"label": rng.integers(0, 2, 200), "p": rng.random(200)}).to_csv(tmp_path / "m.csv", index=False)
    bot = await start_bot(data_dir=tmp_path)
    await bot.post(bot.channel().message("metrics y_true=label y_score=p engine=spark m.csv"))
    await bot.settle()
    texts = [m.body.get("text", "") for m in bot.connector.messages()]
    assert "engine=spark reads folders and s3:// prefixes: this file runs on the local engine." in texts
    assert bot.connector.messages()[-1].body.get("attachments")  # and the card follows


def test_a_label_option_is_not_called_a_column():
    # before: "positive takes a column name: `positive=<column>`" for the positive class
    with pytest.raises(AnalyticsError, match=r"^positive takes a value of a column: `positive=<label>`\."):
        METRICS.parse('positive="  "')
    with pytest.raises(AnalyticsError, match="treated names a value of a column of 300 characters"):
        UPLIFT.parse("treated=" + "x" * 300)


async def test_more_data_names_than_tables_are_refused_not_ignored(start_bot, tmp_path):
    # before: `metrics … m.csv extra.csv` evaluated m.csv and ignored the rest without a word
    (tmp_path / "m.csv").write_text("label,p\n0,0.1\n1,0.9\n")
    bot = await start_bot(data_dir=tmp_path)
    await bot.post(bot.channel().message("metrics y_true=label y_score=p m.csv extra.csv"))
    await bot.settle()
    assert (
        bot.connector.messages()[-1].body["text"] == "`metrics` reads one table, and I found 2 names: m.csv, extra.csv."
    )
