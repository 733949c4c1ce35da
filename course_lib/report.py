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


# Fields the runner adds that describe the run, not its results (see shared RESULTS.md).
RUN_METADATA = ("notebook", "profile", "seed", "commit", "seconds", "started", "python", "tensorflow")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b[0].c": leaf}`` for nested results, so two runs compare value by value."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for k, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{k}]"))
        return out
    return {prefix: value}


def compare(a: dict[str, Any], b: dict[str, Any], *, rtol: float = 1e-6,
            ignore: tuple[str, ...] = RUN_METADATA + ("attack_seconds",)) -> list[tuple[str, Any, Any]]:
    """The results that differ between two runs: numbers beyond relative ``rtol``, anything else when unequal.

    Names in ``ignore`` (run metadata, wall times) and any name ending in ``seconds`` are skipped: they describe
    the machine, not the result.
    """
    flat_a, flat_b = flatten({k: v for k, v in a.items() if k not in ignore}), \
        flatten({k: v for k, v in b.items() if k not in ignore})
    differences = []
    for name in sorted(set(flat_a) | set(flat_b)):
        if name.split(".")[0].split("[")[0].endswith("seconds") or name.endswith("seconds"):
            continue
        x, y = flat_a.get(name), flat_b.get(name)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        if numbers and math.isclose(x, y, rel_tol=rtol, abs_tol=0.0):
            continue
        if not numbers and x == y:
            continue
        differences.append((name, x, y))
    return differences


def compare_main(argv: list[str] | None = None) -> int:
    """``python -m course_lib compare A.json B.json [--rtol R]``: exit 0 when two runs' results agree."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib compare",
                                     description="Compare the results of two runs of a notebook (runs/<profile>/*.json).")
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance for numbers (default 1e-6)")
    args = parser.parse_args(argv)
    a, b = read(args.first), read(args.second)
    differences = compare(a, b, rtol=args.rtol)
    compared = len(flatten({k: v for k, v in a.items() if k not in RUN_METADATA}))
    for name, x, y in differences:
        print(f"{name}: {x!r} vs {y!r}")
    print(f"{compared} values compared, {len(differences)} differ beyond rtol {args.rtol:g} (times ignored)")
    return 0 if not differences else 1
