"""Portraits per second of the Datamons renderer on ONE core, at 64x64 and 32x32.

Why one core: the course runs on 2-core laptops shared with training; the renderer must not need more.
The thread limits are set before numpy is imported, which is the only time they take effect.
Run: python bench/datamons_speed.py [--n 2000]
"""
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib.data import datamons  # noqa: E402


def portraits_per_second(n: int, size: int, repeats: int = 3) -> tuple[float, float]:
    """Best of ``repeats`` renderings of ``n`` portraits (the 15 named identities): (per CPU second, per wall second).

    CPU time of this single-threaded process is what one core delivers even when other jobs share the machine;
    wall time is what you wait on an idle one.
    """
    identities = datamons.named_identities()
    per_identity = -(-n // len(identities))
    datamons.render(identities, 1, size=size, seed=0)  # warm-up
    best_cpu = best_wall = float("inf")
    for seed in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        datamons.render(identities, per_identity, size=size, seed=seed)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    count = per_identity * len(identities)
    return count / best_cpu, count / best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="portraits per timed batch")
    args = parser.parse_args()
    fast64, wall64 = portraits_per_second(args.n, 64)
    fast32, wall32 = portraits_per_second(args.n, 32)
    print(f"64x64: {fast64:8.0f} portraits per CPU second on one core (goal >= 1000); {wall64:8.0f} per wall second")
    print(f"32x32: {fast32:8.0f} portraits per CPU second on one core; {wall32:8.0f} per wall second")
    print(f"ratio 32/64: {fast32 / fast64:.2f}x")


if __name__ == "__main__":
    main()
