"""How DP-SGD draws its batches, because the epsilon printed holds only for the sampling the run used.

The accountant's tight bound (``accounting.epsilon``, sampling "poisson") is proven for Poisson sampling: at every
step each example is in the batch independently with probability q = batch_size / n, so the batch size varies around
batch_size. Fixed-size shuffled batches, Keras' default, are not covered by that proof; for them only the bound
without amplification by sampling holds (each example in one step per pass: ``accounting.epsilon(...,
sampling="shuffle")``, TF Privacy's "each example once per epoch" line), which is much larger. Opacus and JAX-privacy
sample with Poisson by default for this reason; so does the course.

Batches of varying size need no padding in TensorFlow (only an empty draw is padded, see ``poisson_dataset``): the dataset declares a ``None`` batch dimension, so Keras
traces its train step once and every step reuses that graph (``tests/test_dp_sampling.py`` counts the traces).
Padding to a static maximum with a mask would cost about 1.5x the compute at batch 256 for a 7-sigma margin, and
truncating the rare larger batch would change the mechanism. The DP step divides its noisy sum by the expected batch
size q*n, never by the drawn size, which depends on the data (``training.clipped_noisy_gradients``).

Written here because Keras has no Poisson batching and TF Privacy leaves sampling to the caller.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Literal

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.config import ConfigError

Sampling = Literal["poisson", "shuffle"]
SAMPLINGS: tuple[str, ...] = ("poisson", "shuffle")


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")


def steps_per_epoch(dataset_size: int, batch_size: int) -> int:
    """Steps in one pass: n / batch rounded up (Keras' count for shuffled batches, and the Poisson run's)."""
    return int(math.ceil(dataset_size / batch_size))


class PoissonBatches:
    """Index batches where each example is included independently with probability q at every step.

    One seeded numpy generator draws every step, so the same seed gives the same batches. The stream is one Python
    generator shared by every iterator made from it, so a re-created dataset iterator continues the stream instead of
    replaying the first epoch's batches.
    """

    def __init__(self, dataset_size: int, expected_batch_size: int, seed: int):
        config.require_positive("dataset_size", dataset_size, integer=True)
        config.require_positive("batch_size", expected_batch_size, integer=True)
        config.validate_seed(seed)
        if expected_batch_size > dataset_size:
            raise ConfigError(f"batch_size {expected_batch_size} is larger than the {dataset_size} training examples")
        self.dataset_size = dataset_size
        self.expected_batch_size = expected_batch_size
        self.q = expected_batch_size / dataset_size
        self._rng = np.random.default_rng(seed)
        self._stream = self._draw_forever()

    def _draw_forever(self) -> Iterator[np.ndarray]:
        while True:
            yield np.flatnonzero(self._rng.random(self.dataset_size) < self.q)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._stream

    def take(self, steps: int) -> list[np.ndarray]:
        return [next(self._stream) for _ in range(steps)]


def poisson_dataset(x: np.ndarray, y: np.ndarray, batches: PoissonBatches, steps: int) -> tf.data.Dataset:
    """The next ``steps`` Poisson batches ``(x, y, mask)`` of ``batches``, with a ``None`` batch dimension (one trace).

    ``mask`` is 1 for every drawn row. An empty draw (possible at small q) becomes one padding row of mask 0, which
    the DP step weighs by zero: it still adds noise and takes its step, as the accountant assumes, and no kernel
    meets a batch of size zero (oneDNN's convolution gradient fails on one).

    The index batches are drawn up front (a few bytes per drawn example) and the rows gathered inside TensorFlow.
    A Python generator (``from_generator``) slowed every training step on TensorFlow 2.21, plain and DP alike: the
    tutorial CNN's plain-SGD step took 0.070-0.078 s against 0.042 s fed this way (2-core AVX2 machine).
    """
    config.require_positive("steps", steps, integer=True)
    if len(x) != batches.dataset_size or len(y) != batches.dataset_size:
        raise ConfigError(f"x and y must hold the sampler's {batches.dataset_size} examples, got {len(x)} and {len(y)}")
    drawn = batches.take(steps)
    rows = [indices if len(indices) else np.zeros(1, np.int64) for indices in drawn]  # empty: row 0, masked out
    lengths = [len(r) for r in rows]
    indices = tf.RaggedTensor.from_row_lengths(np.concatenate(rows).astype(np.int64), lengths)
    masks = tf.RaggedTensor.from_row_lengths(
        np.concatenate([np.full(len(r), 1.0 if len(d) else 0.0, np.float32) for r, d in zip(rows, drawn)]), lengths)
    x_all, y_all = tf.constant(x), tf.constant(y)
    dataset = tf.data.Dataset.from_tensor_slices((indices, masks))
    return dataset.map(lambda i, m: (tf.gather(x_all, i), tf.gather(y_all, i), m)).prefetch(2)


def fit(
    model: tf.keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    sampling: Sampling,
    batch_size: int,
    epochs: int,
    seed: int,
    callbacks: list[Any] | None = None,
) -> tuple[tf.keras.callbacks.History, int]:
    """Train a compiled model for ``epochs`` passes with the chosen sampling; return its history and the steps run.

    The step count is read from the optimizer, so the epsilon computed from it is the run's own.
    """
    check_sampling(sampling)
    before = int(model.optimizer.iterations.numpy())
    if sampling == "shuffle":
        history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                            callbacks=callbacks or [])
    else:
        per_epoch = steps_per_epoch(len(x), batch_size)
        # every epoch's batches in one dataset: Keras keeps one iterator across epochs (its cardinality is not one
        # epoch's steps), so no epoch replays another's batches
        dataset = poisson_dataset(x, y, PoissonBatches(len(x), batch_size, seed), steps=epochs * per_epoch)
        history = model.fit(dataset, epochs=epochs, steps_per_epoch=per_epoch, verbose=0, callbacks=callbacks or [])
    return history, int(model.optimizer.iterations.numpy()) - before
