"""Notebook 03's trait judge: one head per trait, the two cuts other code builds on, training data that holds out
whole identities and draws fresh public ones, and a shipped class checkpoint that reads the traits of real portraits
it never saw at 95 % or more on every trait."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from course_lib import checkpoints, config
from course_lib import train_checkpoints as tc
from course_lib.attacks import metrics
from course_lib.data import datamons, identity
from course_lib.models import targets

SIZES = {t: len(v) for t, v in datamons.TRAITS.items()}
NAMES = list(datamons.TRAITS)
# Issue 11: 95 % on every trait, on both held-out sets. Renderer 1 could not be read so well: a blinking round eye
# was drawn where a sleepy one's lid sits and a barely open mouth hid its kind (eyes 92 %, mouth 94 % at best);
# renderer 2 keeps eyes and mouths open (course_lib/data/datamons.py, _open_eyes).
FLOOR = 0.95


@pytest.mark.parametrize("size, width", [(32, 4), (64, 4)])
def test_one_logits_head_per_trait_and_the_two_cuts_keep_their_shapes(size, width):
    model = targets.trait_classifier((size, size, 3), SIZES, width=width)
    out = model(np.zeros((2, size, size, 3), np.float32), training=False)
    assert {k: tuple(v.shape) for k, v in out.items()} == {f"trait_{t}": (2, n) for t, n in SIZES.items()}
    # notebook 04's DP target reads the flattened last feature map; the GANs' Frechet distance the shared layer
    assert targets.trait_trunk(model, at="convolutions").output_shape == (None, (size // 8) ** 2 * 4 * width)
    assert targets.trait_trunk(model, at="shared").output_shape == (None, 4 * width)


def test_held_out_identities_are_whole_seeded_and_a_tenth():
    labels = np.repeat(np.arange(40), 3)
    held = targets.held_out_identities(labels, 0.1, seed=0)
    assert held.sum() == 4 * 3
    for k in range(40):  # an identity is held out whole or not at all
        assert held[labels == k].all() or not held[labels == k].any()
    np.testing.assert_array_equal(held, targets.held_out_identities(labels, 0.1, seed=0))
    assert not np.array_equal(held, targets.held_out_identities(labels, 0.1, seed=1))
    assert targets.held_out_identities(np.repeat(np.arange(3), 2), 0.1).sum() == 2  # at least one identity
    with pytest.raises(ValueError, match="between 0 and 1"):
        targets.held_out_identities(labels, 1.0)


def test_fresh_public_portraits_stay_two_traits_away_from_the_named_and_the_avoided():
    avoid = np.array([i.code() for i in datamons.public_identities(30, seed=5)])
    fresh = targets.fresh_public_portraits(60, 16, seed=3, avoid=avoid)
    assert fresh.images.shape == (60, 16, 16, 3) and fresh.traits.shape == (60, len(NAMES))
    named = np.array([i.code() for i in datamons.named_identities()])
    for codes in (avoid, named):
        assert ((fresh.traits[:, None, :] != codes[None, :, :]).sum(axis=2) >= 2).all()
    assert len(np.unique(fresh.traits, axis=0)) == 60  # one portrait per identity
    again = targets.fresh_public_portraits(60, 16, seed=3, avoid=avoid)
    np.testing.assert_array_equal(fresh.traits, again.traits)


def test_training_data_spreads_the_public_portraits_over_the_epochs_and_adds_fresh_ones():
    public = datamons.render(datamons.public_identities(5, seed=9), 2, size=16, seed=1)
    data = targets.trait_training_data(public.images, public.traits, epochs=3, fresh_per_epoch=4, seed=0)
    epochs = [data(e) for e in range(3)]
    assert [len(x) for x, _ in epochs] == [4 + 4, 3 + 4, 3 + 4]
    seen = np.concatenate([x[:-4] for x, _ in epochs])
    assert len(seen) == len(public.images)  # every public portrait once in all
    assert sorted(map(bytes, seen)) == sorted(map(bytes, public.images))
    assert not np.array_equal(epochs[0][0][-4:], epochs[1][0][-4:])  # fresh portraits differ from epoch to epoch
    np.testing.assert_array_equal(data(1)[0], epochs[1][0])  # and are the same when asked again


def test_training_lowers_the_loss_and_ends_the_learning_rate_near_zero():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.3, (96, 16, 16, 3)).astype(np.float32)
    traits = np.stack([rng.integers(0, n, 96) for n in SIZES.values()], axis=1)
    x[np.arange(96), :, :, traits[:, 1] % 3] += 0.6  # colour is readable, the rest is noise
    model = targets.trait_classifier((16, 16, 3), SIZES, width=4)
    history = targets.train_trait_classifier(model, (x, traits), NAMES, epochs=3, batch_size=16,
                                             learning_rate=1e-2, seed=0, progress=False)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    lr = model.optimizer.learning_rate
    final = float(lr(model.optimizer.iterations) if callable(lr) else lr)
    assert final <= 1e-2 * 0.02
    with pytest.raises(ValueError, match="traits must have shape"):
        targets.train_trait_classifier(model, (x, traits[:, :3]), NAMES, epochs=1, batch_size=16,
                                       learning_rate=1e-2, seed=0, progress=False)


def test_the_recipe_records_both_held_out_sets_and_the_lower_as_the_judges_accuracy():
    cfg = config.load("smoke", 0)
    recipe = tc.recipes(cfg, progress=False)["traits"]
    model, info = tc.obtain(recipe, retrain=True)
    recorded = info["metrics"]
    public, private = recorded["public_held_out_per_trait_acc"], recorded["per_trait_acc"]
    assert set(public) == set(private) == set(NAMES)
    assert recorded["trait_classifier_acc"] == {t: min(public[t], private[t]) for t in NAMES}
    assert metrics.trait_classifier_accuracy(info) == recorded["trait_classifier_acc"]
    assert metrics.trait_classifier_accuracy_by_set(info) == {"public held out": public, "named test": private}
    assert metrics.trait_classifier_accuracy_by_set({"metrics": {"per_trait_acc": private}}) == {"named test": private}
    dm = tc.datamons_splits(cfg)
    assert recorded["n_public_held_out"] == targets.held_out_identities(dm.public.labels, 0.1).sum() > 0
    assert recorded["n_private_test"] == len(dm.private_test)
    predicted = targets.predict_traits(model, dm.private_test.images, NAMES)
    assert private == dict(zip(NAMES, (predicted == dm.private_test.traits).mean(axis=0).tolist()))


def test_shipped_class_trait_judge_reads_the_traits_of_unseen_portraits():
    cfg = config.load("class", 0)
    recipe = tc.recipes(cfg, progress=False)["traits"]
    assert checkpoints.is_available(recipe.name, recipe.spec), \
        "ship it: python -m course_lib train-checkpoints --profile class --only traits --force"
    model, info = tc.obtain(recipe)
    assert info["source"] == "checkpoint"
    recorded = checkpoints.entry(recipe.name)["metrics"]
    assert all(recorded["trait_classifier_acc"][t] >= FLOOR for t in NAMES), recorded["trait_classifier_acc"]
    # and this stack measures what the manifest says, within one portrait, on both held-out sets
    dm = tc.datamons_splits(cfg)
    held = targets.held_out_identities(dm.public.labels, cfg.revealer.trait_held_out, seed=tc.DATA_SEED)
    for key, images, traits in (("public_held_out_per_trait_acc", dm.public.images[held], dm.public.traits[held]),
                                ("per_trait_acc", dm.private_test.images, dm.private_test.traits)):
        predicted = targets.predict_traits(model, images, NAMES)
        for k, t in enumerate(NAMES):
            acc = float((predicted[:, k] == traits[:, k]).mean())
            assert acc >= FLOOR, (key, t, acc)
            assert abs(acc - recorded[key][t]) <= 1.0 / len(traits) + 1e-9, (key, t)


def test_the_frechet_yardstick_is_the_first_trait_classifier_and_retrains_at_smoke():
    """The feature network of every Fréchet distance stays the first trait classifier (no batch norm, no maxima),
    shipped under its own name; RETRAIN rebuilds it with the same code path."""
    cfg = config.load("smoke", 0)
    recipe = tc.recipes(cfg, progress=False)["frechet_net"]
    assert recipe.spec["arch"] == "trait_classifier" and checkpoints.is_available(recipe.name, recipe.spec)
    assert not set(recipe.spec) & {"data", "data_summary"}  # a renderer change keeps the yardstick
    shipped, info = tc.obtain(recipe)
    assert info["source"] == "checkpoint"
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in shipped.layers)
    retrained, info = tc.obtain(recipe, retrain=True)
    assert info["source"] == "trained" and 0 <= info["metrics"]["private_test_trait_acc"] <= 1
    public = tc.datamons_splits(cfg).public
    today = identity.data_identity(public.images, public.traits, source=tc.datamons_source())
    assert info["metrics"]["trained_on"]["data"] == today["data"]  # what a retrained yardstick saw, recorded
    assert [w.shape for w in retrained.weights] == [w.shape for w in shipped.weights]
