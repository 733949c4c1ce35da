"""Pixel-space inversion: it must raise the target's score, stay in [0, 1] and keep known pixels fixed."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import pixel_inversion


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(12, 12, 1)),
            tf.keras.layers.Conv2D(4, 3, activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(5),
        ]
    )


def test_inversion_raises_the_target_probability_within_pixel_range(model):
    targets = [0, 3, 4]
    start = pixel_inversion.invert(model, targets, steps=1, learning_rate=1e-6, seed=0, progress=False)
    result = pixel_inversion.invert(model, targets, steps=60, learning_rate=0.05, seed=0, progress=False)
    assert result.images.shape == (3, 12, 12, 1)
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert np.all(result.confidence > start.confidence)
    assert np.mean(result.confidence) > 0.5 > np.mean(start.confidence)
    assert result.access["gradients"] is True


def test_hidden_mask_keeps_known_pixels(model):
    init = np.random.default_rng(1).uniform(0, 1, (2, 12, 12, 1)).astype(np.float32)
    hidden = np.zeros((12, 12), bool)
    hidden[3:9, 3:9] = True
    result = pixel_inversion.invert(model, [1, 2], steps=20, init=init, hidden_mask=hidden, progress=False)
    np.testing.assert_allclose(result.images[:, ~hidden], init[:, ~hidden], atol=1e-6)
    assert not np.allclose(result.images[:, hidden], init[:, hidden])


def test_same_seed_same_images(model):
    a = pixel_inversion.invert(model, [1], steps=5, seed=4, progress=False)
    b = pixel_inversion.invert(model, [1], steps=5, seed=4, progress=False)
    np.testing.assert_array_equal(a.images, b.images)


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match="targets"):
        pixel_inversion.invert(model, [7], steps=1, progress=False)
    with pytest.raises(ValueError, match="targets"):
        pixel_inversion.invert(model, [], steps=1, progress=False)
    with pytest.raises(ValueError, match="hidden_mask"):
        pixel_inversion.invert(model, [1], steps=1, hidden_mask=np.ones((5, 5), bool), progress=False)
    with pytest.raises(ValueError, match="steps"):
        pixel_inversion.invert(model, [1], steps=0, progress=False)
