"""The colour baselines: what a flat colour and a mean portrait of the private data score on the attack's judges."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import baselines


def _portraits(n_per: int = 4):
    """Three identities: red, green, blue squares on grey, at random places."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(3):
        for _ in range(n_per):
            img = np.full((8, 8, 3), 0.5, np.float32)
            r, c = rng.integers(0, 4, 2)
            img[r : r + 4, c : c + 4] = 0.0
            img[r : r + 4, c : c + 4, k] = 1.0
            images.append(img)
            labels.append(k)
    return np.stack(images), np.array(labels)


def test_mean_portrait_and_flat_colour_per_identity():
    images, labels = _portraits()
    means = baselines.mean_portraits(images, labels, 3)
    flat = baselines.flat_colours(images, labels, 3)
    assert means.shape == flat.shape == (3, 8, 8, 3)
    np.testing.assert_allclose(means[1], images[labels == 1].mean(axis=0))
    np.testing.assert_allclose(flat[2], np.broadcast_to(images[labels == 2].mean(axis=(0, 1, 2)), (8, 8, 3)))
    assert np.ptp(flat[0].reshape(-1, 3), axis=0).max() == 0  # flat: one colour everywhere
    assert flat[0, 0, 0, 0] > flat[0, 0, 0, 1]  # identity 0 is the red one


def test_missing_identity_and_bad_shapes_are_refused():
    images, labels = _portraits()
    with pytest.raises(ValueError, match=r"identities \[3\]"):
        baselines.mean_portraits(images, labels, 4)
    with pytest.raises(ValueError, match="one label each"):
        baselines.flat_colours(images[:, 0], labels, 3)


class _ChannelJudge(tf.keras.Model):
    """Recognises an identity by its dominant channel, a stand-in for an evaluation model."""

    def call(self, x, training=False):
        return tf.reduce_mean(x, axis=(1, 2)) * 10.0


class _TraitJudge(tf.keras.Model):
    """One trait, 'colour', read the same way (outputs a dict of logits as targets.trait_classifier does)."""

    def call(self, x, training=False):
        return {"trait_colour": tf.reduce_mean(x, axis=(1, 2)) * 10.0}


def test_colour_baselines_are_judged_like_the_attack():
    images, labels = _portraits()
    result = baselines.colour_baselines(images, labels, 3, _ChannelJudge(), _TraitJudge(), np.array([[0], [1], [2]]),
                                        ["colour"])
    assert set(result) == set(baselines.BASELINES)
    for name in baselines.BASELINES:
        assert result[name]["top1"] == 1.0 and result[name]["trait_recovery"] == 1.0
        assert result[name]["images"].shape == (3, 8, 8, 3)
    assert baselines.record(result) == {name: {"top1": 1.0, "trait_recovery": 1.0} for name in baselines.BASELINES}


def test_compare_reads_which_baseline_the_attack_beats_beyond_the_margin():
    base = {"flat_colour": {"top1": 0.07, "trait_recovery": 0.19},
            "mean_portrait": {"top1": 0.73, "trait_recovery": 0.38}}
    won = baselines.compare({"top1": 0.93, "trait_recovery": 0.75}, base)
    assert won.startswith("On top-1 GMI (93%) beats") and "+20 points" in won and "+37 points" in won
    assert "more than colour and silhouette" in won
    level = baselines.compare({"top1": 0.77, "trait_recovery": 0.40}, base)  # +4 and +2 points: within the margin
    assert level.count("is level with") == 2 and "no more than colour" in level
    half = baselines.compare({"top1": 0.90, "trait_recovery": 0.30}, base)
    assert "beats" in half and "falls short of" in half and "one measure only" in half
    with pytest.raises(ValueError, match="trait_recovery"):
        baselines.compare({"top1": 0.9}, base)
    with pytest.raises(ValueError, match="margin"):
        baselines.compare({"top1": 0.9, "trait_recovery": 0.5}, base, margin=1.5)


@pytest.mark.parametrize("gap, words", [(0.123, "+12 points"), (-0.01, "-1 point"), (0.004, "+0 points"),
                                        (0.01, "+1 point"), (-0.2, "-20 points")])
def test_a_gap_reads_as_signed_percentage_points(gap, words):
    assert baselines.signed_points(gap) == words
