"""The Secret Sharer: exposure tells a memorised secret from a random one; DP runs report epsilon; errors are clear."""
import math
import re

import numpy as np
import pytest

from course_lib.attacks import secret_sharer as ss
from course_lib.config import ConfigError
from course_lib.data import text

TINY = ss.CharModelSpec(context=12, embedding_dim=8, hidden=64)
TINY_RUN = dict(n_sentences=120, canary_repeats=3, epochs=1, batch_size=128, n_references=100, model_spec=TINY,
                progress=False)


def test_exposure_is_high_for_a_rare_perplexity_and_low_for_a_typical_one():
    rng = np.random.default_rng(0)
    references = rng.normal(40.0, 3.0, size=2000)
    high = ss.exposure(5.0, references, secret_space=10**8)
    typical = ss.exposure(40.0, references, secret_space=10**8)
    assert high["interpolation"] == pytest.approx(math.log2(2000))  # ranked first among the references
    assert high["extrapolation"] > 20 and high["extrapolation"] <= high["max"] == pytest.approx(math.log2(10**8))
    assert typical["interpolation"] < 2 and typical["extrapolation"] < 2


def test_references_share_the_canary_format_but_never_its_secret():
    canary = text.make_canary(seed=2)
    references = ss.reference_secrets(canary, 500, seed=2)
    assert len(references) == len(set(references)) == 500
    assert canary.secret not in references
    assert all(re.fullmatch(r"9\d\d-\d\d-\d\d\d\d", r) for r in references)


def test_a_strongly_memorised_secret_is_exposed_and_extracted_a_random_one_is_not():
    canary = text.make_canary(seed=0)
    corpus = text.insert_canary(text.make_corpus(100, seed=0), canary, 60, seed=0)
    model = ss.train_language_model(corpus, epochs=6, batch_size=64, learning_rate=0.01, seed=0, spec=TINY,
                                    progress=False)
    stranger = [r for r in ss.reference_secrets(canary, 301, seed=7) if r != canary.secret][0]
    references = ss.reference_secrets(canary, 300, seed=0)
    bits = ss.log_perplexities(model, canary.prefix, [canary.secret, stranger] + references, TINY.context)
    planted = ss.exposure(bits[0], bits[2:], 10**8)
    random_one = ss.exposure(bits[1], bits[2:], 10**8)
    assert planted["interpolation"] == pytest.approx(math.log2(300))
    assert planted["extrapolation"] > random_one["extrapolation"] + 5
    assert ss.beam_decode(model, canary, TINY.context, beam_width=3) == canary.secret


def test_dp_run_reports_epsilon_and_non_dp_run_does_not():
    private = ss.run_secret_sharer(dp=True, noise_multiplier=1.1, l2_norm_clip=1.0, learning_rate=1e-3, seed=1,
                                   **TINY_RUN)
    assert private["dp"] is True and 0 < private["epsilon"] < math.inf and private["delta"] == 1e-5
    assert re.fullmatch(r"9\d\d-\d\d-\d\d\d\d", private["decoded"])
    assert private["extracted"] == (private["decoded"] == private["secret"])
    assert 0 <= private["exposure"] <= private["exposure_max"]
    plain = ss.run_secret_sharer(dp=False, noise_multiplier=1.1, l2_norm_clip=1.0, learning_rate=1e-3, seed=1,
                                 **TINY_RUN)
    assert plain["epsilon"] is None and plain["delta"] is None
    assert plain["secret"] == private["secret"]  # same seed, same canary


def test_same_seed_gives_the_same_dp_model():
    canary = text.make_canary(seed=3)
    corpus = text.insert_canary(text.make_corpus(120, seed=3), canary, 3, seed=3)
    candidates = [canary.secret] + ss.reference_secrets(canary, 50, seed=3)

    def bits(seed):
        model = ss.train_language_model(corpus, epochs=1, batch_size=128, learning_rate=1e-3, seed=seed, spec=TINY,
                                        dp={"l2_norm_clip": 1.0, "noise_multiplier": 1.0}, progress=False)
        return ss.log_perplexities(model, canary.prefix, candidates, TINY.context)

    first = bits(3)
    np.testing.assert_array_equal(first, bits(3))
    assert not np.array_equal(first, bits(4))


def test_dp_step_clips_each_example_as_the_definition_says():
    """TF Privacy's fast path (norms from the layer registry) equals a per-example loop, Embedding included."""
    import tensorflow as tf

    x, y = text.windows(text.encode(text.join(text.make_corpus(30, seed=1))), TINY.context)
    x, y = x[100:148], y[100:148]
    clip = 0.5
    model = ss.char_language_model(TINY, dp={"l2_norm_clip": clip, "noise_multiplier": 0.0}, seed=0)
    assert model._enable_fast_peg_computation  # the fast path, not per-example gradients
    model.compile(optimizer=tf.keras.optimizers.SGD(1.0),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    fast = [b - v.numpy() for v, b in zip(model.trainable_variables, before)]  # SGD with rate 1: the mean gradient

    reference = ss.char_language_model(TINY, seed=0)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    total = [np.zeros_like(v) for v in before]
    for i in range(len(y)):
        with tf.GradientTape() as tape:
            example_loss = loss(y[i:i + 1], reference(x[i:i + 1]))
        grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(example_loss, reference.trainable_variables)]
        factor = min(1.0, clip / np.sqrt(sum((g ** 2).sum() for g in grads)))
        total = [t + factor * g for t, g in zip(total, grads)]
    for got, want in zip(fast, total):
        np.testing.assert_allclose(got, want / len(y), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10**7}, "exceeds"),
        ({"canary_repeats": 0}, "canary_repeats"),
        ({"dp": True, "noise_multiplier": -1.0}, "noise_multiplier"),
        ({"dp": True, "l2_norm_clip": 0.0}, "l2_norm_clip"),
        ({"n_references": 10**9}, "secret space"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"seed": -2}, "SEED"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(changes, message):
    arguments = dict(TINY_RUN, dp=False, learning_rate=1e-3)
    arguments.update(changes)
    with pytest.raises(ConfigError, match=message):
        ss.run_secret_sharer(**arguments)
