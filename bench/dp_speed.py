"""Time per training step of the TF Privacy tutorial CNN at batch 250: plain SGD, the course's fast DP-SGD and TF
Privacy's DPKerasSGDOptimizer, measured side by side in one process.

The headline is the path the course trains with (``training.train_dp``): the models ``training.make_classifier``
builds, fed Poisson batches (``sampling.poisson_dataset``: each example drawn with probability q = 250 / n, a 0/1
mask, the noisy sum divided by the expected batch size q*n), one Keras train step at a time (``model.train_function``,
what ``fit`` runs per step). Plain SGD and fast DP-SGD read the same batches in lockstep and alternate in blocks of a
few steps, so a busy machine slows both alike; every pair of blocks gives one ratio, and the median of those is the
ratio printed. Poisson batches change size every step and TensorFlow's oneDNN kernels are rebuilt the first time they
meet a size, so the first epoch is timed and printed on its own; the per-step figures are the steady state after it.
Also printed: the same ratio in CPU time of this process, which other jobs on a shared machine disturb less.

DPKerasSGDOptimizer (one microbatch per example, so a fixed batch: ``train_on_batch`` on 250 examples) is traced
first, then each of its steps is paired with a block of fast DP-SGD steps right after it.

A second table times TF Privacy's other paths on one fixed batch with ``train_on_batch``, as notebook 02 does
(``recipes.step_times``); its plain-SGD line is this machine's speed unit (``course_lib.machine``).

Goals: fast DP-SGD <= 1.3x plain SGD per step, and >= 100x faster than DPKerasSGDOptimizer. The first holds where
TensorFlow runs without oneDNN (CPUs with AVX2 only), not where its oneDNN convolutions make plain SGD several times
faster (AVX-512); the README gives both measurements.

    python bench/dp_speed.py [--rounds 200] [--block 2] [--warmup-epochs 1] [--slow-steps 3] [--no-others]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from course_lib.dp import recipes, sampling, training  # first: course_lib settles the stack before TensorFlow loads
from course_lib.models.classifiers import mnist_tutorial_cnn

import tensorflow as tf  # noqa: E402

CLIP, NOISE, LR = 1.0, 1.1, 0.15
OTHERS = {
    "sgd": "plain SGD (the machine's speed unit)",
    "fast_dp": "course fast DP-SGD, no mask",
    "fast_dp_tf_privacy_step": "DPModel + Conv2D registry, TF Privacy's 2-pass step",
    "dpsequential_no_registry": "DPSequential, no registry",
}


def course_model(noise_multiplier: float, batch: int) -> tf.keras.Model:
    return training.make_classifier(mnist_tutorial_cnn, noise_multiplier=noise_multiplier, l2_norm_clip=CLIP,
                                    batch_size=batch, learning_rate=LR)


def stepper(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, batch: int, seed: int, steps: int):
    """``run(k)``: k Keras train steps on the next of ``steps`` Poisson batches; returns (wall, CPU) s per step."""
    iterator = iter(sampling.poisson_dataset(x, y, sampling.PoissonBatches(len(x), batch, seed), steps))
    step = model.make_train_function()

    def run(steps: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            logs = step(iterator)
        float(logs["loss"])  # finished (eager calls are synchronous; belt and braces)
        return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps

    return run


def interleaved(run: dict, rounds: int, block: int) -> dict[str, np.ndarray]:
    """(rounds, 2) wall and CPU seconds per step of each model, alternating which goes first."""
    out = {name: [] for name in run}
    names = list(run)
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            out[name].append(run[name](block))
    return {name: np.array(values) for name, values in out.items()}


def quartiles(values: np.ndarray) -> str:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:.2f} (quartiles {q1:.2f}-{q3:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250, help="expected (Poisson) batch size")
    parser.add_argument("--n", type=int, default=60_000, help="training set size the batches are drawn from")
    parser.add_argument("--warmup-epochs", type=float, default=1.0, help="epochs timed apart before the steady state")
    parser.add_argument("--rounds", type=int, default=200, help="steady-state rounds (one block of each model)")
    parser.add_argument("--block", type=int, default=2, help="steps per model per round")
    parser.add_argument("--slow-steps", type=int, default=3, help="timed steps of DPKerasSGDOptimizer")
    parser.add_argument("--other-rounds", type=int, default=15, help="rounds of the fixed-batch table")
    parser.add_argument("--no-others", action="store_true", help="skip the fixed-batch table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, args.n)
    tf.keras.utils.set_random_seed(args.seed)
    models = {"plain": course_model(0.0, args.batch), "fast": course_model(NOISE, args.batch)}
    epoch_steps = math.ceil(args.n / args.batch)
    first_rounds = max(1, round(args.warmup_epochs * epoch_steps / args.block))
    steps = 1 + (first_rounds + args.rounds + args.slow_steps) * args.block  # every step either model takes
    run = {name: stepper(model, x, y, args.batch, args.seed, steps) for name, model in models.items()}
    for r in run.values():
        r(1)  # trace (the same first batch for both)
    first = interleaved(run, first_rounds, args.block)
    steady = interleaved(run, args.rounds, args.block)
    plain, fast = steady["plain"], steady["fast"]
    paired, paired_cpu = fast[:, 0] / plain[:, 0], fast[:, 1] / plain[:, 1]

    slow_model = recipes.dpkeras_sgd(args.batch, l2_norm_clip=CLIP, noise_multiplier=NOISE, learning_rate=LR)
    xb, yb = tf.constant(x[:args.batch]), tf.constant(y[:args.batch])
    slow_model.train_on_batch(xb, yb)  # trace (the per-example Jacobian graph is large) and one untimed step
    slow, slow_paired = [], []
    for _ in range(args.slow_steps):
        start = time.perf_counter()
        slow_model.train_on_batch(xb, yb)
        slow.append(time.perf_counter() - start)
        slow_paired.append(slow[-1] / run["fast"](args.block)[0])

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; 1-minute load average {load_start:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"tutorial CNN, Poisson batches (expected {args.batch} of {args.n}, mask, noisy sum / {args.batch}), "
          f"one Keras train step at a time")
    first_ratio = first["fast"][:, 0].sum() / first["plain"][:, 0].sum()
    print(f"first {args.warmup_epochs:g} epoch ({len(first['plain']) * args.block} steps each): plain SGD "
          f"{first['plain'][:, 0].mean():.4f} s/step, fast DP-SGD {first['fast'][:, 0].mean():.4f} s/step, "
          f"ratio {first_ratio:.2f}")
    print(f"steady state, {args.rounds} rounds of {args.block} steps each:")
    print(f"{'recipe':52s} {'s/step':>8s} {'x plain':>8s}")
    print(f"{'plain SGD':52s} {np.median(plain[:, 0]):8.4f} {1.0:8.2f}")
    print(f"{'course fast DP-SGD':52s} {np.median(fast[:, 0]):8.4f} {np.median(paired):8.2f}")
    print(f"{'DPKerasSGDOptimizer, microbatches = batch (fixed)':52s} {np.median(slow):8.3f} "
          f"{np.median(slow) / np.median(plain[:, 0]):8.0f}")
    print(f"fast DP / plain SGD = {quartiles(paired)} per step (goal <= 1.3); in CPU time {quartiles(paired_cpu)}")
    print(f"DPKerasSGDOptimizer / fast DP = {np.median(slow_paired):.0f} (each of its {args.slow_steps} steps against "
          f"the fast block after it: {', '.join(f'{v:.0f}' for v in slow_paired)}) (goal >= 100)")

    if not args.no_others:
        other = recipes.step_times(tuple(OTHERS), batch_size=args.batch, rounds=args.other_rounds, seed=args.seed,
                                   x=x[:args.batch], y=y[:args.batch])
        print(f"\none fixed batch of {args.batch}, train_on_batch (notebook 02's table), median of "
              f"{args.other_rounds} rounds")
        for name, seconds in other.items():
            print(f"{OTHERS[name]:52s} {seconds:8.4f} {seconds / other['sgd']:8.2f}")


if __name__ == "__main__":
    main()
