"""Hostile monitor definitions (issue 19, third hostile pass): what one member types must not break the
monitors of anyone else, nor the conversation's own listing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.monitors.model import Floor
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


async def test_a_stored_monitor_that_no_longer_reads_back_does_not_stop_the_tick(tmp_path):
    """Defence in depth: a row an older version wrote (a floor stored as null) is skipped, not raised."""
    import sqlite3

    from services.monitors.model import Monitor
    from services.monitors.store import SQLiteMonitorStore

    store = SQLiteMonitorStore(tmp_path / "s.db")
    good = Monitor(kind="drift", conversation_key="a", service_url="https://smba.trafficmanager.net/x/",
                   conversation_id="a", created_by="u", created_at=1, sources=["r.csv", "c.csv"],
                   schedule="every hour", next_run=10)  # fmt: skip
    await store.save(good)
    broken = good.model_copy(update={"id": "deadbeef", "kind": "metrics", "next_run": 5})
    await store.save(broken)
    data = broken.model_dump_json().replace('"floors":[]', '"floors":[{"metric":"auc","op":"<","value":null}]')
    sqlite3.connect(tmp_path / "s.db").execute(
        "UPDATE monitors SET data = ? WHERE id = 'deadbeef'", (data,)
    ).connection.commit()
    assert [m.id for m in await store.due(100)] == [good.id]
    await store.close()
