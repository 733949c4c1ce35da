"""The GAN builders give the right shapes, the WGAN-GP trainer is reproducible and resumes, inpainting keeps context."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib import config
from course_lib.models import gan


@pytest.mark.parametrize("shape", [(32, 32, 1), (64, 64, 3)])
def test_generator_and_critic_shapes(shape):
    g = gan.build_generator(shape, width=4)
    d = gan.build_critic(shape, width=4)
    images = g(np.zeros((2, gan.Z_DIM), np.float32), training=False).numpy()
    assert images.shape == (2, *shape)
    assert images.min() >= 0 and images.max() <= 1
    assert d(images).shape == (2, 1)


def test_bad_sizes_are_refused():
    with pytest.raises(config.ConfigError, match="power of two"):
        gan.build_generator((28, 28, 1))
    with pytest.raises(config.ConfigError, match="width"):
        gan.build_critic((32, 32, 1), width=0)


def test_inpainting_generator_copies_the_known_pixels():
    g = gan.build_inpainting_generator((16, 16, 3), width=4)
    rng = np.random.default_rng(0)
    corrupted = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    hole = np.zeros((2, 16, 16, 1), np.float32)
    hole[:, 4:12, 4:12] = 1
    out = g([corrupted, hole, rng.standard_normal((2, gan.Z_DIM)).astype(np.float32)], training=False).numpy()
    known = np.broadcast_to(hole == 0, out.shape)
    np.testing.assert_allclose(out[known], corrupted[known], atol=1e-6)
    # z changes the hole
    out2 = g([corrupted, hole, rng.standard_normal((2, gan.Z_DIM)).astype(np.float32)], training=False).numpy()
    assert np.abs(out2 - out)[~known].max() > 1e-4


def _train(tmp=None, epochs=1, ema_decay=0.0, with_models=False, lr_decay_epochs=0):
    tf.keras.utils.set_random_seed(0)  # same initial weights
    g = gan.build_generator((8, 8, 1), width=4)
    d = gan.build_critic((8, 8, 1), width=4)
    images = np.random.default_rng(1).uniform(size=(40, 8, 8, 1)).astype(np.float32)
    history = gan.train_wgan_gp(g, d, images, epochs=epochs, steps_per_epoch=2, seed=3, batch_size=8, n_critic=2,
                                checkpoint_dir=tmp, n_samples=4, progress=False, ema_decay=ema_decay,
                                lr_decay_epochs=lr_decay_epochs)
    return (history, g) if with_models else history


def test_training_is_reproducible_and_resumes(tmp_path):
    a = _train(tmp_path / "run", epochs=1)
    assert a.epochs_done == 1 and len(a.samples) == 1 and a.samples[0].ndim == 3
    assert (tmp_path / "run" / "samples" / "epoch_001.png").exists()
    b = _train(None, epochs=1)
    np.testing.assert_allclose(a.critic_loss, b.critic_loss, rtol=1e-4)
    resumed = _train(tmp_path / "run", epochs=2)  # picks up after epoch 1, trains only epoch 2
    assert resumed.epochs_done == 2 and len(resumed.critic_loss) == 1


def test_the_weight_average_is_what_the_generator_holds_after_training_and_survives_a_resume(tmp_path):
    plain_history, plain = _train(None, epochs=2, with_models=True)
    averaged_history, averaged = _train(None, epochs=2, ema_decay=0.5, with_models=True)
    # the same training (the average never feeds back into it), a different generator at the end
    np.testing.assert_allclose(plain_history.critic_loss, averaged_history.critic_loss, rtol=1e-4)
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain.get_weights(), averaged.get_weights())) > 1e-6
    _train(tmp_path / "run", epochs=1, ema_decay=0.5)
    _, resumed = _train(tmp_path / "run", epochs=2, ema_decay=0.5, with_models=True)
    for a, b in zip(resumed.get_weights(), averaged.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(config.ConfigError, match="ema_decay"):
        _train(None, ema_decay=1.0)


def test_learning_rate_falls_linearly_over_the_last_epochs():
    rates = [gan.decayed_learning_rate(2e-4, e, 10, 4) for e in range(10)]
    assert rates[:6] == [2e-4] * 6
    np.testing.assert_allclose(rates[6:], [1.75e-4, 1.25e-4, 0.75e-4, 0.25e-4])
    assert [gan.decayed_learning_rate(1.0, e, 3, 0) for e in range(3)] == [1.0] * 3


def test_the_decay_changes_only_the_last_epochs_and_resumes_into_them(tmp_path):
    full, _ = _train(None, epochs=2, with_models=True)
    decayed, g = _train(None, epochs=2, lr_decay_epochs=1, with_models=True)
    np.testing.assert_allclose(full.critic_loss[0], decayed.critic_loss[0], rtol=1e-4)  # epoch 1 at the full rate
    assert abs(full.critic_loss[1] - decayed.critic_loss[1]) > 1e-7  # epoch 2 at half of it
    _train(tmp_path / "run", epochs=1)  # a run that ends, then is resumed with more epochs and the decay
    _, resumed = _train(tmp_path / "run", epochs=2, lr_decay_epochs=1, with_models=True)
    for a, b in zip(resumed.get_weights(), g.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(config.ConfigError, match="lr_decay_epochs"):
        _train(None, epochs=2, lr_decay_epochs=3)


def test_bad_training_input_is_refused():
    g = gan.build_generator((16, 16, 1), width=4)
    d = gan.build_critic((16, 16, 1), width=4)
    with pytest.raises(config.ConfigError, match="batch_size"):
        gan.train_wgan_gp(g, d, np.zeros((4, 16, 16, 1)), epochs=1, steps_per_epoch=1, seed=0, batch_size=8)
    with pytest.raises(config.ConfigError, match="n_critic"):
        gan.train_wgan_gp(g, d, np.zeros((40, 16, 16, 1)), epochs=1, steps_per_epoch=1, seed=0, n_critic=0)


def test_image_grid_tiles_images():
    grid = gan.image_grid(np.zeros((5, 4, 4, 3)), columns=3)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)


def test_frechet_distance_is_zero_for_the_same_images_and_grows_with_the_gap():
    rng = np.random.default_rng(0)
    features = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(8, 8, 1)), tf.keras.layers.Flatten(),
                                    tf.keras.layers.Dense(6, kernel_initializer=tf.keras.initializers.Constant(0.1))])
    real = rng.uniform(size=(300, 8, 8, 1)).astype(np.float32)
    other = rng.uniform(size=(300, 8, 8, 1)).astype(np.float32)
    same = gan.frechet_distance(features, real, real)
    near = gan.frechet_distance(features, real, other)
    far = gan.frechet_distance(features, real, other + 0.5)
    assert abs(same) < 1e-3 and 0 <= near < far
    with pytest.raises(ValueError, match="at least two"):
        gan.frechet_distance(features, real[:1], other)


def test_a_widened_generator_draws_what_the_unconditional_one_drew_until_trained():
    plain = gan.build_generator((16, 16, 3), width=4)
    conditional = gan.build_generator((16, 16, 3), width=4, n_conditions=5)
    assert gan.n_conditions(conditional) == 5 and gan.n_conditions(plain) == 0
    assert gan.n_conditions(gan.build_inpainting_generator((16, 16, 3), width=4)) == 0
    gan.widen_to_conditional(conditional, plain)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, gan.Z_DIM)).astype(np.float32)
    told = gan.one_hot_groups(np.array([[0, 1], [2, 0], [1, 1]]), (3, 2))
    np.testing.assert_allclose(conditional([told, z], training=False), plain(z, training=False), atol=1e-6)
    with pytest.raises(ValueError, match="not the same network"):
        gan.widen_to_conditional(gan.build_generator((16, 16, 3), width=8, n_conditions=5), plain)


def test_one_hot_groups_and_their_argmax_are_inverse_and_bad_codes_are_refused():
    codes = np.array([[0, 1], [2, 0]])
    hot = gan.one_hot_groups(codes, (3, 2))
    np.testing.assert_array_equal(hot, [[1, 0, 0, 0, 1], [0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(gan.group_argmax(hot, (3, 2)), codes)
    soft = gan.group_softmax(tf.constant([[0.0, 2.0, 0.0, 5.0, 5.0]]), (3, 2)).numpy()
    np.testing.assert_allclose(soft[0, :3].sum(), 1, rtol=1e-6)
    np.testing.assert_allclose(soft[0, 3:], [0.5, 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        gan.one_hot_groups(np.array([[3, 0]]), (3, 2))
    with pytest.raises(ValueError, match="codes must be"):
        gan.one_hot_groups(np.array([0, 1]), (3, 2))


def test_a_conditional_generator_learns_what_its_projection_critic_sees_and_generate_needs_conditions():
    rng = np.random.default_rng(0)
    told = gan.one_hot_groups(rng.integers(0, 2, (64, 1)), (2,))
    left = np.zeros((16, 16, 3), np.float32)
    left[:, :8] = 1
    images = (np.where(told[:, 1:, None, None] > 0, left, 1 - left) * 0.8 + 0.1).astype(np.float32)  # 1 = left lit
    tf.keras.utils.set_random_seed(0)  # the initial weights
    generator = gan.build_generator((16, 16, 3), width=4, n_conditions=2)
    critic = gan.build_critic((16, 16, 3), width=4, n_conditions=2)

    def lit_left(condition):
        drawn = gan.generate(generator, 8, seed=1, conditions=np.tile(condition, (8, 1)))
        return drawn[:, :, :8].mean() - drawn[:, :, 8:].mean()

    assert abs(lit_left([0, 1]) - lit_left([1, 0])) < 0.05
    gan.train_wgan_gp(generator, critic, images, epochs=6, steps_per_epoch=10, seed=0, batch_size=16,
                      learning_rate=5e-3, n_critic=2, conditions=told, progress=False)
    assert lit_left([0, 1]) > 0.2 and lit_left([1, 0]) < -0.1
    with pytest.raises(ValueError, match="conditions exactly"):
        gan.generate(generator, 2, seed=0)
    with pytest.raises(ValueError, match="projection critic and conditions"):
        gan.train_wgan_gp(generator, gan.build_critic((16, 16, 3), width=4), images, epochs=1, steps_per_epoch=1,
                          seed=0, conditions=told)


def test_a_widened_projection_critic_scores_as_before_and_needs_conditions():
    plain = gan.build_critic((16, 16, 3), width=4)
    projection = gan.build_critic((16, 16, 3), width=4, n_conditions=5)
    gan.widen_to_conditional(projection, plain)
    images = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    told = gan.one_hot_groups(np.array([[0, 1], [2, 0], [1, 1]]), (3, 2))
    np.testing.assert_allclose(projection([images, told]), plain(images), atol=1e-6)
    # the projection is what a conditional critic learns: once it is set, the same image scores by its conditions
    layer = projection.get_layer("projection")
    layer.set_weights([np.random.default_rng(1).standard_normal(layer.get_weights()[0].shape).astype(np.float32)])
    scores = projection([np.repeat(images[:1], 3, axis=0), told]).numpy().ravel()
    assert np.ptp(scores) > 1e-3
    generator = gan.build_generator((16, 16, 3), width=4)
    with pytest.raises(ValueError, match="projection critic and conditions"):
        gan.train_wgan_gp(generator, projection, images, epochs=1, steps_per_epoch=1, seed=0, batch_size=2)
