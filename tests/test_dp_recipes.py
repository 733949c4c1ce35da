"""The timing helper of notebook 02 and bench/dp_speed.py measures every recipe it is asked for, and only those."""
import time

import pytest
import tensorflow as tf

from course_lib.config import ConfigError
from course_lib.dp import recipes


def test_step_times_returns_positive_seconds_in_the_order_asked():
    times = recipes.step_times(("fast_dp", "sgd"), batch_size=8, rounds=1)
    assert list(times) == ["fast_dp", "sgd"]
    assert all(seconds > 0 for seconds in times.values())


def test_unknown_recipe_and_too_few_examples_are_refused():
    with pytest.raises(ConfigError, match="unknown recipe"):
        recipes.step_times(("sgd", "opacus"), batch_size=8)
    with pytest.raises(ConfigError, match="need 8 examples"):
        recipes.step_times(("sgd",), batch_size=8, x=[[[0.0]]] * 4, y=[0] * 4)


def test_dpkeras_recipe_is_the_talks_recipe():
    model = recipes.dpkeras_sgd(num_microbatches=4)
    assert isinstance(model.optimizer, tf.keras.optimizers.legacy.SGD)
    assert model.optimizer._num_microbatches == 4 and hasattr(model.optimizer, "_dp_sum_query")
    assert model.loss.reduction == "none"
    with pytest.raises(ConfigError, match="num_microbatches"):
        recipes.dpkeras_sgd(num_microbatches=0)


class _SlowFirstStep:
    """A stand-in model whose first step is slow, as TensorFlow's first run of a DP optimizer's graph is."""

    def __init__(self, first: float, then: float):
        self.delays = [first]
        self.then = then

    def train_on_batch(self, x, y):
        time.sleep(self.delays.pop() if self.delays else self.then)


def test_step_times_does_not_count_the_first_run_of_a_graph_as_a_step(monkeypatch):
    fakes = {"sgd": lambda: _SlowFirstStep(0.3, 0.001), "dpkeras": lambda: _SlowFirstStep(1.0, 0.02)}
    monkeypatch.setattr(recipes, "builders", lambda batch_size: fakes)
    times = recipes.step_times(("sgd", "dpkeras"), batch_size=4, rounds=2, slow_steps=1)
    assert times["sgd"] < 0.1
    assert 0.02 <= times["dpkeras"] < 0.5, "the slow first run (graph optimisation) must stay out of the timing"

