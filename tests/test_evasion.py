"""FGSM, PGD and the universal patch on tiny models: the attacks must hurt, stay in bounds and refuse bad input."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import evasion
from course_lib.data.mnist import load_mnist
from course_lib.models import classifiers


@pytest.fixture(scope="module")
def digits_model():
    """A softmax regression on 1,000 digits: trains in about a second, accurate enough to attack."""
    (x, y), (x_test, y_test) = load_mnist()
    model = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(28, 28, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)]
    )
    classifiers.train_classifier(
        model, x[:1000], y[:1000], epochs=5, batch_size=64, learning_rate=1e-2, seed=0, progress=False
    )
    return model, classifiers.as_images(x_test[:200]), y_test[:200]


def _loss(model, x, y):
    logits = model(x, training=False)
    return float(tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)))


def test_fgsm_raises_loss_and_lowers_accuracy(digits_model):
    model, x, y = digits_model
    adv = evasion.fgsm(model, x, y, 0.1)
    assert _loss(model, adv, y) > _loss(model, x, y) + 0.5
    assert classifiers.accuracy(model, adv, y) < classifiers.accuracy(model, x, y) - 0.3


def test_pgd_stays_in_the_ball_and_in_pixel_range(digits_model):
    model, x, y = digits_model
    adv = evasion.pgd(model, x, y, 0.1, steps=5, seed=1)
    assert adv.shape == x.shape
    assert np.all(np.abs(adv - x) <= 0.1 + 1e-6)
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert classifiers.accuracy(model, adv, y) < classifiers.accuracy(model, x, y) - 0.3


def test_pgd_at_eps_zero_is_the_clean_input(digits_model):
    model, x, y = digits_model
    np.testing.assert_array_equal(evasion.pgd(model, x, y, 0.0, steps=3), x)


def test_pgd_same_seed_same_images(digits_model):
    model, x, y = digits_model
    a = evasion.pgd(model, x[:20], y[:20], 0.1, steps=2, seed=3)
    b = evasion.pgd(model, x[:20], y[:20], 0.1, steps=2, seed=3)
    np.testing.assert_array_equal(a, b)


def test_robustness_curve_falls_with_eps_and_reports_access(digits_model):
    model, x, y = digits_model
    curve = evasion.robustness_curve(model, x, y, [0.0, 0.1, 0.2], attack="fgsm", progress=False)
    accs = [p["acc"] for p in curve.points]
    assert [p["eps"] for p in curve.points] == [0.0, 0.1, 0.2]
    assert accs[0] > accs[1] > accs[2]
    assert curve.acc_at(0.1) == accs[1]
    assert curve.access["gradients"] is True and curve.access["queries"] == 3 * len(x)


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan")])
def test_bad_eps_is_refused(digits_model, eps):
    model, x, y = digits_model
    with pytest.raises(ValueError, match="eps"):
        evasion.fgsm(model, x, y, eps)


def test_bad_attack_name_and_mismatched_labels_are_refused(digits_model):
    model, x, y = digits_model
    with pytest.raises(ValueError, match="attack"):
        evasion.robustness_curve(model, x, y, [0.1], attack="cw", progress=False)
    with pytest.raises(ValueError, match="labels"):
        evasion.pgd(model, x, y[:-1], 0.1)


def test_apply_patch_pastes_exactly_where_asked():
    images = np.zeros((2, 10, 10, 3), np.float32)
    patch = np.full((3, 3, 3), 0.7, np.float32)
    out = evasion.apply_patch(images, patch, np.array([[0, 0], [7, 4]]))
    assert np.allclose(out[0, :3, :3], 0.7) and np.allclose(out[1, 7:10, 4:7], 0.7)
    assert out[0].sum() == pytest.approx(0.7 * 27) and out[1].sum() == pytest.approx(0.7 * 27)


def test_apply_patch_refuses_a_patch_outside_the_image():
    with pytest.raises(ValueError, match="outside"):
        evasion.apply_patch(np.zeros((1, 10, 10, 3)), np.zeros((3, 3, 3)), np.array([[8, 0]]))
    with pytest.raises(ValueError, match="fit"):
        evasion.random_positions(2, 10, 11)


def test_train_patch_has_the_right_shape_stays_in_range_and_works():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(16, 16, 3)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.GlobalMaxPool2D(),
            tf.keras.layers.Dense(4),
        ]
    )
    images = np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 3)).astype(np.float32)
    labels = np.argmax(model.predict(images, verbose=0), axis=1)
    counts = np.bincount(labels, minlength=4)
    target = int(np.argmin(np.where(counts > 0, counts, len(labels))))  # the rarest answer the model still gives
    result = evasion.train_patch(model, images, target, patch_size=6, steps=60, batch_size=16, seed=0,
                                 learning_rate=0.1, progress=False)
    assert result.patch.shape == (6, 6, 3)
    assert result.patch.min() >= 0.0 and result.patch.max() <= 1.0
    grey = np.full((6, 6, 3), 0.5, np.float32)
    trained = evasion.patch_success_rate(model, images, labels, result.patch, target, seed=1)
    assert trained > evasion.patch_success_rate(model, images, labels, grey, target, seed=1)
    assert trained > 0.5
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])
    with pytest.raises(ValueError, match="target_class"):
        evasion.train_patch(model, images, 9, patch_size=6, steps=1, progress=False)
