"""Shipped checkpoints give, on this stack, the quality their manifest recorded where they were made.

CI runs this on both stacks (Python 3.11 / TensorFlow 2.15 and Python 3.12 / TensorFlow 2.21), so the same bytes
(sha256-verified on load) give the same accuracies on both, within one test example.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import checkpoints, config
from course_lib import train_checkpoints as tc
from course_lib.models import classifiers

CLASSIFIERS = ("target_small", "target_resnet", "evaluation", "mnist_target", "mnist_evaluation")


@pytest.mark.parametrize("profile", ["smoke", "class"])
def test_shipped_classifiers_reach_their_recorded_test_accuracy(profile):
    cfg = config.load(profile, 0)
    all_recipes = tc.recipes(cfg, progress=False)
    dm, mn = tc.datamons_splits(cfg), tc.mnist_splits(cfg)
    tests = {"datamons": (dm.private_test.images, dm.private_test.labels), "mnist": mn.private_test}
    for key in CLASSIFIERS:
        model, info = tc.obtain(all_recipes[key])
        assert info["source"] == "checkpoint", key
        x, y = tests["mnist" if key.startswith("mnist") else "datamons"]
        recorded = checkpoints.entry(all_recipes[key].name)["metrics"]["test_acc"]
        assert abs(classifiers.accuracy(model, x, y) - recorded) <= 1.0 / len(y) + 1e-9, key


def test_shipped_class_gan_draws_at_its_recorded_frechet_distance():
    cfg = config.load("class", 0)
    all_recipes = tc.recipes(cfg, progress=False)
    pair, info = tc.obtain(all_recipes["gan"])
    assert info["source"] == "checkpoint"
    measured = all_recipes["gan"].measure(pair)
    recorded = info["metrics"]
    for name in ("frechet_distance", "frechet_distance_real_vs_real", "frechet_distance_judge",
                 "frechet_distance_real_vs_real_judge"):
        assert measured[name] == pytest.approx(recorded[name], rel=1e-3), name


def test_shipped_class_gan_is_within_three_times_the_real_vs_real_floor():
    """Issue 11: the prior must draw Datamons, not blobs (2,000 steps drew blobs at 13x the floor)."""
    recorded = checkpoints.entry("class/datamons_gan_generator")["metrics"]
    assert recorded["frechet_distance"] <= 3 * recorded["frechet_distance_real_vs_real"]
