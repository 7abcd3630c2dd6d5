"""Routing overhead per turn: what picking one of several named backends costs (goal: under 1 ms).

1. `RouteTable.route` alone, for route tables of 10, 100 and 1,000 rules, when no rule matches and when one
   does (rules are indexed by the fields they give, so the cost does not grow with the number of rules).
2. `Picker.pick` as the chat handler calls it on every turn, with users allowed to choose (`use`): the route
   plus one read of the conversation's choice from the SQLite store, side by side with the reference every
   turn pays anyway, one read of the conversation state from the same store (`get_conversation`).
Usage: python -m bench.routing [TURNS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from handlers.models import Conversation, Turn, User
from handlers.routing import Picker
from services.routing import Where, parse_route_table
from services.store import SQLiteStore, get_conversation


def table_text(rules: int, choosable: bool) -> str:
    """Return a route table of `rules` team rules over four named backends."""
    choice = '["docs", "hr"]' if choosable else "[]"
    lines = ['default = "docs"', f"choosable = {choice}"]
    for name in ("docs", "hr", "travel", "it"):
        lines += [f"[backends.{name}]", 'type = "local"']
    for number in range(rules):
        backend = ("hr", "travel", "it")[number % 3]
        lines += ["[[routes]]", f'backend = "{backend}"', f'team = "19:team{number}@thread.tacv2"']
    return "\n".join(lines)


def per_call_us(call, repeat: int) -> float:
    """Return the median over 5 runs of the microseconds one call takes."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        runs.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(runs)


async def picking(turns: int) -> tuple[float, float]:
    """Return (median ms of Picker.pick with a choice to read, median ms of get_conversation) over `turns`."""
    table = parse_route_table(table_text(100, choosable=True), "bench")
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "state.db")
        picker = Picker({name: _Named(name) for name in table.names}, table, store)
        turn = Turn(
            id="1", kind="message", text="hello", user=User(id="u1", aad_object_id="oid-1"),
            conversation=Conversation(id="19:c@thread.tacv2", type="channel", key="19:c@thread.tacv2;messageid=1",
                                      tenant_id="t1", team_id="19:team99@thread.tacv2"),
        )  # fmt: skip
        await store.put_value("use|" + turn.conversation.key, {"backend": "hr"})
        pick, reference = [], []
        for _ in range(turns):
            started = time.perf_counter()
            chosen = await picker.pick(turn)
            pick.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await get_conversation(store, turn.conversation.key)
            reference.append((time.perf_counter() - started) * 1000)
        assert chosen.name == "hr"
        await store.close()
    return statistics.median(pick), statistics.median(reference)


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print("Routing overhead per turn (the machine is shared: figures vary with its load)")
    nowhere = Where(tenant="t0", team="19:elsewhere@thread.tacv2", chat_type="channel")
    matching = Where(tenant="t0", team="19:team0@thread.tacv2", chat_type="channel")
    for rules in (10, 100, 1000):
        table = parse_route_table(table_text(rules, choosable=False), "bench")
        worst = per_call_us(lambda table=table: table.route(nowhere), 2000 if rules < 1000 else 200)
        first = per_call_us(lambda table=table: table.route(matching), 2000)
        print(f"  route(), {rules:>5} rules: {worst:8.2f} µs when no rule matches, {first:6.2f} µs when the first does")
    pick, reference = asyncio.run(picking(turns))
    print(f"  Picker.pick with a `use` choice to read (SQLite), median of {turns}: {pick:.3f} ms")
    print(f"  reference: get_conversation, the read every turn does anyway:  {reference:.3f} ms "
          f"(ratio {pick / reference:.2f})")  # fmt: skip
    print(f"  goal under 1 ms per turn: {'met' if pick < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
