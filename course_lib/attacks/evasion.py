"""Evasion: inputs changed just enough to make a frozen model answer wrongly.

Two white-box attacks on single inputs (FGSM, one gradient step; PGD, many projected steps, both in the L-infinity
ball of radius ``eps``) and one "toaster" patch (Brown et al. 2017): a small universal sticker optimised over many
portraits and random positions so that, pasted anywhere, it makes the classifier answer one chosen class.

Written by hand on ``tf.GradientTape``: each is a few lines, and the point of the course is to show those lines.
Every attack reports what it needed (``access``), which notebook 01 turns into its white-box / black-box table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.models.classifiers import as_images
from course_lib.progress import bar

_LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def _check_eps(eps: float) -> float:
    if not np.isfinite(eps) or eps < 0 or eps > 1:
        raise ValueError(f"eps must be between 0 and 1 (pixels live in [0, 1]), got {eps!r}")
    return float(eps)


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = as_images(x)
    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
    if len(x) == 0:
        raise ValueError("x is empty: pass at least one example to attack")
    return x, y


@tf.function(reduce_retracing=True)  # one graph per model: PGD calls this many times
def _input_gradient(model: tf.keras.Model, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = _LOSS(y, model(x, training=False))
    return tape.gradient(loss, x)


def fgsm(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, eps: float, *, batch_size: int = 256) -> np.ndarray:
    """Fast Gradient Sign Method (Goodfellow et al. 2015): one step of size ``eps`` up the loss, clipped to [0, 1].

    Returns the adversarial images with a channel axis, (n, h, w, c).
    """
    eps = _check_eps(eps)
    x, y = _check_pair(x, y)
    config.require_positive("batch_size", batch_size, integer=True)
    out = []
    for start in range(0, len(x), batch_size):
        xb = tf.constant(x[start : start + batch_size])
        grad = _input_gradient(model, xb, tf.constant(y[start : start + batch_size]))
        out.append(tf.clip_by_value(xb + eps * tf.sign(grad), 0.0, 1.0).numpy())
    return np.concatenate(out)


def pgd(
    model: tf.keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    *,
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Projected Gradient Descent (Madry et al. 2018): ``steps`` signed steps, each projected back into the
    ``eps`` ball around ``x`` and into [0, 1]. ``step_size`` defaults to 2.5 * eps / steps, the paper's rule.
    """
    eps = _check_eps(eps)
    x, y = _check_pair(x, y)
    config.require_positive("steps", steps, integer=True)
    config.require_positive("batch_size", batch_size, integer=True)
    step = 2.5 * eps / steps if step_size is None else float(step_size)
    if step < 0:
        raise ValueError(f"step_size must be zero or positive, got {step_size!r}")
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, len(x), batch_size):
        x0 = tf.constant(x[start : start + batch_size])
        yb = tf.constant(y[start : start + batch_size])
        noise = rng.uniform(-eps, eps, size=x0.shape).astype(np.float32) if random_start else 0.0
        adv = tf.clip_by_value(x0 + noise, 0.0, 1.0)
        for _ in range(steps):
            adv = adv + step * tf.sign(_input_gradient(model, adv, yb))
            adv = tf.clip_by_value(tf.clip_by_value(adv, x0 - eps, x0 + eps), 0.0, 1.0)
        out.append(adv.numpy())
    return np.concatenate(out)


def _accuracy(model: tf.keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


@dataclass
class RobustnessCurve:
    """Accuracy of a model under one attack at several perturbation sizes, plus what the attack needed."""

    attack: str
    points: list[dict[str, float]]  # [{"eps": ..., "acc": ...}] as RESULTS.md records them
    examples: dict[float, np.ndarray]  # eps -> a few adversarial images, for plots
    access: dict[str, Any] = field(default_factory=dict)

    def acc_at(self, eps: float) -> float:
        for point in self.points:
            if np.isclose(point["eps"], eps):
                return point["acc"]
        raise KeyError(f"eps {eps} was not measured; measured: {[p['eps'] for p in self.points]}")


def robustness_curve(
    model: tf.keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    eps_values: Sequence[float],
    *,
    attack: str = "fgsm",
    steps: int = 20,
    seed: int = 0,
    n_examples: int = 8,
    progress: bool = True,
) -> RobustnessCurve:
    """Accuracy against perturbation size for ``attack`` in {"fgsm", "pgd"} on the labelled set (x, y)."""
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    if len(eps_values) == 0:
        raise ValueError("eps_values is empty: give at least one perturbation size")
    x, y = _check_pair(x, y)
    points, examples = [], {}
    iterator = bar(eps_values, desc=attack.upper()) if progress else eps_values
    for eps in iterator:
        if attack == "fgsm":
            adv = fgsm(model, x, y, eps)
        else:
            adv = pgd(model, x, y, eps, steps=steps, seed=seed)
        points.append({"eps": float(eps), "acc": _accuracy(model, adv, y)})
        examples[float(eps)] = adv[:n_examples]
    gradient_steps = 1 if attack == "fgsm" else steps
    access = {
        "architecture": True,
        "weights": True,
        "gradients": True,
        "queries": gradient_steps * len(x) * len(eps_values),
        "data": "the inputs to perturb, with their true labels",
    }
    return RobustnessCurve(attack, points, examples, access)


# --- the "toaster": a universal adversarial patch ---------------------------------------------------------------


def random_positions(n: int, image_size: int, patch_size: int, seed: int = 0) -> np.ndarray:
    """Top-left corners (n, 2) where a ``patch_size`` square fits inside an ``image_size`` square."""
    if patch_size > image_size:
        raise ValueError(f"a {patch_size}-pixel patch does not fit in a {image_size}-pixel image")
    return np.random.default_rng(seed).integers(0, image_size - patch_size + 1, size=(n, 2))


def _place(patch: tf.Tensor, image_size: int, top: tf.Tensor, left: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The patch drawn on an empty canvas at (top, left), and the canvas's mask (1 where the patch is)."""
    p = tf.shape(patch)[0]
    paddings = [[top, image_size - p - top], [left, image_size - p - left], [0, 0]]
    return tf.pad(patch, paddings), tf.pad(tf.ones_like(patch), paddings)


def _paste(images: tf.Tensor, patch: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    size = images.shape[1]
    canvases, masks = tf.map_fn(
        lambda pos: _place(patch, size, pos[0], pos[1]),
        positions,
        fn_output_signature=(tf.float32, tf.float32),
    )
    return images * (1.0 - masks) + canvases


def apply_patch(images: np.ndarray, patch: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Paste ``patch`` (p, p, c) onto each image at its own top-left corner ``positions`` (n, 2)."""
    images = as_images(images)
    patch = np.asarray(patch, dtype=np.float32)
    positions = np.asarray(positions, dtype=np.int32)
    if patch.ndim != 3 or patch.shape[0] != patch.shape[1] or patch.shape[2] != images.shape[3]:
        raise ValueError(f"patch must be square (p, p, {images.shape[3]}), got shape {patch.shape}")
    if positions.shape != (len(images), 2):
        raise ValueError(f"positions must have shape ({len(images)}, 2), got {positions.shape}")
    if positions.min() < 0 or positions.max() > images.shape[1] - patch.shape[0]:
        raise ValueError("a position puts the patch outside the image")
    return _paste(tf.constant(images), tf.constant(patch), tf.constant(positions)).numpy()


@dataclass
class PatchResult:
    """A trained universal patch, the class it forces, the loss per step and what training it needed."""

    patch: np.ndarray  # (p, p, c) in [0, 1]
    target_class: int
    losses: list[float]
    access: dict[str, Any] = field(default_factory=dict)


def train_patch(
    model: tf.keras.Model,
    images: np.ndarray,
    target_class: int,
    *,
    patch_size: int,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> PatchResult:
    """Optimise one patch, pasted at a fresh random position on a fresh random batch of ``images`` at every step,
    so that the frozen ``model`` answers ``target_class``. Adam on the pixels, clipped to [0, 1] after each step.
    """
    images = as_images(images)
    n_classes = int(model.output_shape[-1])
    if not 0 <= int(target_class) < n_classes:
        raise ValueError(f"target_class must be in [0, {n_classes}), got {target_class!r}")
    config.require_positive("patch_size", patch_size, integer=True)
    config.require_positive("steps", steps, integer=True)
    config.require_positive("batch_size", batch_size, integer=True)
    config.require_positive("learning_rate", learning_rate)
    size, channels = images.shape[1], images.shape[3]
    if patch_size > size:
        raise ValueError(f"a {patch_size}-pixel patch does not fit in a {size}-pixel image")
    rng = np.random.default_rng(seed)
    patch = tf.Variable(rng.uniform(0, 1, size=(patch_size, patch_size, channels)).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    target = tf.constant(np.full(batch_size, target_class, dtype=np.int64))

    @tf.function
    def step(batch, positions):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(_LOSS(target, model(_paste(batch, patch, positions), training=False)))
        optimizer.apply_gradients([(tape.gradient(loss, patch), patch)])
        patch.assign(tf.clip_by_value(patch, 0.0, 1.0))
        return loss

    losses = []
    iterator = bar(range(steps), desc="patch") if progress else range(steps)
    for _ in iterator:
        batch = images[rng.integers(0, len(images), size=batch_size)]
        positions = rng.integers(0, size - patch_size + 1, size=(batch_size, 2)).astype(np.int32)
        losses.append(float(step(tf.constant(batch), tf.constant(positions))))
    access = {
        "architecture": True,
        "weights": True,
        "gradients": True,
        "queries": steps * batch_size,
        "data": "unlabelled portraits to paste on",
    }
    return PatchResult(patch.numpy(), int(target_class), losses, access)


def patch_success_rate(
    model: tf.keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    patch: np.ndarray,
    target_class: int,
    *,
    seed: int = 0,
) -> float:
    """Share of images NOT already of ``target_class`` that the model calls ``target_class`` once patched at a
    random position (targeted success, the "toaster" metric)."""
    images, labels = _check_pair(images, labels)
    keep = labels != target_class
    if not keep.any():
        raise ValueError("every image is already of the target class: nothing to measure")
    images = images[keep]
    positions = random_positions(len(images), images.shape[1], np.asarray(patch).shape[0], seed)
    patched = apply_patch(images, patch, positions)
    predictions = np.argmax(model.predict(patched, batch_size=512, verbose=0), axis=1)
    return float(np.mean(predictions == target_class))
