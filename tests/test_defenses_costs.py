"""The cost table: every measured attack becomes one row with its seconds and queries; mistakes are refused."""
import time

import pytest

from course_lib.defenses.costs import CostTable, machine


def test_measure_times_the_block_and_keeps_its_queries():
    table = CostTable()
    with table.measure("extraction", needs="API + own digits", compute="CPU") as cost:
        time.sleep(0.02)
        cost.queries = 120
    table.add("GMI", seconds=3.5, queries=0, needs="weights")
    rows = table.records()
    assert [r["attack"] for r in rows] == ["extraction", "GMI"]
    assert rows[0]["seconds"] >= 0.02 and rows[0]["queries"] == 120
    assert set(rows[1]) >= {"attack", "seconds", "queries", "needs"}


def test_a_failed_attack_adds_no_row_and_bad_rows_are_refused():
    table = CostTable()
    with pytest.raises(RuntimeError):
        with table.measure("crashing", needs="nothing"):
            raise RuntimeError("boom")
    assert table.records() == []
    table.add("a", seconds=1.0, queries=1, needs="x")
    with pytest.raises(ValueError, match="already"):
        table.add("a", seconds=1.0, queries=1, needs="x")
    with pytest.raises(ValueError, match="queries"):
        table.add("b", seconds=1.0, queries=-1, needs="x")
    with pytest.raises(ValueError, match="seconds"):
        table.add("c", seconds=-1.0, queries=0, needs="x")
    assert "CPU cores" in machine()
