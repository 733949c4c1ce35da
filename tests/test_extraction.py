"""Model extraction: more queries make a more faithful copy; the query function is all the attacker touches."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.attacks import extraction
from course_lib.data.mnist import load_mnist
from course_lib.models import classifiers


@pytest.fixture(scope="module")
def victim():
    (x, y), (x_test, _) = load_mnist()
    model = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(28, 28, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)]
    )
    classifiers.train_classifier(model, x[:2000], y[:2000], epochs=3, batch_size=64, learning_rate=1e-2, seed=0,
                                 progress=False)
    pool = x[50000:52000]  # digits the victim never saw, the attacker's own data
    eval_x = x_test[:500]
    return model, pool, eval_x, extraction.model_api(model, "labels")(eval_x)


def test_model_api_returns_probabilities_or_labels(victim):
    model, pool, _, _ = victim
    probs = extraction.model_api(model, "probs")(pool[:7])
    labels = extraction.model_api(model, "labels")(pool[:7])
    assert probs.shape == (7, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(labels, probs.argmax(axis=1))
    with pytest.raises(ValueError, match="output"):
        extraction.model_api(model, "logits")


def test_collect_answers_sends_exactly_the_budget_in_chunks(victim):
    _, pool, _, _ = victim
    sent = []

    def counting_query(x):
        sent.append(len(x))
        return np.zeros(len(x), np.int64)

    answers = extraction.collect_answers(counting_query, pool, 1234, chunk=500)
    assert sent == [500, 500, 234] and len(answers) == 1234
    with pytest.raises(ValueError, match="pool holds only"):
        extraction.collect_answers(counting_query, pool, len(pool) + 1)


def test_many_queries_copy_better_than_few(victim):
    model, pool, eval_x, victim_labels = victim
    result = extraction.extraction_curve(
        extraction.model_api(model, "probs"), pool, [20, 1000], eval_x=eval_x, eval_victim_labels=victim_labels,
        steps=150, seed=0, progress=False,
    )
    few, many = (p["fidelity"] for p in result.points)
    assert result.output == "probs" and [p["queries"] for p in result.points] == [20, 1000]
    assert many > few + 0.1 and many > 0.8
    assert result.access == {"architecture": False, "weights": False, "gradients": False, "queries": 1000,
                             "data": "unlabelled inputs from the same domain"}


def test_label_only_api_is_detected_and_bad_answers_refused(victim):
    model, pool, eval_x, victim_labels = victim
    result = extraction.extraction_curve(
        extraction.model_api(model, "labels"), pool, [50], eval_x=eval_x, eval_victim_labels=victim_labels,
        steps=5, progress=False,
    )
    assert result.output == "labels"
    with pytest.raises(ValueError, match="must return"):
        extraction.extraction_curve(lambda x: np.zeros((len(x), 3)), pool, [50], eval_x=eval_x,
                                    eval_victim_labels=victim_labels, steps=5, progress=False)
    with pytest.raises(ValueError, match="budgets"):
        extraction.extraction_curve(lambda x: x, pool, [], eval_x=eval_x, eval_victim_labels=victim_labels)
