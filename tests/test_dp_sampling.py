"""Poisson sampling (course_lib.dp.sampling): the batches DP-SGD draws are the ones its epsilon assumes."""
import math

import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import secret_sharer as ss
from course_lib.config import ConfigError
from course_lib.data import text
from course_lib.dp import accounting, conv_registry, sampling, training

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def test_batch_size_and_each_examples_inclusion_rate_match_q():
    n, batch, steps = 1000, 100, 400
    drawn = sampling.PoissonBatches(n, batch, seed=3).take(steps)
    sizes = np.array([len(d) for d in drawn])
    q = batch / n
    # mean of `steps` Binomial(n, q) sizes: standard error sqrt(n q (1 - q) / steps) = 0.47
    assert abs(sizes.mean() - batch) < 4 * math.sqrt(n * q * (1 - q) / steps)
    assert sizes.std() > 5, "sizes must vary: a fixed batch is not Poisson sampling"
    counts = np.bincount(np.concatenate(drawn), minlength=n)
    # each example's count is Binomial(steps, q): mean 40, sd 6; the per-example rates average to q
    assert abs(counts.mean() / steps - q) < 4 * math.sqrt(q * (1 - q) / (steps * n))
    assert counts.min() > 40 - 6 * 6 and counts.max() < 40 + 6 * 6
    assert all(np.all(np.diff(d) > 0) for d in drawn), "an example appears at most once per batch"


def test_same_seed_same_batches_other_seed_other_batches():
    a, b, c = (sampling.PoissonBatches(500, 50, seed=s).take(5) for s in (1, 1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(len(x) == len(z) and np.array_equal(x, z) for x, z in zip(a, c))


def test_a_recreated_iterator_continues_the_stream_instead_of_replaying_it():
    batches = sampling.PoissonBatches(500, 50, seed=1)
    first = next(iter(batches))
    second = next(iter(batches))
    assert not np.array_equal(first, second)


def test_the_dataset_holds_the_samplers_batches_in_order_with_empty_draws_padded():
    n = 40
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * 10
    y = np.arange(n)
    want = sampling.PoissonBatches(n, 1, seed=4).take(60)  # q = 1/40: about 13 % of draws are empty
    assert any(len(w) == 0 for w in want)
    got = list(sampling.poisson_dataset(x, y, sampling.PoissonBatches(n, 1, seed=4), steps=60))
    assert len(got) == 60
    for (xb, yb, mask), indices in zip(got, want):
        if len(indices):
            np.testing.assert_array_equal(yb.numpy(), indices)
            np.testing.assert_array_equal(xb.numpy()[:, 0, 0, 0], indices * 10)
            np.testing.assert_array_equal(mask.numpy(), np.ones(len(indices)))
        else:  # one padding row that weighs nothing
            assert yb.shape == (1,) and mask.numpy().tolist() == [0.0]
    with pytest.raises(ConfigError, match="steps"):
        sampling.poisson_dataset(x, y, sampling.PoissonBatches(n, 1, seed=4), steps=0)


class _Recorder(tf.keras.Model):
    """Trains nothing; reports the labels of each batch it is fed (padded with -1 to a fixed width)."""

    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(1)

    def call(self, x):
        return self.dense(tf.reshape(x, [-1, 1]))

    def train_step(self, data):
        _, y, mask = data
        self.optimizer.iterations.assign_add(1)
        labels = tf.where(mask > 0, y, -1)
        return {"labels": tf.pad(labels, [[0, 64 - tf.shape(labels)[0]]], constant_values=-1)}


def test_fit_feeds_every_epoch_new_batches_from_one_stream():
    n, batch, epochs = 100, 10, 3
    x, y = np.zeros((n, 1), np.float32), np.arange(n)
    model = _Recorder()
    model.compile(optimizer="sgd")
    seen = []
    record = tf.keras.callbacks.LambdaCallback(on_train_batch_end=lambda _, logs: seen.append(
        [v for v in np.asarray(logs["labels"]).tolist() if v >= 0]))
    _, steps = sampling.fit(model, x, y, sampling="poisson", batch_size=batch, epochs=epochs, seed=7,
                            callbacks=[record])
    want = [w.tolist() for w in sampling.PoissonBatches(n, batch, seed=7).take(epochs * 10)]
    assert steps == epochs * 10 and seen == want


def _small_model(seed=1):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(6, 6, 1)),
        tf.keras.layers.Conv2D(2, 3, activation="tanh"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(3),
    ])


def test_the_noisy_sum_is_divided_by_the_expected_batch_not_the_drawn_one():
    model = _small_model()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 6, 6, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 3, 5))
    registry = conv_registry.make_registry()
    by_drawn, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=0.1, noise_multiplier=0)
    by_expected, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=0.1,
                                                      noise_multiplier=0, expected_batch_size=8.0)
    for drawn, expected in zip(by_drawn, by_expected):
        np.testing.assert_allclose(expected.numpy(), drawn.numpy() * 5 / 8, rtol=1e-5, atol=1e-9)
    # an example that is not drawn contributes nothing: the first four alone give the sum without the fifth
    four, _ = training.clipped_noisy_gradients(model, registry, x[:4], y[:4], LOSS, l2_norm_clip=0.1,
                                               noise_multiplier=0, expected_batch_size=8.0)
    fifth, _ = training.clipped_noisy_gradients(model, registry, x[4:], y[4:], LOSS, l2_norm_clip=0.1,
                                                noise_multiplier=0, expected_batch_size=8.0)
    for whole, part, rest in zip(by_expected, four, fifth):
        np.testing.assert_allclose(whole.numpy(), (part + rest).numpy(), rtol=1e-4, atol=1e-7)
    # a masked row (padding) adds exactly nothing: the masked batch of five gives the first four's sum
    masked, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=0.1, noise_multiplier=0,
                                                 expected_batch_size=8.0, mask=tf.constant([1.0, 1, 1, 1, 0]))
    for got, want in zip(masked, four):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-9)


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, n)


def test_dp_training_runs_one_graph_for_batches_of_every_size_and_its_epsilon_is_the_runs():
    x, y = _data()
    result = training.train_dp(_small_model, x, y, x[:20], y[:20], noise_multiplier=1.0, l2_norm_clip=1.0,
                               batch_size=24, epochs=2, learning_rate=0.1, seed=0, delta=1e-3, progress=False)
    assert result["sampling"] == "poisson"
    assert result["steps"] == 2 * math.ceil(240 / 24)
    model = result["model"]
    traced = model.train_function.experimental_get_tracing_count()  # tf.function traces twice when it makes variables
    sampling.fit(model, x, y, sampling="poisson", batch_size=24, epochs=2, seed=1)  # 20 more steps, 20 other sizes
    assert model.train_function.experimental_get_tracing_count() == traced, "a batch of a new size retraced the step"
    signatures = [c.structured_input_signature for c in model.train_function._list_all_concrete_functions()]
    assert all(s[0][0]._element_spec[0].shape[0] is None for s in signatures), signatures
    assert result["epsilon_pld"] == pytest.approx(
        accounting.epsilon(1.0, 24, 240, steps=result["steps"], delta=1e-3, accountant="pld"))


def test_fixed_shuffled_batches_get_the_bound_without_amplification():
    x, y = _data()
    common = dict(noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=24, epochs=2, learning_rate=0.1, seed=0,
                  delta=1e-3, progress=False)
    shuffled = training.train_dp(_small_model, x, y, x[:20], y[:20], sampling="shuffle", **common)
    assert shuffled["sampling"] == "shuffle"
    assert shuffled["epsilon_rdp"] == pytest.approx(
        accounting.epsilon(1.0, 24, 240, epochs=2, delta=1e-3, accountant="rdp", sampling="shuffle"))
    assert shuffled["epsilon_rdp"] > 1.5 * accounting.epsilon(1.0, 24, 240, epochs=2, delta=1e-3, accountant="rdp")
    assert "fixed shuffled batches" in accounting.statement(1.0, 24, 240, 2, 1e-3, sampling="shuffle")
    assert "Poisson sampling" in accounting.statement(1.0, 24, 240, 2, 1e-3)


def test_same_seed_same_dp_model():
    x, y = _data()
    common = dict(noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=24, epochs=1, learning_rate=0.1, delta=1e-3,
                  progress=False)
    a, b = (training.train_dp(_small_model, x, y, x[:20], y[:20], seed=5, **common) for _ in range(2))
    for va, vb in zip(a["model"].trainable_variables, b["model"].trainable_variables):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_empty_batches_do_not_break_training():
    x, y = _data(60)
    result = training.train_dp(_small_model, x, y, x[:10], y[:10], noise_multiplier=1.0, l2_norm_clip=1.0,
                               batch_size=1, epochs=1, learning_rate=0.1, seed=0, delta=1e-3, progress=False)
    assert result["steps"] == 60 and np.isfinite(result["test_acc"])


def test_poisson_sampling_with_an_engine_that_divides_by_the_drawn_size_is_refused():
    x, y = _data()
    with pytest.raises(ConfigError, match="Poisson sampling needs the course engine"):
        training.train_dp(_small_model, x, y, x[:20], y[:20], noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=24,
                          epochs=1, learning_rate=0.1, seed=0, delta=1e-3, engine="tf_privacy", progress=False)
    with pytest.raises(ConfigError, match="sampling must be one of"):
        training.train_dp(_small_model, x, y, x[:20], y[:20], noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=24,
                          epochs=1, learning_rate=0.1, seed=0, delta=1e-3, sampling="fixed", progress=False)


def test_a_group_of_one_is_one_example_and_larger_groups_get_weaker_guarantees():
    one = accounting.group_epsilon(1.1, 256, 60000, 1, steps=500)
    assert one == pytest.approx(accounting.epsilon(1.1, 256, 60000, steps=500, accountant="rdp"))
    two, ten = (accounting.group_epsilon(1.1, 256, 60000, k, steps=500) for k in (2, 10))
    assert one < two < ten
    with pytest.raises(ConfigError, match="group_size"):
        accounting.group_epsilon(1.1, 256, 60000, 0, steps=500)


def test_secret_windows_counts_every_window_that_reads_or_predicts_a_secret_character():
    canary = text.make_canary(0)
    corpus = ["a b", canary.sentence, "c d", canary.sentence, "e f g h"]
    context = 4
    joined = text.join(corpus)
    secret_chars = set()
    for start in (i for i in range(len(joined)) if joined.startswith(canary.sentence, i)):
        secret_chars |= set(range(start + len(canary.prefix), start + len(canary.prefix) + len(canary.secret)))
    want = sum(1 for i in range(len(joined)) if secret_chars & set(range(i - context, i + 1)))
    assert ss.secret_windows(corpus, canary, context) == want == 2 * (len(canary.secret) + context)
