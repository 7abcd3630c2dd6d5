"""Hostile monitor definitions (issue 19, third hostile pass): what one member types must not break the
monitors of anyone else, nor the conversation's own listing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.monitors.model import Floor
from services.monitors.store import SQLiteMonitorStore
from tests.test_monitor_store import monitor, monitors, moto_url  # noqa: F401 - fixtures
from tests.test_monitors_e2e import (
    Clock,
    say,
    start,  # noqa: F401 - the fixture
    stored,
    tick_at,
    write_predictions,
)

HUGE = "9" * 400  # float() of 400 digits is inf; JSON cannot hold inf, so the stored floor came back null


@pytest.mark.parametrize("floor", [f"auc<{HUGE}", f"log_loss>-{HUGE}", f"auc&lt;{HUGE}"])
async def test_a_floor_that_is_not_a_finite_number_is_refused_and_every_other_monitor_still_runs(
    start,  # noqa: F811
    tmp_path,
    floor,
):
    clock = Clock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    bot = await start(clock)
    write_predictions(tmp_path / "data", "2026-12-07", broken=True)
    victim = bot.channel("personal")
    created = await say(bot, victim, "monitor metrics preds-2026-12-07.csv y_true=label y_score=score auc<0.8 "
                                     "every hour")  # fmt: skip
    victim_id = created.split("`")[1]

    attacker = bot.channel("groupChat")
    reply = await say(bot, attacker, f"monitor metrics preds-2026-12-07.csv {floor} every hour")
    assert "created" not in reply and "finite" in reply.lower(), reply
    assert "went wrong" not in await say(bot, attacker, "monitors")

    posts = len(bot.connector.messages())
    assert await tick_at(bot, clock, datetime(2026, 12, 7, 13, 0, 1, tzinfo=UTC)) == 1
    assert (await stored(bot, victim_id)).runs == 1
    assert len(bot.connector.messages()) == posts + 1  # the victim's floor crossed: one post


def test_a_floor_holds_finite_values_only():
    with pytest.raises(ValueError):
        Floor(metric="auc", op="<", value=float("inf"))
    with pytest.raises(ValueError):
        Floor(metric="auc", op="<", value=float("nan"))


async def test_a_stored_monitor_that_no_longer_reads_back_does_not_stop_the_tick(monitors):  # noqa: F811
    """Defence in depth, in both stores: a row an older version wrote (a floor stored as null) is skipped by
    the due listing, not raised (the tick reads every due monitor of every conversation in one listing)."""
    good = monitor(next_run=10.0)
    broken = monitor("conv-b", next_run=5.0)
    await monitors.save(good)
    await monitors.save(broken)
    data = broken.model_dump_json().replace('"value":0.8', '"value":null')
    if isinstance(monitors, SQLiteMonitorStore):
        monitors._db.execute("UPDATE monitors SET data = ? WHERE id = ?", (data, broken.id))
    else:
        monitors._client.update_item(
            TableName=monitors.table, Key={"pk": {"S": f"monitor#{broken.id}"}},
            UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":d": {"S": data}},
        )  # fmt: skip
    assert [m.id for m in await monitors.due(100.0)] == [good.id]
