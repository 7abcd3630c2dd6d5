"""Hostile `monitor` commands through /api/messages (the local server, the fake connector, a controllable
clock), then one tick: prints each command's reply, flags "went wrong", exception text, and a tick that raises.

Run: .venv/bin/python -m pytest attack/test_monitor_commands.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.test_monitors_e2e import Clock, say, start, tick_at, write_predictions  # noqa: F401

P = "preds-2026-12-07.csv"
COMMANDS = [
    f"monitor metrics {P} y_true=label y_score=score auc<0.8 every hour",
    f"monitor metrics {P} y_true=label y_score=score auc<{'9' * 400} every hour",
    f"monitor metrics {P} y_true=label y_score=score auc<٠.٨ every hour",  # Arabic-Indic digits
    f"monitor metrics {P} y_true=label y_score=score auc<0.8 k=1000000000 every hour",
    f"monitor metrics {P} y_true=label y_score=score auc<0.8 threshold=nan every hour",
    f"monitor metrics {P} y_true=label y_score=score auc<0.8 sampling_rate=-1 every hour",
    f"monitor drift {P} {P} threshold=inf every hour",
    f"monitor drift {P} {P} correction=" + "x" * 300 + " every hour",
    f"monitor drift {P} {P} categorical=" + ",".join(f"c{i}" for i in range(150)) + " every hour",
    f"monitor metrics {P} " + " ".join(f"auc<0.{i}" for i in range(1, 99)) + " every hour",
    f"monitor metrics {P} auc<0.8 every hour " + "x" * 900,
    f"monitor metrics {P} auc<0.8 every day at ٠٩:٠٠",
    f"monitor metrics {P} auc<0.8 every day at 99:99",
    f"monitor metrics {P} auc<0.8 every hour Etc/GMT+14",
    f"monitor metrics {P} auc<0.8 every hour ../../../etc/localtime",
    f"monitor metrics {P} auc<0.8 every hour right/UTC",
    f"monitor metrics {P} auc<0.8 every hour posixrules",
    f"monitor metrics {P} auc<0.8 every hour Factory",
    f"monitor metrics {P} auc<0.8 every monday at 08:00 every tuesday at 09:00",
    "monitor metrics {today:%Y/../../..}/x.csv auc<0.8 every hour",
    "monitor metrics {today:" + "%Y" * 10 + "}.csv auc<0.8 every hour",
    "monitor metrics {hour}{hour}{hour}{hour}{hour}{hour}{hour}{hour}.csv auc<0.8 every hour",
    "monitor metrics s3://{today}/x.csv auc<0.8 every hour",
    "monitor metrics s3:///x.csv auc<0.8 every hour",
    "monitor metrics file:///etc/passwd auc<0.8 every hour",
    "monitor metrics \\\\server\\share\\x.csv auc<0.8 every hour",
    "monitor metrics C:\\x.csv auc<0.8 every hour",
    "monitor metrics . auc<0.8 every hour",
    "monitor metrics %2e%2e/x.csv auc<0.8 every hour",
    "monitor metrics x.csv\u0000 auc<0.8 every hour",
    "monitor stop " + "a" * 5000,
    "monitor mute 00000000 9999999999999999999d",
    "monitor mute 00000000 ٣d",
    "monitor run ../../x",
    "monitor resume %",
    "monitor " + "every " * 200,
    "monitors " + "x" * 10_000,
]


async def test_monitor_commands(start, tmp_path):  # noqa: F811
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock, monitor_creators="members")
    write_predictions(tmp_path / "data", "2026-12-07", broken=True)
    chat = bot.channel("groupChat")
    for text in COMMANDS:
        reply = await say(bot, chat, text)
        bad = any(w in reply for w in ("went wrong", "Traceback", "Error:", "Exception"))
        print(f"{'FLAG' if bad else 'ok  '} {text[:70]!r} -> {reply[:150]!r}")
    try:
        ran = await tick_at(bot, clock, datetime(2026, 12, 7, 13, 0, 1, tzinfo=UTC))
        print("tick ran", ran, "runs; posts:", len(bot.connector.messages()))
    except Exception as error:  # noqa: BLE001
        print("FLAG tick raised", type(error).__name__, str(error)[:200])
    print("listing:", (await say(bot, chat, "monitors"))[:3000])
