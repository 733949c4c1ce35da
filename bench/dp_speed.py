"""Time per training step of the TF Privacy tutorial CNN at batch 250: plain SGD against four DP-SGD implementations.

All recipes run in one process on the same batch; the fast ones round-robin, so a busy machine slows them alike
(course_lib.dp.recipes.step_times). Prints seconds per step and the ratios the course claims:
fast DP <= 1.5x plain SGD, and >= 100x faster than DPKerasSGDOptimizer with one microbatch per example.

    python bench/dp_speed.py [--batch 250] [--rounds 7] [--slow-steps 2]
"""
from __future__ import annotations

import argparse

from course_lib.dp import recipes

LABELS = {
    "sgd": "plain SGD",
    "fast_dp": "course fast DP-SGD (DPModel + Conv2D registry, 1 pass)",
    "fast_dp_tf_privacy_step": "DPModel + Conv2D registry, TF Privacy's 2-pass step",
    "dpsequential_no_registry": "DPSequential, no registry",
    "dpkeras": "DPKerasSGDOptimizer, microbatches = batch",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=7, help="timed round-robin rounds of the fast recipes")
    parser.add_argument("--slow-steps", type=int, default=2, help="timed steps of DPKerasSGDOptimizer")
    args = parser.parse_args()
    times = recipes.step_times(recipes.RECIPES, batch_size=args.batch, rounds=args.rounds, slow_steps=args.slow_steps)
    base, fast = times["sgd"], times["fast_dp"]
    print(f"tutorial CNN, batch {args.batch}, median of {args.rounds} rounds ({args.slow_steps} steps for DPKeras)")
    print(f"{'recipe':58s} {'s/step':>9s} {'x plain':>8s}")
    for name, seconds in times.items():
        print(f"{LABELS[name]:58s} {seconds:9.4f} {seconds / base:8.2f}")
    print(f"fast DP / plain SGD = {fast / base:.2f} (goal <= 1.5)")
    print(f"DPKerasSGDOptimizer / fast DP = {times['dpkeras'] / fast:.0f} (goal >= 100)")


if __name__ == "__main__":
    main()
