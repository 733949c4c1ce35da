"""What each attack of the course cost on this machine: wall time, queries and the access it needed.

The talk's third condition for a credible attack is its cost. ``CostTable`` collects one row per attack as the
notebook runs them (``measure`` times a block; the caller adds the queries it spent), and ``records`` gives the
``attack_costs`` result of RESULTS.md. ``machine`` says what "this machine" was, so a reader can compare.
"""
from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from course_lib import config


def machine() -> str:
    """One line describing where the costs were measured (CPU count, and a GPU when TensorFlow sees one)."""
    gpu = ""
    try:
        if config.gpu_available():
            gpu = ", GPU"
    except Exception:  # pragma: no cover - TensorFlow is installed with the course; stay descriptive if not
        pass
    return f"{platform.machine() or 'cpu'}, {os.cpu_count()} CPU cores{gpu}"


@dataclass
class Measurement:
    """Filled by ``CostTable.measure``: set ``queries`` inside the block; ``seconds`` is set when it ends."""

    queries: int = 0
    seconds: float = 0.0


@dataclass
class CostTable:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, attack: str, *, seconds: float, queries: int, needs: str, compute: str = "") -> dict[str, Any]:
        """Add one attack; ``needs`` is its access (e.g. "weights (white box)", "API + own data")."""
        if not isinstance(attack, str) or not attack:
            raise ValueError("every cost row needs an attack name")
        if any(row["attack"] == attack for row in self.rows):
            raise ValueError(f"attack '{attack}' is already in the cost table; give each row its own name")
        config.require_non_negative("seconds", seconds)
        if isinstance(queries, bool) or not isinstance(queries, int) or queries < 0:
            raise ValueError(f"queries must be a non-negative integer, got {queries!r}")
        row = {"attack": attack, "seconds": float(seconds), "queries": int(queries), "needs": needs,
               "compute": compute}
        self.rows.append(row)
        return row

    @contextmanager
    def measure(self, attack: str, *, needs: str, compute: str = "") -> Iterator[Measurement]:
        """Time the block and add its row when it ends (not when it fails: a crashed attack has no cost to show)."""
        measurement = Measurement()
        started = time.perf_counter()
        yield measurement
        measurement.seconds = time.perf_counter() - started
        self.add(attack, seconds=measurement.seconds, queries=int(measurement.queries), needs=needs, compute=compute)

    def records(self) -> list[dict[str, Any]]:
        """The ``attack_costs`` result: ``[{"attack", "seconds", "queries", "needs", "compute"}, ...]``."""
        return [dict(row) for row in self.rows]
