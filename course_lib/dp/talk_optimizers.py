"""The talk's DP optimizers (slides 16-18, TensorFlow 1) and what to use for each with TF Privacy 0.9 and Keras.

The talk's code built TF1 optimizers from ``tensorflow_privacy.privacy.optimizers.dp_optimizer``
(``DPGradientDescentGaussianOptimizer`` ...) and called ``minimize`` in a graph session. TF Privacy 0.9 still ships
them, as ``tf.compat.v1`` optimizers that do not plug into ``model.fit``; its Keras classes in ``dp_optimizer_keras``
are their successors, and the course's fast path (``training.make_dp_model`` with a plain Keras optimizer) computes
the same clipped, noisy gradient much faster. ``optimizer_map`` checks every name against the installed package, so
the table a learner reads is the one their environment has.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from course_lib import config
from course_lib.dp import recipes

TF1_MODULE = "tensorflow_privacy.privacy.optimizers.dp_optimizer"
KERAS_MODULE = "tensorflow_privacy.privacy.optimizers.dp_optimizer_keras"
# (talk's TF1 class, TF Privacy 0.9 Keras class, the course's fast equivalent)
OPTIMIZER_MAP: tuple[tuple[str, str, str], ...] = (
    ("DPGradientDescentGaussianOptimizer", "DPKerasSGDOptimizer",
     "training.make_dp_model(...) + tf.keras.optimizers.SGD"),
    ("DPAdamGaussianOptimizer", "DPKerasAdamOptimizer", "training.make_dp_model(...) + tf.keras.optimizers.Adam"),
    ("DPAdagradGaussianOptimizer", "DPKerasAdagradOptimizer",
     "training.make_dp_model(...) + tf.keras.optimizers.Adagrad"),
)


def _has(module: str, name: str) -> bool:
    return hasattr(importlib.import_module(module), name)


def optimizer_map() -> list[dict[str, Any]]:
    """One row per optimizer of the talk, with whether this environment's TF Privacy has each class."""
    return [
        {"talk (TF1, dp_optimizer)": tf1, "still shipped": _has(TF1_MODULE, tf1),
         "TF Privacy 0.9 Keras class": keras, "in dp_optimizer_keras": _has(KERAS_MODULE, keras),
         "the course's fast path": fast}
        for tf1, keras, fast in OPTIMIZER_MAP
    ]


def talk_recipe_step(
    keras_class: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2_norm_clip: float = 1.0,
    noise_multiplier: float = 1.1,
    learning_rate: float = 0.15,
    seed: int = 0,
) -> tuple[float, float]:
    """The talk's code, updated: the tutorial CNN compiled with a TF Privacy Keras DP optimizer, one example per
    microbatch, trained one step on ``(x, y)``; returns the batch's mean loss before and after that step."""
    names = [keras for _, keras, _ in OPTIMIZER_MAP]
    if keras_class not in names:
        raise config.ConfigError(f"keras_class must be one of {', '.join(names)}, got {keras_class!r}")
    x = np.asarray(x, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    config.seed_everything(seed)
    model = recipes.dpkeras_sgd(len(x), l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier,
                                learning_rate=learning_rate, optimizer_class=keras_class)
    y = np.asarray(y)
    before = float(np.mean(model.train_on_batch(x, y)))  # Keras reports the loss computed before the update
    return before, float(np.mean(model.evaluate(x, y, verbose=0)))
