"""The timing helper of notebook 02 and bench/dp_speed.py measures every recipe it is asked for, and only those."""
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


def test_trace_only_builds_the_graph_the_next_step_reuses_without_taking_a_step():
    x = tf.random.stateless_uniform((4, 28, 28, 1), seed=(0, 1))
    y = tf.constant([0, 1, 2, 3])
    model = recipes.dpkeras_sgd(num_microbatches=4)
    before = [w.numpy().copy() for w in model.trainable_weights]
    recipes.trace_only(model, x, y)
    traced = model.train_function.experimental_get_tracing_count()
    assert traced >= 1
    assert int(model.optimizer.iterations.numpy()) == 0, "tracing must not take a step"
    assert all((b == w.numpy()).all() for b, w in zip(before, model.trainable_weights))
    model.train_on_batch(x, y)
    assert model.train_function.experimental_get_tracing_count() == traced, "the timed step must not trace again"
    assert int(model.optimizer.iterations.numpy()) == 1
    assert any((b != w.numpy()).any() for b, w in zip(before, model.trainable_weights))
