"""Record a notebook's headline results into its run's results file.

The runner (``course_lib.run``) tells the notebook's kernel where to write through the environment variable
``COURSE_RESULTS``; each ``record`` rewrites that JSON file, so results recorded before a failing cell survive.
Run by hand in Jupyter (no runner), results are kept in memory only and ``results()`` shows them.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_ENV = "COURSE_RESULTS"

_memory: dict[str, Any] = {}


def to_json(value: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and nested containers into plain JSON values; refuse anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"cannot record {value}: results must be finite numbers (use None for 'no value')")
        return value
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    raise TypeError(f"cannot record a {type(value).__name__}: record numbers, strings, booleans, lists or dicts")


def results_path() -> Path | None:
    """The results file of the current run, or None when the notebook runs outside the runner."""
    target = os.environ.get(RESULTS_ENV)
    return Path(target) if target else None


def record(name: str, value: Any) -> Any:
    """Add ``name: value`` to the run's results (see shared RESULTS.md for the names) and return the plain value."""
    if not isinstance(name, str) or not name:
        raise ValueError("a result needs a non-empty string name")
    plain = to_json(value)
    _memory[name] = plain
    path = results_path()
    if path is not None:
        current = read(path) if path.exists() else {}
        current[name] = plain
        write(path, current)
    return plain


def results() -> dict[str, Any]:
    """Everything recorded in this process so far."""
    return dict(_memory)


def read(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
