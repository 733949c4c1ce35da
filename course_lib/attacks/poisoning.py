"""Poisoning: a backdoor planted through the training data (Gu et al. 2017, "BadNets").

The attacker stamps a small trigger on a few percent of the training portraits and relabels them as a target
class. The trained model behaves normally on clean inputs (so nobody notices) and answers the target class for any
input that carries the trigger. Stamping and relabelling are a few lines of numpy, so they are written here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.models import classifiers


def checker_trigger(size: int, channels: int = 3) -> np.ndarray:
    """A ``size`` x ``size`` black-and-white checkerboard (p, p, channels): rare in natural portraits, easy to see."""
    config.require_positive("trigger size", size, integer=True)
    config.require_positive("channels", channels, integer=True)
    board = (np.indices((size, size)).sum(axis=0) % 2).astype(np.float32)
    return np.repeat(board[..., None], channels, axis=2)


def stamp(images: np.ndarray, trigger: np.ndarray, *, margin: int = 1) -> np.ndarray:
    """Copy of ``images`` with ``trigger`` pasted in the bottom-right corner, ``margin`` pixels from the edges."""
    images = classifiers.as_images(images).copy()
    trigger = np.asarray(trigger, dtype=np.float32)
    if trigger.ndim == 2:
        trigger = trigger[..., None]
    h, w = trigger.shape[:2]
    size_h, size_w, channels = images.shape[1:]
    if trigger.shape[2] != channels:
        raise ValueError(f"trigger has {trigger.shape[2]} channels but the images have {channels}")
    if h + margin > size_h or w + margin > size_w or margin < 0:
        raise ValueError(f"a {h}x{w} trigger with margin {margin} does not fit in {size_h}x{size_w} images")
    images[:, size_h - margin - h : size_h - margin, size_w - margin - w : size_w - margin, :] = trigger
    return images


@dataclass
class PoisonedSet:
    """The training set after poisoning and which indices the attacker changed."""

    images: np.ndarray
    labels: np.ndarray
    poisoned: np.ndarray  # indices of the stamped, relabelled examples


def poison(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    fraction: float,
    target_class: int,
    trigger: np.ndarray,
    seed: int = 0,
) -> PoisonedSet:
    """Stamp ``trigger`` on exactly round(fraction * n) examples not already of ``target_class`` and relabel them
    ``target_class``; everything else is left untouched."""
    images = classifiers.as_images(images)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"images has {len(images)} examples but labels has {len(labels)}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be strictly between 0 and 1, got {fraction!r}")
    candidates = np.flatnonzero(labels != target_class)
    count = int(round(fraction * len(labels)))
    if count == 0:
        raise ValueError(f"fraction {fraction} of {len(labels)} examples poisons none: raise the fraction")
    if count > len(candidates):
        raise ValueError(f"cannot poison {count} examples: only {len(candidates)} are not of the target class")
    chosen = np.sort(np.random.default_rng(seed).choice(candidates, size=count, replace=False))
    new_images, new_labels = images.copy(), labels.copy()
    new_images[chosen] = stamp(images[chosen], trigger)
    new_labels[chosen] = target_class
    return PoisonedSet(new_images, new_labels, chosen)


def attack_success_rate(
    model: tf.keras.Model, images: np.ndarray, labels: np.ndarray, trigger: np.ndarray, target_class: int
) -> float:
    """Share of inputs NOT of ``target_class`` that the model calls ``target_class`` once the trigger is stamped."""
    labels = np.asarray(labels)
    keep = labels != target_class
    if not keep.any():
        raise ValueError("every input is already of the target class: nothing to measure")
    logits = model.predict(stamp(images[keep], trigger), batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == target_class))


@dataclass
class BackdoorResult:
    """Clean accuracy of the poisoned model and of a clean baseline, and how often the trigger works on each."""

    clean_acc: float
    clean_acc_baseline: float
    attack_success: float
    attack_success_baseline: float  # the trigger alone, on a model that never saw poison: the floor
    model: tf.keras.Model
    poisoned: PoisonedSet
    access: dict[str, Any] = field(default_factory=dict)


def backdoor_experiment(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    baseline: tf.keras.Model,
    *,
    fraction: float,
    target_class: int,
    trigger_size: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    width: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> BackdoorResult:
    """Train a copy of the Datamons CNN on poisoned data and compare it with ``baseline``, the same recipe trained on
    the clean data (the notebook's main Datamons model, so it is trained once)."""
    (x_train, y_train), (x_test, y_test) = train, test
    x_train = classifiers.as_images(x_train)
    n_classes = int(baseline.output_shape[-1])
    if not 0 <= target_class < n_classes:
        raise ValueError(f"target_class must be in [0, {n_classes}), got {target_class!r}")
    trigger = checker_trigger(trigger_size, x_train.shape[3])
    poisoned = poison(x_train, y_train, fraction=fraction, target_class=target_class, trigger=trigger, seed=seed)
    model = classifiers.datamons_cnn(x_train.shape[1:], n_classes, width=width)
    classifiers.train_classifier(
        model,
        poisoned.images,
        poisoned.labels,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        progress=progress,
    )
    access = {
        "architecture": False,
        "weights": False,
        "gradients": False,
        "queries": int(np.sum(np.asarray(y_test) != target_class)),
        "data": f"write access to {len(poisoned.poisoned)} training examples ({fraction:.0%})",
        "box": "training data",
    }
    return BackdoorResult(
        clean_acc=classifiers.accuracy(model, x_test, y_test),
        clean_acc_baseline=classifiers.accuracy(baseline, x_test, y_test),
        attack_success=attack_success_rate(model, x_test, y_test, trigger, target_class),
        attack_success_baseline=attack_success_rate(baseline, x_test, y_test, trigger, target_class),
        model=model,
        poisoned=poisoned,
        access=access,
    )
