"""Model inversion in pixel space: the simplest way to ask a classifier "what does class k look like?".

Start from grey (or noise), then climb the gradient of the target class's logit with respect to the pixels of a
frozen model, with a small penalty that keeps the image smooth and dim, clipping to [0, 1] after each step
(Fredrikson et al. 2015 did this on faces). Without a prior on what real images look like, the result is a pattern
the model loves rather than a portrait: notebook 03 adds that prior with a GAN. The loop is a few lines of
``tf.GradientTape`` because no library offers it for Keras models. Notebook 03's baseline,
``attacks.inversion.pixel_attack``, is a different recipe on purpose: Fredrikson et al.'s exact cost (1 - p) without
the smoothness penalty used here, so GMI is compared with the attack the paper compares it with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.progress import bar


def total_variation(x: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference between neighbouring pixels, per image: small for smooth images."""
    dh = tf.reduce_mean(tf.abs(x[:, 1:, :, :] - x[:, :-1, :, :]), axis=[1, 2, 3])
    dw = tf.reduce_mean(tf.abs(x[:, :, 1:, :] - x[:, :, :-1, :]), axis=[1, 2, 3])
    return dh + dw


@dataclass
class InversionResult:
    """Reconstructions (n, h, w, c) in [0, 1], the class each targets, the model's confidence in it, and access."""

    images: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray  # softmax probability of the target class on each reconstruction
    access: dict[str, Any] = field(default_factory=dict)


def invert(
    model: tf.keras.Model,
    targets: Sequence[int],
    *,
    steps: int,
    learning_rate: float = 0.05,
    l2_weight: float = 0.01,
    tv_weight: float = 0.1,
    init: np.ndarray | None = None,
    hidden_mask: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = True,
) -> InversionResult:
    """Optimise one input per entry of ``targets`` to maximise that class's logit of the frozen ``model``.

    ``init`` (n, h, w, c) starts from given images instead of grey plus a little noise; with ``hidden_mask``
    ((h, w) bool, True = unknown) only the hidden pixels change, the attacker's auxiliary knowledge stays fixed.
    """
    config.require_positive("steps", steps, integer=True)
    config.require_positive("learning_rate", learning_rate)
    config.require_non_negative("l2_weight", l2_weight)
    config.require_non_negative("tv_weight", tv_weight)
    targets = np.asarray(targets, dtype=np.int64)
    n_classes = int(model.output_shape[-1])
    if targets.ndim != 1 or len(targets) == 0 or targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError(f"targets must be a non-empty list of classes in [0, {n_classes}), got {targets.tolist()}")
    shape = (len(targets), *model.input_shape[1:])
    rng = np.random.default_rng(seed)
    if init is None:
        start = 0.5 + 0.05 * rng.standard_normal(shape)
    else:
        start = np.asarray(init, dtype=np.float32).reshape(shape)
    free = np.ones(shape, np.float32)
    if hidden_mask is not None:
        hidden_mask = np.asarray(hidden_mask, dtype=bool)
        if hidden_mask.shape != shape[1:3]:
            raise ValueError(f"hidden_mask must have shape {shape[1:3]}, got {hidden_mask.shape}")
        free = np.broadcast_to(hidden_mask[None, :, :, None], shape).astype(np.float32)
    x = tf.Variable(np.clip(start, 0, 1).astype(np.float32))
    fixed = tf.constant(x.numpy())
    free = tf.constant(free)
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    one_hot = tf.one_hot(targets, n_classes)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model(x, training=False)
            target_logit = tf.reduce_sum(logits * one_hot, axis=1)
            penalty = l2_weight * tf.reduce_mean(tf.square(x), axis=[1, 2, 3]) + tv_weight * total_variation(x)
            loss = tf.reduce_sum(-target_logit + penalty)
        optimizer.apply_gradients([(tape.gradient(loss, x) * free, x)])
        x.assign(tf.clip_by_value(x * free + fixed * (1.0 - free), 0.0, 1.0))

    iterator = bar(range(steps), desc="inversion") if progress else range(steps)
    for _ in iterator:
        step()
    images = x.numpy()
    probs = tf.nn.softmax(model(images, training=False)).numpy()
    access = {
        "architecture": True,
        "weights": True,
        "gradients": True,
        "queries": steps * len(targets),
        "data": "none: only the class to reconstruct",
    }
    return InversionResult(images, targets, probs[np.arange(len(targets)), targets], access)
