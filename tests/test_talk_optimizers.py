"""The talk's TF1 DP optimizers map to classes this environment really has, and the updated recipe trains."""
import numpy as np
import pytest

from course_lib.config import ConfigError
from course_lib.dp import talk_optimizers


def test_every_optimizer_of_the_talk_and_its_keras_successor_exist_here():
    rows = talk_optimizers.optimizer_map()
    assert [r["talk (TF1, dp_optimizer)"] for r in rows] == [
        "DPGradientDescentGaussianOptimizer", "DPAdamGaussianOptimizer", "DPAdagradGaussianOptimizer"]
    assert all(r["still shipped"] and r["in dp_optimizer_keras"] for r in rows), rows


@pytest.mark.parametrize("keras_class", ["DPKerasSGDOptimizer", "DPKerasAdamOptimizer", "DPKerasAdagradOptimizer"])
def test_the_updated_recipe_takes_a_finite_step(keras_class):
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 28, 28), dtype=np.float32), rng.integers(0, 10, 4)
    before, after = talk_optimizers.talk_recipe_step(keras_class, x, y, noise_multiplier=0.0)
    assert np.isfinite(before) and np.isfinite(after) and after != before, "the step moved the weights"


def test_an_unknown_class_is_refused():
    with pytest.raises(ConfigError, match="keras_class must be one of"):
        talk_optimizers.talk_recipe_step("DPGradientDescentGaussianOptimizer", np.zeros((2, 28, 28)), [0, 1])
