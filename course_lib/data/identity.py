"""A portable identity for training data: which data a checkpoint was trained on, the same on every CPU.

A checkpoint is reused only on the data it was trained on. Hashing the rendered float32 pixels does not say that
portably: numpy picks SIMD code paths (AVX-512, AVX2, FMA3, SSE, NEON) and transcendental implementations at run
time, so the renderer's pixels differ in their last bits from one CPU to the next. Measured on one machine between
numpy's default dispatch and AVX/AVX2/FMA3 disabled: 0.6 % of the smoke portraits' pixels differ, by at most 1.6e-6
over the class portraits (tests/test_data_identity.py measures it on every run).

So the identity has two parts:

* ``data``, exact: a sha256 of what generates the data (``source``, e.g. the renderer's version and seed), of every
  array's dtype and shape, and of the bytes of every integer or boolean array (labels, traits, masks), which no CPU
  path changes;
* ``data_summary``, within ``TOLERANCE``: statistics of the float arrays, each an average of pixels with weights whose
  absolute values sum to at most one (channel means, the mean image and the per-image means projected on fixed
  +-1 patterns), and the per-channel standard deviations. Such a statistic moves by at most the largest pixel
  difference (the standard deviation by at most twice it), so renders that agree within ``TOLERANCE / 2`` per pixel
  always give summaries within ``TOLERANCE``: a rejection from last-bit noise cannot happen, while a changed
  renderer, another seed or other counts move them by far more.

A change to the renderer that should invalidate shipped weights bumps ``datamons.RENDERER_VERSION``: it enters
``data`` exactly. Written by hand: no library fingerprints numeric data up to a tolerance.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

TOLERANCE = 1e-4  # on each summary statistic; renders across CPU paths differed by <= 1.6e-6 per pixel (measured)
PROJECTIONS = 8  # +-1 patterns over pixels, and as many over images
_PATTERN_SEED = 0x1D


def _is_exact(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuS?"


def exact_hash(arrays: Sequence[np.ndarray], source: str) -> str:
    """16 hex digits of sha256 over ``source``, dtypes, shapes and the bytes of the non-float arrays."""
    digest = hashlib.sha256(source.encode())
    for array in arrays:
        array = np.asarray(array)
        digest.update(f"|{array.dtype.str}{array.shape}".encode())
        if _is_exact(array):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def summary(array: np.ndarray) -> list[float]:
    """Statistics of a float array (n, ...): per-channel mean and std, mean image and per-item means on +-1 patterns.

    Computed in float64, so the summation order numpy picks adds nothing measurable.
    """
    x = np.asarray(array, np.float64)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"summary needs an array of shape (n, ...) with n >= 1, got {x.shape}")
    channels = x.reshape(-1, x.shape[-1]) if x.ndim >= 3 else x.reshape(-1, 1)
    mean_image = x.mean(axis=0).ravel()
    item_means = x.reshape(len(x), -1).mean(axis=1)
    rng = np.random.default_rng(_PATTERN_SEED)
    over_pixels = rng.choice([-1.0, 1.0], size=(PROJECTIONS, mean_image.size))
    over_items = np.random.default_rng([_PATTERN_SEED, len(x)]).choice([-1.0, 1.0], size=(PROJECTIONS, len(x)))
    return [float(v) for v in np.concatenate([
        channels.mean(axis=0), channels.std(axis=0),
        over_pixels @ mean_image / mean_image.size,
        over_items @ item_means / len(x),
    ])]


def data_identity(*arrays: np.ndarray, source: str) -> dict[str, Any]:
    """``{"data": exact hash, "data_summary": [...]}`` for a checkpoint's spec (see the module docstring)."""
    floats = [np.asarray(a) for a in arrays if not _is_exact(np.asarray(a))]
    return {
        "data": exact_hash(arrays, source),
        "data_summary": [round(v, 9) for a in floats for v in summary(a)],
    }


def summary_difference(stored: Sequence[float], actual: Sequence[float]) -> float:
    """Largest absolute difference between two summaries (inf when their lengths differ)."""
    if len(stored) != len(actual):
        return float("inf")
    if not len(stored):
        return 0.0
    return float(np.max(np.abs(np.asarray(stored, np.float64) - np.asarray(actual, np.float64))))
