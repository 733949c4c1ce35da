"""Portraits per second of the Datamons renderer on ONE core, at 64x64 and 32x32.

Why one core: the course runs on 2-core laptops shared with training; the renderer must not need more.
The thread limits are set before numpy is imported, which is the only time they take effect.

The goal (issue 11): at least 1,500 portraits 64x64 per CPU second on one core of the reference machine, a 2-core
laptop whose plain-SGD step in bench/dp_speed.py takes 0.065 s (it drew 879 per second before the renderer was made
faster). A faster machine prints its own, higher rate.

Unless --no-compare, the renderer of ``--old`` (a git revision; by default the last one before the speed-up, whose
pixels the current renderer reproduced bit for bit until renderer 2 stopped eyes blinking and mouths shutting, so
the largest difference printed is now that of an eye or a mouth) is loaded from git for this run only and timed on
the same work, interleaved with the current one, so that both see the same load: "today" and "now" side by side.
Run: python bench/datamons_speed.py [--n 2000] [--no-compare]
"""
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_lib.data import datamons  # noqa: E402

OLD_RENDERER = "24a7a3d"  # the last revision of course_lib/data/datamons.py before the renderer was made faster
GOAL = 1500  # portraits 64x64 per CPU second on one core of the reference machine
REFERENCE = "the reference 2-core machine (plain-SGD step of bench/dp_speed.py: 0.065 s)"


def old_renderer(revision: str):
    """The module course_lib/data/datamons.py at ``revision``, loaded from git for this run (None if unavailable)."""
    try:
        source = subprocess.run(["git", "show", f"{revision}:course_lib/data/datamons.py"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="datamons_old_")) / "datamons_old.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("datamons_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def portraits_per_second(renderers: dict, n: int, size: int, repeats: int = 3) -> dict:
    """Best of ``repeats`` renderings of ``n`` portraits (the 15 named identities) by each renderer, interleaved:
    {name: (per CPU second, per wall second, images of the first repeat)}.

    CPU time of this single-threaded process is what one core delivers even when other jobs share the machine;
    wall time is what you wait on an idle one.
    """
    cast = {name: module.named_identities() for name, module in renderers.items()}
    per_identity = -(-n // len(datamons.NAMED))
    for name, module in renderers.items():
        module.render(cast[name], 1, size=size, seed=0)  # warm-up
    best = {name: [float("inf"), float("inf"), None] for name in renderers}
    for seed in range(repeats):
        for name, module in renderers.items():
            cpu, wall = time.process_time(), time.perf_counter()
            images = module.render(cast[name], per_identity, size=size, seed=seed).images
            entry = best[name]
            entry[0] = min(entry[0], time.process_time() - cpu)
            entry[1] = min(entry[1], time.perf_counter() - wall)
            if seed == 0:
                entry[2] = images
            del images
    count = per_identity * len(datamons.NAMED)
    return {name: (count / cpu, count / wall, images) for name, (cpu, wall, images) in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="portraits per timed batch")
    parser.add_argument("--old", default=OLD_RENDERER, help="git revision of the renderer to compare with")
    parser.add_argument("--no-compare", action="store_true", help="time the current renderer only")
    args = parser.parse_args()
    renderers = {"now": datamons}
    old = None if args.no_compare else old_renderer(args.old)
    if old is not None:
        renderers = {"today": old, "now": datamons}
    elif not args.no_compare:
        print(f"(renderer of {args.old} not available from git: timing the current one only)")
    rates = {size: portraits_per_second(renderers, args.n, size) for size in (64, 32)}
    for size, got in rates.items():
        cpu, wall, images = got["now"]
        line = f"{size}x{size}: {cpu:8.0f} portraits per CPU second on one core; {wall:8.0f} per wall second"
        if "today" in got:
            before = got["today"]
            gap = float(np.max(np.abs(before[2].astype(np.float64) - images)))
            line += (f"   (renderer of {args.old}: {before[0]:.0f} per CPU second, now x{cpu / before[0]:.2f};"
                     f" largest pixel difference {gap:g})")
        print(line)
    print(f"goal at 64x64: >= {GOAL:,} per CPU second on one core of {REFERENCE}; "
          f"this machine: {rates[64]['now'][0]:,.0f}")
    print(f"ratio 32/64: {rates[32]['now'][0] / rates[64]['now'][0]:.2f}x")


if __name__ == "__main__":
    main()
