"""Execute the course's notebooks with papermill and summarise what they recorded.

``python -m course_lib run [--profile P] [-p NAME VALUE]... [NOTEBOOK...]`` writes, for each notebook,
``runs/<profile>/<stem>.ipynb`` (the executed copy) and ``runs/<profile>/<stem>.json`` (its results plus run
metadata), then prints one summary table. papermill only warns about a parameter a notebook does not declare; here an
unknown name stops the run before anything executes, because a typo would otherwise silently change nothing.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from course_lib import config, report

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = REPO_ROOT / "runs"
# Parameters the runner owns: PROFILE comes from --profile so the output folder and the notebook always agree.
RUNNER_OWNED = {"PROFILE"}
# Unattended runs have nobody to move a slider, and live widgets can stall nbclient's execution (nbclient#312,
# papermill#723), so the runner sets INTERACTIVE=False unless `-p INTERACTIVE True` asks otherwise.
UNATTENDED_DEFAULTS = {"INTERACTIVE": False}


class RunError(Exception):
    """A problem with the command line itself, reported as one line."""


@dataclass
class Outcome:
    notebook: str
    profile: str
    ok: bool
    seconds: float
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def available_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9]_*.ipynb"))


def resolve_notebook(name: str, directory: Path = NOTEBOOK_DIR) -> Path:
    """Accept a stem (``01_model_attacks``), a file name, a path, or the number prefix (``01``)."""
    candidate = Path(name)
    if candidate.suffix == ".ipynb" and candidate.exists():
        return candidate.resolve()
    stem = candidate.name.removesuffix(".ipynb")
    matches = [p for p in available_notebooks(directory) if p.stem == stem or p.stem.split("_", 1)[0] == stem]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(p.stem for p in available_notebooks(directory)) or "none"
    raise RunError(f"no notebook named '{name}': the notebooks are {known}")


def parse_value(text: str) -> Any:
    """Read ``3``, ``0.5``, ``True``, ``None``, ``[1, 2]`` as Python values, anything else as a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def coerce_parameter(name: str, text: str, default_source: str) -> Any:
    """Turn the command line's ``text`` into a value of the type of the notebook's default, or raise ``RunError``.

    A bool takes true/false/1/0/yes/no/on/off in any case; an int only whole decimal numbers; a float only finite
    numbers; a str the text itself. Without this, ``-p RETRAIN false`` was the truthy string "false".
    """
    try:
        default = ast.literal_eval(default_source)
    except (ValueError, SyntaxError):
        return parse_value(text)
    word = text.strip()
    if isinstance(default, bool):
        if word.lower() in _TRUE | _FALSE:
            return word.lower() in _TRUE
        raise RunError(f"-p {name} {text!r}: {name} is true or false (default {default_source}); "
                       "give true/false, 1/0 or yes/no")
    if isinstance(default, int):
        if re.fullmatch(r"[+-]?\d+", word):
            return int(word)
        raise RunError(f"-p {name} {text!r}: {name} is a whole number (default {default_source}); give e.g. 3")
    if isinstance(default, float):
        try:
            value = float(word)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
        raise RunError(f"-p {name} {text!r}: {name} is a finite number (default {default_source}); give e.g. 0.5")
    if isinstance(default, str):
        quoted = len(word) >= 2 and word[0] == word[-1] and word[0] in "'\""
        return word[1:-1] if quoted else text
    return parse_value(text)


def typed_parameters(notebook: Path, raw: dict[str, str]) -> dict[str, Any]:
    """``raw`` command-line texts turned into values of each parameter's declared type (after ``check_parameters``)."""
    declared = declared_parameters(notebook)
    return {name: coerce_parameter(name, text, declared[name]["default"]) for name, text in raw.items()}


def declared_parameters(notebook: Path) -> dict[str, Any]:
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    declared = declared_parameters(notebook)
    if not declared:
        raise RunError(f"{notebook.stem} has no cell tagged 'parameters'; tag its parameters cell")
    for name in parameters:
        if name in RUNNER_OWNED:
            raise RunError(f"set {name} with --profile, not with -p")
        if name not in declared:
            raise RunError(
                f"unknown parameter '{name}' for {notebook.stem}: it takes {', '.join(sorted(declared))}"
            )


def git_commit(root: Path = REPO_ROOT) -> str:
    """HEAD of the checkout the run came from, with ``+dirty`` when the tree had changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def run_notebook(
    notebook: Path,
    profile: str,
    parameters: dict[str, Any] | None = None,
    out_dir: Path = RUNS_DIR,
    progress: bool = True,
) -> Outcome:
    """Execute one notebook at a resolved profile; results and metadata land in ``out_dir/<profile>/<stem>.json``."""
    import papermill

    parameters = dict(parameters or {})
    check_parameters(notebook, parameters)
    target = Path(out_dir) / profile
    target.mkdir(parents=True, exist_ok=True)
    executed = target / f"{notebook.stem}.ipynb"
    results_file = target / f"{notebook.stem}.json"
    results_file.unlink(missing_ok=True)

    declared = declared_parameters(notebook)
    parameters = {**{k: v for k, v in UNATTENDED_DEFAULTS.items() if k in declared}, **parameters}
    seed = parameters.get("SEED", parse_value(declared["SEED"]["default"]) if "SEED" in declared else 0)
    env_before = {k: os.environ.get(k) for k in (report.RESULTS_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    os.environ[report.RESULTS_ENV] = str(results_file.resolve())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters={"PROFILE": profile, **parameters},
            kernel_name="python3",
            progress_bar=progress,
            cwd=str(notebook.parent),
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
        error = _short_error(exc)
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - clock
    results = report.read(results_file) if results_file.exists() else {}
    results.update(
        notebook=notebook.stem,
        profile=profile,
        seed=seed,
        commit=git_commit(),
        seconds=round(seconds, 2),
        started=started.isoformat(timespec="seconds"),
        python=platform.python_version(),
        tensorflow=_version("tensorflow"),
    )
    if error:
        results["error"] = error
    report.write(results_file, results)
    return Outcome(notebook.stem, profile, error is None, seconds, results, error)


def _short_error(exc: Exception) -> str:
    name = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return f"{name}: {value}".strip().splitlines()[0][:300]


METADATA_KEYS = {"notebook", "profile", "seed", "commit", "seconds", "started", "python", "tensorflow", "error"}


def format_value(value: Any) -> str:
    """One short cell of the summary: numbers to 3 places, small dicts inline, curves as their point count."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return f"[{len(value)} points]"
    return str(value)


def summary(outcomes: Sequence[Outcome]) -> str:
    lines = []
    for outcome in outcomes:
        status = "ok" if outcome.ok else f"FAILED ({outcome.error})"
        lines.append(f"{outcome.notebook}  [{outcome.profile}]  {outcome.seconds:.0f} s  {status}")
        for key in sorted(k for k in outcome.results if k not in METADATA_KEYS):
            lines.append(f"    {key:<32} {format_value(outcome.results[key])}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib run", description="Execute the course notebooks.")
    parser.add_argument("--profile", default="auto", choices=config.PROFILE_CHOICES)
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="set a notebook parameter (e.g. -p SEED 1); unknown names are refused",
    )
    parser.add_argument("--out", default=str(RUNS_DIR), help="folder for runs/<profile>/ (default: runs/)")
    parser.add_argument("notebooks", nargs="*", help="notebook stems, numbers or paths (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        notebooks = [resolve_notebook(n) for n in args.notebooks] or available_notebooks()
        if not notebooks:
            raise RunError(f"no notebooks found in {NOTEBOOK_DIR}")
        raw = dict(args.parameter)
        typed = {}
        for notebook in notebooks:
            check_parameters(notebook, raw)
            typed[notebook] = typed_parameters(notebook, raw)
        profile = config.resolve_profile(args.profile)
    except (RunError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outcomes = []
    for notebook in notebooks:
        print(f"--> {notebook.stem} at profile '{profile}'", flush=True)
        outcome = run_notebook(notebook, profile, typed[notebook], Path(args.out))
        print(f"    {'done' if outcome.ok else 'FAILED'} in {outcome.seconds:.0f} s", flush=True)
        outcomes.append(outcome)
    print("\nSummary (results in " + str(Path(args.out) / profile) + "):")
    print(summary(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1
