"""Monitors end to end through the local server (POST /api/messages, the in-process queue and worker, the
fake Bot Connector) with a controllable clock, on scikit-learn's bundled breast-cancer and diabetes data."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime

import pytest

from bot.server import create_app
from entrypoints.wiring import build_local
from handlers.monitor_tick import monitor_job
from services.datasets import DatasetError
from services.monitors.store import SQLiteMonitorStore
from tests.conftest import Bot, card_of, card_text

ADMIN = "6f1c0e2a-0000-4000-8000-00000000e001"  # the emulator user's Entra object id
DAY = 86_400


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


@functools.cache
def _scores() -> tuple:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    return y, make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y).predict_proba(x)[:, 1]


def write_predictions(folder, day: str, *, broken: bool = False) -> None:
    """A logistic regression's scores on the breast-cancer data (ROC AUC ≈ 0.99), or the same scores shuffled
    against the labels (≈ 0.5): a model that stopped working."""
    import numpy as np
    import pandas as pd

    y, score = _scores()
    if broken:
        score = np.random.default_rng(0).permutation(score)
    pd.DataFrame({"label": y, "score": score}).to_csv(folder / f"preds-{day}.csv", index=False)


def write_diabetes(folder) -> None:
    """Reference: the diabetes patients with the lower BMI; current: the higher (drift in bmi and what goes
    with it)."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    ordered = frame.sort_values("bmi")
    ordered.iloc[: len(frame) // 2].to_csv(folder / "low_bmi.csv", index=False)
    ordered.iloc[len(frame) // 2 :].to_csv(folder / "high_bmi.csv", index=False)


@pytest.fixture
def start(connector, aiohttp_client, make_settings, tmp_path):
    async def go(clock: Clock, **overrides) -> Bot:
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        settings = make_settings(**{"data_dir": data, "admin_users": ADMIN, **overrides})
        gateway = build_local(settings, clock=clock)
        client = await aiohttp_client(create_app(gateway))
        return Bot(client, gateway, connector)

    return go


async def settle(bot: Bot) -> None:
    """Wait for every turn and run (a drift analysis takes about a second on an idle machine, far longer on
    a loaded one: the drain's default 30 s would cancel it)."""
    await bot.gateway.queue.drain(timeout=180)


async def say(bot: Bot, channel, text: str) -> str:
    """Send `text`, wait for the turn, return the text of the last message posted."""
    before = len(bot.connector.messages())
    await bot.post(channel.message(text))
    await settle(bot)
    new = bot.connector.messages()[before:]
    return new[-1].body.get("text", "") if new else ""


async def tick_at(bot: Bot, clock: Clock, when: datetime) -> int:
    clock.set(when)
    ran = await bot.gateway.background[0].tick_once()
    await settle(bot)
    return ran


async def stored(bot: Bot, monitor_id: str):
    return await bot.gateway.background[0].monitors.get(monitor_id)


async def test_metrics_monitor_quiet_then_floor_crossed_then_back_to_normal(start, tmp_path):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    data = tmp_path / "data"
    channel = bot.channel("channel")
    reply = await say(bot, channel, "monitor metrics preds-{yesterday}.csv y_true=label y_score=score auc<0.80 "
                                    "every day at 09:00 Europe/Berlin")  # fmt: skip
    assert "created" in reply and "First run 2026-12-08 09:00 CET (08:00 UTC)" in reply, reply
    monitor_id = reply.split("`")[1]
    posts = len(bot.connector.messages())

    write_predictions(data, "2026-12-07")
    assert await tick_at(bot, clock, datetime(2026, 12, 8, 8, 0, 30, tzinfo=UTC)) == 1
    assert len(bot.connector.messages()) == posts  # AUC 0.99: a quiet run, recorded
    quiet = await stored(bot, monitor_id)
    assert (quiet.last_verdict, quiet.runs, quiet.posts) == ("ok", 1, 0)
    assert quiet.next_run == datetime(2026, 12, 9, 8, 0, tzinfo=UTC).timestamp()
    assert await tick_at(bot, clock, datetime(2026, 12, 8, 8, 1, tzinfo=UTC)) == 0  # not due again

    write_predictions(data, "2026-12-08", broken=True)
    assert await tick_at(bot, clock, datetime(2026, 12, 9, 8, 0, 30, tzinfo=UTC)) == 1
    (post,) = bot.connector.messages()[posts:]
    base = channel.conversation("x")["id"].split(";messageid=")[0]
    assert (post.method, post.conversation_id, post.activity_id) == ("POST", base, "")  # a new thread
    assert "replyToId" not in post.body
    posted = card_of(post)
    assert f"Monitor {monitor_id}: floor crossed: auc 0.5" in card_text(posted)
    assert any(e["type"] == "Image" for e in posted["body"])  # the chart
    (full,) = posted["actions"]
    assert full["type"] == "Action.ShowCard" and "ROC AUC" in str(full["card"])

    write_predictions(data, "2026-12-09")
    assert await tick_at(bot, clock, datetime(2026, 12, 10, 8, 0, 30, tzinfo=UTC)) == 1
    (cleared,) = bot.connector.messages()[posts + 1 :]
    assert "Back to normal" in card_text(card_of(cleared))
    assert (await stored(bot, monitor_id)).runs == 3


async def test_drift_monitor_posts_columns_that_moved_with_the_chart_and_a_double_fire_posts_once(start, tmp_path):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    write_diabetes(tmp_path / "data")
    chat = bot.channel("groupChat")
    reply = await say(bot, chat, "monitor drift low_bmi.csv high_bmi.csv every hour")
    monitor_id = reply.split("`")[1]
    posts = len(bot.connector.messages())
    monitor = await stored(bot, monitor_id)
    due = monitor.next_run
    for _ in range(2):  # the schedule fires twice for the same due time
        await bot.gateway.queue.submit(monitor_job(monitor, due))
    await settle(bot)
    (post,) = bot.connector.messages()[posts:]
    shown = card_text(card_of(post))
    assert f"Monitor {monitor_id}: drift in" in shown and "bmi" in str(card_of(post)["body"])
    assert any(e["type"] == "Image" for e in card_of(post)["body"])
    assert (await stored(bot, monitor_id)).runs == 1

    assert await tick_at(bot, clock, datetime.fromtimestamp(due - 1, UTC)) == 0  # not due yet


async def test_a_drift_monitor_on_a_partitioned_folder_compares_its_newest_partition_with_the_previous(start, tmp_path):
    # DATA_DIR/events/dt=…/ as a daily job writes it (part files, _SUCCESS): `monitor drift events/` means the
    # newest day, whole, against the day before (before: a folder was refused as "no file")
    from sklearn.datasets import load_diabetes

    ordered = load_diabetes(as_frame=True).frame.sort_values("bmi").reset_index(drop=True)
    low, high = ordered.iloc[: len(ordered) // 2], ordered.iloc[len(ordered) // 2 :]
    events = tmp_path / "data" / "events"
    for day, table in (("2026-12-07", high), ("2026-12-06", low.iloc[::2]), ("2026-12-05", low.iloc[1::2])):
        folder = events / f"dt={day}"
        folder.mkdir(parents=True)
        table.iloc[::2].to_parquet(folder / "part-00000.parquet", index=False)
        table.iloc[1::2].to_parquet(folder / "part-00001.parquet", index=False)
        (folder / "_SUCCESS").write_text("")
    clock = Clock(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    chat = bot.channel("groupChat")
    reply = await say(bot, chat, "monitor drift events/ every day at 09:00")
    assert "created" in reply, reply
    monitor_id = reply.split("`")[1]
    before = len(bot.connector.messages())
    await say(bot, chat, f"monitor run {monitor_id}")
    (post,) = [m for m in bot.connector.messages()[before:] if m.body.get("attachments")]
    shown = card_text(card_of(post))
    assert f"Monitor {monitor_id}: drift in" in shown and "bmi" in str(card_of(post)["body"])
    assert "drift dt=2026-12-06 and dt=2026-12-07" in shown  # the day before, then the newest day
    runner = bot.gateway.queue._run.__self__.scheduled.__self__
    folder, name = await runner._fetch("events/")  # one table: its newest partition, every part file
    assert (name, sorted(p.name for p in folder.glob("*.parquet"))) == (
        "dt=2026-12-07", ["part-00000.parquet", "part-00001.parquet"])  # fmt: skip
    reply = await say(bot, chat, "monitor drift events/dt=2026-12-05/ every day at 09:00")
    assert "is one partition: name the table's folder" in reply  # nothing to compare it with
    # past what a monitor reads: before, "holds more than 0 GB (ANALYTICS_PREFIX_MAX_GB)" (a 1 MB bound shown in
    # GB, naming the chat's setting), and the copy's sentence said engine=spark, which monitors do not take
    runner.config = dataclasses.replace(runner.config, max_bytes=1_000)
    with pytest.raises(DatasetError) as too_big:
        await runner._fetch("events/")
    said = str(too_big.value)
    assert "holds more than 1,000 bytes (ANALYTICS_MAX_FILE_MB, the most a monitor reads" in said
    assert "engine=" not in said and "GB" not in said


async def test_creator_rights_and_bad_input(start, tmp_path):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    admin = bot.channel("groupChat")
    member = bot.channel("groupChat", aad_object_id="6f1c0e2a-0000-4000-8000-00000000e002", user_id="29:2-other")
    member.base_id = admin.base_id
    text = "monitor metrics preds-{yesterday}.csv auc<0.8 every day at 09:00"
    assert "Only the gateway's administrators" in await say(bot, member, text)
    assert await bot.gateway.background[0].monitors.for_conversation(admin.conversation("x")["id"]) == []
    created = await say(bot, admin, text)
    monitor_id = created.split("`")[1]
    assert "creator or an administrator" in await say(bot, member, f"monitor stop {monitor_id}")
    listing = await say(bot, member, "monitors")
    assert monitor_id in listing and "not run yet" in listing

    bad = await say(bot, admin, "monitor metrics preds.csv auc<0.8 every dya at 9am")
    assert bad.count(". ") == 0 and "`every day at 09:00`" in bad
    assert "not in S3_ALLOWED_BUCKETS" in await say(bot, admin, "monitor metrics s3://other/p.csv auc<0.8 every hour")
    assert "outside" in (await say(bot, admin, "monitor metrics ../secret.csv auc<0.8 every hour")).lower()
    assert "outside" in (await say(bot, admin, "monitor metrics ../{today}/p.csv auc<0.8 every hour")).lower()
    assert "outside" in (await say(bot, admin, "monitor metrics /etc/{today}.csv auc<0.8 every hour")).lower()
    assert "Mute for how long" in await say(bot, admin, f"monitor mute {monitor_id} forever")
    assert "muted until" in await say(bot, admin, f"monitor mute {monitor_id} 2d")
    assert "stopped" in await say(bot, admin, f"monitor stop {monitor_id}")
    assert "No monitors here yet" in await say(bot, admin, "monitors")


async def test_members_may_create_when_the_setting_says_so(start):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock, monitor_creators="members", admin_users="")
    reply = await say(bot, bot.channel("personal"), "monitor metrics p-{today}.csv auc<0.8 every hour")
    assert "created" in reply


async def test_unreadable_data_posts_once_then_pauses_with_one_notice(start):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock, monitor_unreadable_limit=3)
    chat = bot.channel("personal")
    reply = await say(bot, chat, "monitor metrics preds-{yesterday}.csv auc<0.8 every hour")
    monitor_id = reply.split("`")[1]
    posts = len(bot.connector.messages())
    for hour in (13, 14, 15, 16):
        await tick_at(bot, clock, datetime(2026, 12, 7, hour, 0, 1, tzinfo=UTC))
    first, paused = bot.connector.messages()[posts:]
    assert "could not be read" in card_text(card_of(first))
    assert "is paused" in card_text(card_of(paused)) and "unreadable 3 runs in a row" in card_text(card_of(paused))
    assert ".)." not in card_text(card_of(paused))  # the reason ends the sentence once
    monitor = await stored(bot, monitor_id)
    assert monitor.paused and monitor.next_run is None
    assert "paused" in await say(bot, chat, "monitors")


async def test_a_monitor_whose_creator_left_the_conversation_is_paused_with_one_notice(start):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    channel = bot.channel("channel")
    monitor_id = (await say(bot, channel, "monitor metrics preds-{yesterday}.csv auc<0.8 every hour")).split("`")[1]
    posts = len(bot.connector.messages())
    bot.connector.departed.add(ADMIN)
    await tick_at(bot, clock, datetime(2026, 12, 7, 13, 0, 1, tzinfo=UTC))
    await tick_at(bot, clock, datetime(2026, 12, 7, 14, 0, 1, tzinfo=UTC))  # paused: not due any more
    (notice,) = bot.connector.messages()[posts:]
    assert "no longer in this conversation" in card_text(card_of(notice))
    assert (await stored(bot, monitor_id)).next_run is None


async def test_a_channels_monitors_are_the_channels_not_one_threads(start):
    """A monitor's posts start new threads: from the thread of an alert (or any other of the channel) the team
    lists, mutes and stops it, and the limit per conversation counts the whole channel."""
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    channel = bot.channel("channel")
    monitor_id = (await say(bot, channel, "monitor metrics preds-{yesterday}.csv auc<0.8 every hour")).split("`")[1]
    channel.new_thread()  # e.g. the thread the monitor's alert started
    assert monitor_id in await say(bot, channel, "monitors")
    assert "muted until" in await say(bot, channel, f"monitor mute {monitor_id} 2h")
    for _ in range(19):
        channel.new_thread()
        assert "created" in await say(bot, channel, "monitor metrics p-{today}.csv auc<0.8 every hour")
    channel.new_thread()
    assert "the most it may have" in await say(bot, channel, "monitor metrics p-{today}.csv auc<0.8 every hour")
    assert "stopped" in await say(bot, channel, f"monitor stop {monitor_id}")


async def test_a_monitor_stopped_while_it_ran_is_not_brought_back_by_a_pause(tmp_path):
    from handlers.monitors import MonitorConfig, MonitorRunner
    from services.monitors.model import Monitor

    store = SQLiteMonitorStore(tmp_path / "s.db")
    monitor = Monitor(kind="drift", conversation_key="c", service_url="https://smba.example/", conversation_id="c",
                      created_by=ADMIN, created_at=0.0, sources=["a.csv", "b.csv"], schedule="every hour",
                      next_run=10.0)  # fmt: skip
    await store.save(monitor)
    posted = []

    async def left_and_stopped_meanwhile(m: Monitor) -> bool:
        await store.delete(m)  # `monitor stop` in the conversation while this run checks the creator
        return False

    async def post(*args) -> None:
        posted.append(args)

    runner = MonitorRunner(store, MonitorConfig(admins=frozenset({ADMIN})), post, is_member=left_and_stopped_meanwhile)
    await runner.run_monitor(monitor, 10.0)
    assert await store.get(monitor.id) is None and posted == []
    await store.close()


async def test_a_monitor_stopped_just_as_its_run_is_recorded_stays_stopped(tmp_path):
    from handlers.monitors import MonitorConfig, MonitorRunner
    from services.datasets import DatasetError
    from services.monitors.model import Monitor

    class StoppedAfterRead(SQLiteMonitorStore):
        async def get(self, monitor_id: str):
            found = await super().get(monitor_id)
            if found is not None:  # `monitor stop` lands between the record's read and its write
                await self.delete(found)
            return found

    store = StoppedAfterRead(tmp_path / "s.db")
    monitor = Monitor(kind="drift", conversation_key="c", service_url="https://smba.example/", conversation_id="c",
                      created_by=ADMIN, created_at=0.0, sources=["a.csv", "b.csv"], schedule="every hour",
                      next_run=10.0)  # fmt: skip
    await store.save(monitor)

    async def missing(source: str):
        raise DatasetError("There is no file a.csv in the data folder.")

    async def post(*args) -> None:
        pass

    runner = MonitorRunner(store, MonitorConfig(admins=frozenset({ADMIN})), post, fetch_source=missing)
    await runner.run_monitor(monitor, 10.0)
    assert await SQLiteMonitorStore.get(store, monitor.id) is None
    await store.close()


def test_the_local_store_lists_due_monitors_through_its_index(tmp_path):
    import sqlite3

    SQLiteMonitorStore(tmp_path / "s.db")
    plan = (
        sqlite3.connect(tmp_path / "s.db")
        .execute(
            "EXPLAIN QUERY PLAN SELECT next_run, data FROM monitors WHERE next_run IS NOT NULL AND next_run <= 5 "
            "ORDER BY next_run LIMIT 10"
        )
        .fetchall()
    )
    assert "monitors_due" in str(plan)


async def test_a_proactive_post_to_a_service_url_off_the_allow_list_sends_nothing(connector):
    from bot.connector import BotConnector
    from bot.proactive import ProactivePoster
    from services.monitors.model import Monitor
    from services.safe_fetch import AllowList, FetchRefused

    class NoToken:
        async def token(self, audience: str) -> str | None:
            return None

    monitor = Monitor(kind="drift", conversation_key="c", service_url=connector.url, conversation_id="c",
                      created_by="u", created_at=0.0, sources=["a.csv", "b.csv"], schedule="every hour")  # fmt: skip
    real = BotConnector(NoToken())
    poster = ProactivePoster(real, AllowList.of(["smba.trafficmanager.net"]))
    try:
        with pytest.raises(FetchRefused):
            await poster(monitor, {"type": "AdaptiveCard", "version": "1.5", "body": []}, "s")
        with pytest.raises(FetchRefused):
            await poster.creator_is_member(monitor)
        assert connector.calls == []
        await ProactivePoster(real, AllowList.of(["http://127.0.0.1"]))(
            monitor, {"type": "AdaptiveCard", "body": []}, "s"
        )
        assert len(connector.calls) == 1
    finally:
        await real.close()


async def test_a_creators_monitors_due_at_once_are_all_enqueued_by_one_tick(tmp_path):
    """MAX_QUEUED_TURNS_PER_USER bounds a sender's waiting turns; a creator's monitors due at 09:00 are not a
    flood (each is one run per due time, at most 20 a conversation): the 11th was refused, tick after tick."""
    import asyncio

    from handlers.monitor_tick import tick
    from handlers.queues import InProcessQueue
    from services.monitors.model import Monitor

    store = SQLiteMonitorStore(tmp_path / "s.db")
    for _ in range(12):
        await store.save(Monitor(kind="drift", conversation_key="c", service_url="https://smba.example/",
                                 conversation_id="c", created_by=ADMIN, created_at=0.0, sources=["a.csv", "b.csv"],
                                 schedule="every hour", next_run=10.0))  # fmt: skip
    release, ran = asyncio.Event(), []

    async def run(job) -> None:
        await release.wait()
        ran.append(job.monitor.monitor_id)

    queue = InProcessQueue(run, 4, max_waiting_per_user=10)
    assert await tick(store, queue, 20.0) == 12
    release.set()
    await queue.drain(timeout=10)
    assert len(ran) == 12
    await queue.close()
    await store.close()
