"""How fast this machine is, in the one unit the course states times in: the plain-SGD step of ``bench/dp_speed.py``.

Users' machines differ by 4x, so a time is only meaningful next to this machine's speed. The same function serves
the benchmark, the manifest (each shipped checkpoint records the step of the machine that trained it) and the
estimate printed before anything trains (``checkpoints.training_estimate``).
"""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def plain_sgd_step_seconds(rounds: int = 7) -> float:
    """Median seconds of one plain-SGD step of the TF Privacy tutorial CNN at batch 250 (a few seconds to measure)."""
    from course_lib.dp import recipes

    return recipes.step_times(("sgd",), batch_size=250, rounds=rounds)["sgd"]
