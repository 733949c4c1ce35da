"""The ways to train the tutorial CNN that notebook 02 and bench/dp_speed.py time side by side.

* plain SGD: the non-private reference;
* the talk's recipe: ``DPKerasSGDOptimizer`` with a per-example loss (reduction NONE) and one microbatch per example,
  which builds a per-example Jacobian and is two orders of magnitude slower (bench/dp_speed.py prints by how much);
* ``DPSequential`` without a layer registry: per-example gradients in ``tf.vectorized_map``;
* the course's fast DP-SGD (``course_lib.dp.training``): per-example norms from the layer registry, no per-example
  gradients.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.dp import training
from course_lib.models.classifiers import mnist_tutorial_cnn

RECIPES: tuple[str, ...] = ("sgd", "fast_dp", "fast_dp_tf_privacy_step", "dpsequential_no_registry", "dpkeras")


def plain_sgd(learning_rate: float = 0.15) -> tf.keras.Model:
    """Non-private: mean loss over the batch, one gradient."""
    model = mnist_tutorial_cnn()
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def dpkeras_sgd(
    num_microbatches: int, l2_norm_clip: float = 1.0, noise_multiplier: float = 1.1, learning_rate: float = 0.15,
    optimizer_class: str = "DPKerasSGDOptimizer",
) -> tf.keras.Model:
    """The talk's recipe: a DP optimizer (any class of TF Privacy's ``dp_optimizer_keras``), per-example losses
    (reduction NONE) and microbatches."""
    from tensorflow_privacy.privacy.optimizers import dp_optimizer_keras

    training.validate_dp_params(l2_norm_clip, noise_multiplier, None, num_microbatches)
    model = mnist_tutorial_cnn()
    model.compile(
        optimizer=getattr(dp_optimizer_keras, optimizer_class)(
            l2_norm_clip=l2_norm_clip,
            noise_multiplier=noise_multiplier,
            num_microbatches=num_microbatches,
            learning_rate=learning_rate,
        ),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=tf.losses.Reduction.NONE),
    )
    return model


def fast_dp(
    l2_norm_clip: float = 1.0, noise_multiplier: float = 1.1, learning_rate: float = 0.15, engine: str = "course"
) -> tf.keras.Model:
    """The course's DP-SGD: TF Privacy's DPModel with the full layer registry and a plain SGD optimizer."""
    model = training.make_dp_model(
        mnist_tutorial_cnn(), l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, engine=engine
    )
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def dpsequential_no_registry(
    l2_norm_clip: float = 1.0, noise_multiplier: float = 1.1, learning_rate: float = 0.15
) -> tf.keras.Model:
    """TF Privacy's DPSequential as it comes: no registry, so per-example gradients (its slow path)."""
    from tensorflow_privacy.privacy.keras_models.dp_keras_model import DPSequential

    model = DPSequential(
        l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, use_xla=False, layers=mnist_tutorial_cnn().layers
    )
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def builders(batch_size: int) -> dict[str, Callable[[], tf.keras.Model]]:
    return {
        "sgd": plain_sgd,
        "fast_dp": fast_dp,
        "fast_dp_tf_privacy_step": lambda: fast_dp(engine="tf_privacy"),
        "dpsequential_no_registry": dpsequential_no_registry,
        "dpkeras": lambda: dpkeras_sgd(batch_size),
    }


def step_times(
    recipes: tuple[str, ...] = ("sgd", "fast_dp", "dpkeras"),
    *,
    batch_size: int = 250,
    rounds: int = 3,
    slow_steps: int = 1,
    seed: int = 0,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> dict[str, float]:
    """Median seconds per training step of each recipe on the same batch, measured in one process.

    The fast recipes are timed round-robin (``rounds`` rounds) so a busy CPU slows them alike; ``dpkeras``, far
    slower, is timed for ``slow_steps`` steps after them. Each recipe takes untimed steps first: TensorFlow traces a
    step and optimises its graph on the first run, which for ``dpkeras`` (a per-example Jacobian) took 20.7 s against
    2.8 s for the next step on the 2-core development machine, and must not be counted as a step.
    """
    unknown = set(recipes) - set(RECIPES)
    if unknown:
        raise config.ConfigError(f"unknown recipe(s) {', '.join(sorted(unknown))}: choose from {', '.join(RECIPES)}")
    config.require_positive("batch_size", batch_size, integer=True)
    config.require_positive("rounds", rounds, integer=True)
    config.require_positive("slow_steps", slow_steps, integer=True)
    config.seed_everything(seed)
    rng = np.random.default_rng(seed)
    if x is None or y is None:
        x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, batch_size)
    x = np.asarray(x, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    if len(x) < batch_size:
        raise config.ConfigError(f"need {batch_size} examples to time a step of batch {batch_size}, got {len(x)}")
    xb, yb = tf.constant(x[:batch_size]), tf.constant(np.asarray(y)[:batch_size])
    make = builders(batch_size)

    def timed(model: tf.keras.Model) -> float:
        start = time.perf_counter()
        model.train_on_batch(xb, yb)
        return time.perf_counter() - start

    fast = [r for r in recipes if r != "dpkeras"]
    models = {name: make[name]() for name in fast}
    for model in models.values():
        model.train_on_batch(xb, yb)  # trace
        model.train_on_batch(xb, yb)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in fast}
    for _ in range(rounds):
        for name, model in models.items():
            samples[name].append(timed(model))
    result = {name: float(np.median(values)) for name, values in samples.items()}
    if "dpkeras" in recipes:
        slow = make["dpkeras"]()
        slow.train_on_batch(xb, yb)  # untimed: trace and optimise the (large) Jacobian graph, and one step
        result["dpkeras"] = float(np.median([timed(slow) for _ in range(slow_steps)]))
    return {name: result[name] for name in recipes}
