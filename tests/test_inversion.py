"""GMI lowers the identity loss it optimises and recovers a planted identity; the pixel baseline runs the same way."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import inversion

SIZE, N_IDS, Z_DIM = 6, 3, 3


def planted_world():
    """Three planted 'faces'; a generator that draws softmax blends of them; a target that knows them; a flat critic."""
    rng = np.random.default_rng(0)
    faces = (rng.uniform(size=(N_IDS, SIZE * SIZE)) > 0.5).astype(np.float32)
    z = tf.keras.Input((Z_DIM,))
    weights = tf.keras.layers.Dense(N_IDS, activation="softmax", use_bias=False)(z)
    flat = tf.keras.layers.Dense(SIZE * SIZE, use_bias=False)(weights)
    generator = tf.keras.Model(z, tf.keras.layers.Reshape((SIZE, SIZE, 1))(flat))
    generator.layers[1].set_weights([np.eye(Z_DIM, N_IDS, dtype=np.float32) * 3])
    generator.layers[2].set_weights([faces])
    centred = faces - faces.mean(axis=0)
    target = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(SIZE, SIZE, 1)),
                                  tf.keras.layers.Flatten(), tf.keras.layers.Dense(N_IDS, use_bias=False)])
    target.layers[-1].set_weights([centred.T.copy()])
    critic = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(SIZE, SIZE, 1)),
                                  tf.keras.layers.Flatten(), tf.keras.layers.Dense(1, kernel_initializer="zeros")])
    return faces, generator, critic, target


def test_gmi_lowers_its_loss_and_recovers_the_planted_identity():
    faces, generator, critic, target = planted_world()
    labels = np.arange(N_IDS)
    result = inversion.gmi_attack(generator, critic, target, labels, restarts=4, iterations=60, seed=0,
                                  lr=0.02, progress=False)
    assert result.images.shape == (N_IDS, 4, SIZE, SIZE, 1)
    assert result.identity_loss[-1] < 0.5 * result.identity_loss[0]
    best = result.best_images().reshape(N_IDS, -1)
    distances = ((best[:, None, :] - faces[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(np.argmin(distances, axis=1), labels)
    # the kept restart is the one the target is most confident about
    assert np.all(result.target_prob[labels, result.chosen()[:, 0]] == result.target_prob.max(axis=1))


def test_same_seed_same_reconstructions_and_seed_groups():
    _, generator, critic, target = planted_world()
    a = inversion.gmi_attack(generator, critic, target, [0, 2], restarts=4, iterations=5, seed=7, progress=False)
    b = inversion.gmi_attack(generator, critic, target, [0, 2], restarts=4, iterations=5, seed=7, progress=False)
    np.testing.assert_allclose(a.images, b.images, rtol=1e-5)
    chosen = a.chosen(seeds=2)
    assert chosen.shape == (2, 2) and np.all(chosen[:, 0] < 2) and np.all(chosen[:, 1] >= 2)
    with pytest.raises(ValueError, match="seed groups"):
        a.chosen(seeds=3)


def test_aux_knowledge_keeps_what_the_attacker_saw():
    """With an inpainting-style generator the reconstruction equals the known pixels outside the hole."""
    corrupted_in = tf.keras.Input((SIZE, SIZE, 1))
    hole_in = tf.keras.Input((SIZE, SIZE, 1))
    z_in = tf.keras.Input((Z_DIM,))
    paint = tf.keras.layers.Reshape((SIZE, SIZE, 1))(tf.keras.layers.Dense(SIZE * SIZE, activation="sigmoid")(z_in))
    out = tf.keras.layers.Lambda(lambda t: t[0] * (1 - t[1]) + t[2] * t[1])([corrupted_in, hole_in, paint])
    generator = tf.keras.Model([corrupted_in, hole_in, z_in], out)
    _, _, critic, target = planted_world()
    rng = np.random.default_rng(1)
    hole = np.zeros((N_IDS, SIZE, SIZE, 1), np.float32)
    hole[:, 1:5, 1:5] = 1
    aux = inversion.AuxKnowledge("square", rng.uniform(size=(N_IDS, SIZE, SIZE, 1)).astype(np.float32), hole)
    result = inversion.gmi_attack(generator, critic, target, np.arange(N_IDS), restarts=2, iterations=10, seed=0,
                                  aux=aux, progress=False)
    known = hole[:, None] == 0
    np.testing.assert_allclose(result.images[np.broadcast_to(known, result.images.shape)],
                               np.broadcast_to(aux.corrupted[:, None], result.images.shape)[
                                   np.broadcast_to(known, result.images.shape)], atol=1e-6)
    with pytest.raises(ValueError, match="photos"):
        inversion.gmi_attack(generator, critic, target, [0], restarts=2, iterations=1, seed=0, aux=aux)


@pytest.mark.parametrize("recipe, lr", [("fredrikson", 1.0), ("adam_ce", 0.05)])
def test_pixel_baseline_lowers_the_loss_and_stays_in_range(recipe, lr):
    _, _, _, target = planted_world()
    result = inversion.pixel_attack(target, np.arange(N_IDS), image_shape=(SIZE, SIZE, 1), restarts=2,
                                    iterations=30, seed=0, lr=lr, recipe=recipe, progress=False)
    assert result.identity_loss[-1] < result.identity_loss[0]
    assert result.images.min() >= 0 and result.images.max() <= 1


def test_bad_input_is_refused():
    _, generator, critic, target = planted_world()
    with pytest.raises(ValueError, match="restarts"):
        inversion.gmi_attack(generator, critic, target, [0], restarts=0, iterations=1, seed=0)
    with pytest.raises(ValueError, match="at least one"):
        inversion.gmi_attack(generator, critic, target, [], restarts=1, iterations=1, seed=0)
    with pytest.raises(ValueError, match="recipe"):
        inversion.pixel_attack(target, [0], image_shape=(SIZE, SIZE, 1), restarts=1, iterations=1, seed=0,
                               recipe="magic")
