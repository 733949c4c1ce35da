"""Attack accuracy, KNN distance, PSNR and trait recovery on cases whose answers are known."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import metrics
from course_lib.attacks.inversion import InversionResult

N = 4  # identities = classes


def onehot_reader():
    """An 'evaluation model' whose logits are the image's pixels: a one-hot image is read as its hot class."""
    return tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(1, 1, N)), tf.keras.layers.Flatten()])


def image_of(cls):
    return np.eye(N, dtype=np.float32)[cls].reshape(1, 1, N)


def test_attack_accuracy_uses_the_targets_choice_per_seed_and_best_of():
    labels = np.arange(N)
    # 2 seed groups x 2 restarts. Identity 0: right in every restart. Identity 1: right only in a restart the
    # target did not choose. Identity 2: right in seed group 1 only. Identity 3: never right.
    guess = np.array([[0, 0, 0, 0], [2, 1, 2, 1], [3, 3, 2, 2], [0, 0, 0, 0]])
    images = np.stack([[image_of(g) for g in row] for row in guess])
    prob = np.array([[0.9, 0.1, 0.9, 0.1]] * N)  # target prefers restart 0 of each group
    result = InversionResult(labels=labels, images=images, target_prob=prob)
    acc = metrics.attack_accuracy(result, onehot_reader(), seeds=2)
    assert acc["top1_per_seed"] == [0.25, 0.5]
    assert acc["top1"] == pytest.approx(0.375)
    assert acc["best_of_restarts"] == pytest.approx((1 + 1 + 0.5 + 0) / N)
    assert acc["top5"] == 1.0  # 4 classes: always in the top 5


def test_topk_hits():
    logits = np.array([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])
    assert metrics.topk_hits(logits, np.array([2, 2]), 1).tolist() == [False, False]
    assert metrics.topk_hits(logits, np.array([2, 2]), 2).tolist() == [True, True]


def test_knn_distance_and_psnr_against_the_nearest_private_image_of_the_identity():
    flat = tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(2, 2, 1)), tf.keras.layers.Flatten()])
    private = np.zeros((3, 2, 2, 1), np.float32)
    private[1] += 0.1
    private[2] += 1.0  # another identity, nearer but must be ignored
    private_labels = np.array([0, 0, 1])
    rec = np.full((1, 2, 2, 1), 0.2, np.float32)
    assert metrics.knn_distance(flat, rec, [0], private, private_labels) == pytest.approx(4 * 0.01)
    assert metrics.psnr(rec, [0], private, private_labels) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="no private image"):
        metrics.psnr(rec, [5], private, private_labels)


def test_trait_recovery_counts_matching_traits():
    from course_lib.models.targets import trait_head

    inp = tf.keras.Input((1, 1, 2))
    flat = tf.keras.layers.Flatten()(inp)
    model = tf.keras.Model(inp, {trait_head("a"): flat, trait_head("b"): -flat})
    images = np.array([[[[1, 0]]], [[[0, 1]]]], np.float32)  # trait a = argmax, trait b = argmin
    truth = np.array([[0, 1], [1, 1]])
    out = metrics.trait_recovery(model, images, truth, ["a", "b"])
    assert out["share"] == pytest.approx(0.75)
    assert out["per_trait"] == {"a": 1.0, "b": 0.5}
    assert metrics.chance_trait_recovery([2, 4]) == pytest.approx(0.375)


def test_the_trait_table_is_read_above_and_near_chance():
    from course_lib.attacks import metrics

    text = metrics.read_trait_recovery({"colour": 0.9, "head": 0.2, "eyes": 0.6},
                                       {"colour": 0.2, "head": 0.25, "eyes": 0.25})
    assert text.startswith("Recovered clearly above chance: colour (90% vs 20%), eyes (60% vs 25%)")
    assert "no better than chance, within one or two identities: head (20% vs 25%)" in text
    assert text.endswith("not only a colour.")
    with pytest.raises(ValueError):
        metrics.read_trait_recovery({"colour": 0.9}, {"head": 0.2})


def test_read_views_says_which_way_each_measure_moved_and_calls_small_changes_level():
    sentence = metrics.read_views({"top1": 0.88, "trait_recovery": 0.42}, {"top1": 0.75, "trait_recovery": 0.40},
                                  target="target_resnet", n_identities=15)
    assert "raise the judge's top-1 from 75% to 88% (+13 points)" in sentence
    assert "leave trait recovery level (40% to 42%, +2 points)" in sentence
    assert "target_resnet" in sentence and "6.7%" in sentence and "seed" not in sentence
    counted = metrics.read_views({"top1": 0.88, "trait_recovery": 0.42}, {"top1": 0.75, "trait_recovery": 0.40},
                                 target="t", n_identities=15, seeds=(5, 1))
    assert "(averaged over 1 seed without views and 5 with them)" in counted
    worse = metrics.read_views({"top1": 0.6, "trait_recovery": 0.3}, {"top1": 0.8, "trait_recovery": 0.31},
                               target="t", n_identities=15)
    assert "lower the judge's top-1" in worse and "-1 point)" in worse
    with pytest.raises(ValueError, match="trait_recovery"):
        metrics.read_views({"top1": 0.5}, {"top1": 0.5, "trait_recovery": 0.2}, target="t", n_identities=15)


def test_the_judges_accuracy_is_read_against_the_bar():
    good = {"body": 1.0, "eyes": 0.99, "pattern": 0.956}
    sentence = metrics.read_judge_accuracy(good)
    assert sentence.startswith("The trait judge reads real held-out portraits right 98% of the time on average, "
                               "pattern worst (96%): every trait at 95% or more")
    weak = metrics.read_judge_accuracy({**good, "mouth": 0.27})
    assert "mouth worst (27%): below 95% on mouth" in weak and "cannot be scored" in weak
    with pytest.raises(ValueError, match="no accuracy"):
        metrics.read_judge_accuracy({})
