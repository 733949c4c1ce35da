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


def test_views_without_shift_or_zoom_are_the_images_and_a_seed_fixes_them():
    rng = np.random.default_rng(3)
    images = tf.constant(rng.uniform(size=(3, 16, 16, 2)).astype(np.float32))
    seed = tf.constant([5, 0], tf.int64)
    same = inversion.random_views(images, inversion.Views(copies=2, shift=0.0, zoom=0.0), seed)
    np.testing.assert_allclose(same, np.concatenate([images, images]), atol=1e-4)  # copy-major
    moved = inversion.random_views(images, inversion.Views(copies=3), seed)
    np.testing.assert_array_equal(moved, inversion.random_views(images, inversion.Views(copies=3), seed))
    assert not np.allclose(moved, inversion.random_views(images, inversion.Views(copies=3),
                                                          tf.constant([5, 1], tf.int64)))


def test_a_view_moves_a_dot_by_at_most_the_shift_and_keeps_it():
    size, shift = 17, 2.0
    dot = np.zeros((1, size, size, 1), np.float32)
    dot[0, 5, 11] = 1.0
    views = inversion.random_views(tf.constant(dot), inversion.Views(copies=64, shift=shift, zoom=0.1),
                                   tf.constant([0, 0], tf.int64)).numpy()[..., 0]
    mass = views.sum(axis=(1, 2))
    assert np.all(mass > 0.6) and np.all(mass < 1.6)  # bilinear spreads the dot and zoom scales it; it stays
    rows, cols = np.indices((size, size))
    y = (views * rows).sum(axis=(1, 2)) / mass
    x = (views * cols).sum(axis=(1, 2)) / mass
    # zoom acts about the view's centre: the dot, 3 pixels from the image centre, moves at most 3 * 0.1 / 0.9 more
    reach = shift + 3 * 0.1 / 0.9 + 1e-3
    assert np.all(np.abs(y - 5) <= reach) and np.all(np.abs(x - 11) <= reach)
    assert np.ptp(y) > 1 and np.ptp(x) > 1  # the views do move it


def test_gmi_with_views_still_recovers_the_planted_identity_and_is_repeatable():
    faces, generator, critic, target = planted_world()
    labels = np.arange(N_IDS)
    views = inversion.Views(copies=3, shift=0.5, zoom=0.0)
    result = inversion.gmi_attack(generator, critic, target, labels, restarts=4, iterations=60, seed=0, lr=0.02,
                                  views=views, progress=False)
    assert result.method == "gmi_views"
    best = result.best_images().reshape(N_IDS, -1)
    distances = ((best[:, None, :] - faces[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(np.argmin(distances, axis=1), labels)
    again = inversion.gmi_attack(generator, critic, target, labels, restarts=4, iterations=60, seed=0, lr=0.02,
                                 views=views, progress=False)
    np.testing.assert_allclose(result.images, again.images, rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [({"copies": 0}, "copies"), ({"zoom": 0.5}, "zoom"),
                                           ({"shift": -1.0}, "shift")])
def test_bad_views_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inversion.Views(**kwargs)


def test_a_shift_too_large_for_the_image_is_refused():
    with pytest.raises(ValueError, match="too large"):
        inversion.random_views(tf.zeros((1, 6, 6, 1)), inversion.Views(shift=8.0), tf.constant([0, 0], tf.int64))


def test_each_selected_start_is_its_pools_favourite_for_its_identity():
    _, generator, _, target = planted_world()
    labels = np.array([2, 0])

    def make_images(z):
        return generator(z, training=False)

    starts = inversion.select_starts(make_images, target, labels, restarts=3, candidates=16, z_dim=Z_DIM,
                                     rng=np.random.default_rng(4))
    assert starts.shape == (len(labels) * 3, Z_DIM)
    pool = np.random.default_rng(4).standard_normal((3 * 16, Z_DIM)).astype(np.float32)
    scores = tf.nn.log_softmax(target(generator(pool))).numpy()
    for i, label in enumerate(labels):
        for r in range(3):  # identity-major, like the attack's batch; restart r drawn from pool r only
            chunk = slice(16 * r, 16 * (r + 1))
            np.testing.assert_array_equal(starts[i * 3 + r], pool[chunk][scores[chunk, label].argmax()])
    random_start = tf.nn.log_softmax(target(generator(pool[:6]))).numpy()[np.arange(6), np.repeat(labels, 3)]
    selected = tf.nn.log_softmax(target(generator(starts))).numpy()[np.arange(6), np.repeat(labels, 3)]
    assert selected.mean() > random_start.mean()


def test_gmi_from_selected_starts_recovers_the_identity_is_repeatable_and_refuses_aux():
    faces, generator, critic, target = planted_world()
    labels = np.arange(N_IDS)
    run = lambda: inversion.gmi_attack(generator, critic, target, labels, restarts=2, iterations=30, seed=3,  # noqa: E731
                                       candidates=8, progress=False)
    a, b = run(), run()
    assert a.method == "gmi_selected"
    np.testing.assert_allclose(a.images, b.images, rtol=1e-5)
    best = a.best_images().reshape(N_IDS, -1)
    np.testing.assert_array_equal(np.argmin(((best[:, None] - faces[None]) ** 2).sum(axis=2), axis=1), labels)
    aux = inversion.AuxKnowledge("square", np.zeros((N_IDS, SIZE, SIZE, 1), np.float32),
                                 np.ones((N_IDS, SIZE, SIZE, 1), np.float32))
    with pytest.raises(ValueError, match="candidates selects starts of the plain generator"):
        inversion.gmi_attack(generator, critic, target, labels, restarts=2, iterations=3, seed=0, aux=aux,
                             candidates=8, progress=False)


def test_margin_loss_is_the_largest_other_logit_minus_the_labels():
    class Fixed(tf.keras.Model):
        def call(self, images, training=False):
            return tf.constant([[2.0, 5.0, -1.0], [0.5, 0.5, 3.0]])

    loss = inversion._identity_loss(Fixed(), tf.zeros((2, 1)), tf.constant([1, 0]), "margin").numpy()
    np.testing.assert_allclose(loss, [2.0 - 5.0, 3.0 - 0.5])


def test_gmi_with_the_margin_recovers_the_planted_identity_and_keeps_pushing():
    """Cross-entropy stops once the target is sure; the margin keeps rising (its loss goes on falling below 0)."""
    faces, generator, critic, target = planted_world()
    labels = np.arange(N_IDS)
    result = inversion.gmi_attack(generator, critic, target, labels, restarts=4, iterations=60, seed=0, lr=0.02,
                                  lam=1.0, objective="margin", progress=False)
    assert result.method == "gmi_margin"
    assert result.identity_loss[0] > 0 > -5 > result.identity_loss[-1]  # from naming another face to a wide margin
    best = result.best_images().reshape(N_IDS, -1)
    distances = ((best[:, None, :] - faces[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(np.argmin(distances, axis=1), labels)
    with pytest.raises(ValueError, match="unknown GMI objective"):
        inversion.gmi_attack(generator, critic, target, labels, restarts=1, iterations=1, seed=0, objective="logit")


def planted_conditional_world():
    """A conditional generator that draws the planted face its first one-hot group names (the second group and z
    change nothing), and the planted world's target."""
    faces, _, _, target = planted_world()
    L = tf.keras.layers
    conditions, z = L.Input((N_IDS + 2,), name="conditions"), L.Input((Z_DIM,), name="z")
    drawn = L.Dense(SIZE * SIZE, use_bias=False)(conditions)
    ignored = L.Dense(SIZE * SIZE, use_bias=False, kernel_initializer="zeros")(z)
    generator = tf.keras.Model([conditions, z], L.Reshape((SIZE, SIZE, 1))(L.Add()([drawn, ignored])))
    generator.layers[2].set_weights([np.concatenate([faces, np.zeros((2, SIZE * SIZE), np.float32)])])
    critic = tf.keras.Sequential([L.InputLayer(input_shape=(SIZE, SIZE, 1)), L.Flatten(),
                                  L.Dense(1, kernel_initializer="zeros")])
    return faces, generator, critic, target


def test_gmi_through_a_conditional_prior_settles_on_the_right_value_and_draws_it_exactly():
    faces, generator, critic, target = planted_conditional_world()
    labels = np.arange(N_IDS)
    result = inversion.gmi_attack(generator, critic, target, labels, restarts=3, iterations=40, seed=0, lr=0.05,
                                  candidates=2, objective="margin", condition_sizes=(N_IDS, 2), progress=False)
    # the final drawing uses each group's largest value, one-hot: exactly a planted face, the right one
    np.testing.assert_allclose(result.best_images().reshape(N_IDS, -1), faces[labels], atol=1e-5)
    again = inversion.gmi_attack(generator, critic, target, labels, restarts=3, iterations=40, seed=0, lr=0.05,
                                 candidates=2, objective="margin", condition_sizes=(N_IDS, 2), progress=False)
    np.testing.assert_allclose(result.images, again.images, rtol=1e-6)


def test_a_conditional_prior_needs_its_group_sizes():
    _, generator, critic, target = planted_conditional_world()
    for sizes in (None, (N_IDS, 3)):
        with pytest.raises(ValueError, match="conditional on 5"):
            inversion.gmi_attack(generator, critic, target, [0], restarts=1, iterations=1, seed=0,
                                 condition_sizes=sizes, progress=False)


def test_conditional_starts_hold_one_leading_value_per_group():
    starts = inversion.conditional_latents(50, (3, 2), 4, np.random.default_rng(0))
    assert starts.shape == (50, 4 + 5)
    groups = starts[:, 4:]
    assert np.all((groups[:, :3] == 0.5).sum(axis=1) == 1) and np.all((groups[:, 3:] == 0.5).sum(axis=1) == 1)
    assert set(np.unique(groups)) == {-0.5, 0.5}


def test_a_projection_critic_is_refused_with_an_unconditional_generator():
    _, generator, _, target = planted_world()
    projection = tf.keras.Model([inp := tf.keras.Input((SIZE, SIZE, 1)), cond := tf.keras.Input((2,))],
                                tf.keras.layers.Dense(1)(tf.keras.layers.Concatenate()(
                                    [tf.keras.layers.Flatten()(inp), cond])))
    with pytest.raises(ValueError, match="projection critic"):
        inversion.gmi_attack(generator, projection, target, [0], restarts=1, iterations=1, seed=0, progress=False)
