"""The black-box latent search: it improves on random search using only answers, respects the service's budget
(stopping with what it found), and repeats itself under the same seed."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib import config
from course_lib.defenses import blackbox_inversion as bb
from course_lib.defenses.client import BudgetExhausted

N_CLASSES = 4
SCORES = np.random.default_rng(3).normal(size=(2 * 2 * 2, N_CLASSES)).astype(np.float32)


def toy_generator() -> tf.keras.Model:
    """z (6,) -> a 2x2x2 'image' in [0, 1], fixed weights."""
    tf.keras.utils.set_random_seed(0)
    z = tf.keras.Input((6,))
    x = tf.keras.layers.Dense(8, activation="sigmoid")(z)
    return tf.keras.Model(z, tf.keras.layers.Reshape((2, 2, 2))(x))


def toy_target(images: np.ndarray) -> np.ndarray:
    return 6.0 * np.asarray(images).reshape(len(images), -1) @ SCORES


def probs_query(images):
    logits = toy_target(images)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mean_kept_prob(outcome) -> float:
    return float(outcome.result.target_prob.max(axis=1).mean())


def test_search_beats_its_own_random_start_and_is_reproducible():
    generator = toy_generator()
    labels = np.arange(N_CLASSES)
    start_only = bb.latent_search(generator, None, probs_query, labels, N_CLASSES,
                                  bb.SearchSettings(initial=16, population=8, generations=0, elite=2), seed=1,
                                  progress=False)
    searched = bb.latent_search(generator, None, probs_query, labels, N_CLASSES,
                                bb.SearchSettings(initial=16, population=8, generations=15, elite=2), seed=1,
                                progress=False)
    again = bb.latent_search(generator, None, probs_query, labels, N_CLASSES,
                             bb.SearchSettings(initial=16, population=8, generations=15, elite=2), seed=1,
                             progress=False)
    assert searched.queries == 16 + 15 * 8 * N_CLASSES and not searched.refused
    assert mean_kept_prob(searched) > mean_kept_prob(start_only) + 0.05
    np.testing.assert_array_equal(searched.result.images, again.result.images)
    assert searched.result.images.shape == (N_CLASSES, 2, 2, 2, 2)


def test_a_spent_budget_stops_the_search_with_what_it_found():
    generator = toy_generator()
    settings = bb.SearchSettings(initial=10, population=3, generations=5, elite=2)
    outcome = bb.through_service(generator, None, toy_target, np.arange(N_CLASSES), N_CLASSES, settings,
                                 budget=10 + 2 * 3 * N_CLASSES, input_shape=(2, 2, 2), seed=0, progress=False)
    assert outcome.refused and outcome.generations_done == 2
    assert outcome.queries == 10 + 2 * 3 * N_CLASSES
    assert outcome.result.images.shape[:2] == (N_CLASSES, 2)


def test_labels_only_answers_still_run():
    generator = toy_generator()
    outcome = bb.through_service(generator, None, toy_target, [0, 1], N_CLASSES,
                                 bb.SearchSettings(initial=12, population=2, generations=2, elite=2), output="labels",
                                 input_shape=(2, 2, 2), seed=0, progress=False)
    assert set(np.unique(outcome.result.target_prob)) <= {0.0, 1.0}


def test_refused_from_the_start_and_bad_settings_say_so():
    def closed(images):
        raise BudgetExhausted(429, "query budget exhausted", 1.0, None)

    with pytest.raises(ValueError, match="budget cannot pay"):
        bb.latent_search(toy_generator(), None, closed, [0], N_CLASSES, bb.SearchSettings(4, 2, 1, 2), seed=0,
                         progress=False)
    with pytest.raises(config.ConfigError, match="elite"):
        bb.SearchSettings(initial=2, population=2, generations=1, elite=3)
    with pytest.raises(ValueError, match="labels must lie"):
        bb.latent_search(toy_generator(), None, probs_query, [7], N_CLASSES, bb.SearchSettings(4, 2, 1, 2), seed=0,
                         progress=False)


# -- white box against black box, over seeds ----------------------------------------------------------------------
def test_summary_gives_mean_and_spread_of_each_access_and_refuses_no_rows():
    rows = [{"seed": 0, "white box": 0.8, "scores": 0.4, "labels": 0.6, "queries": 10},
            {"seed": 1, "white box": 0.6, "scores": 0.6, "labels": 0.2, "queries": 10}]
    summary = {r["access"]: r for r in bb.summarise_access(rows, chance=0.1)}
    assert list(summary) == ["white box", "scores", "labels"]
    assert summary["white box"]["mean top-1"] == pytest.approx(0.7)
    assert (summary["labels"]["lowest"], summary["labels"]["highest"]) == (0.2, 0.6)
    assert summary["scores"]["x chance"] == pytest.approx(5.0) and summary["scores"]["seeds"] == 2
    with pytest.raises(ValueError, match="at least one seed"):
        bb.summarise_access([], chance=0.1)


def test_access_row_runs_the_three_accesses_and_repeats_under_its_seed():
    from course_lib.defenses.dp_vs_attacks import GmiSettings
    from course_lib.models import gan, targets

    shape, n_classes = (8, 8, 3), 3
    tf.keras.utils.set_random_seed(0)
    generator = gan.build_generator(shape, z_dim=8, width=4)
    critic = gan.build_critic(shape, width=4)
    target = targets.evaluation_model(shape, n_classes, width=4)
    evaluation = targets.evaluation_model(shape, n_classes, width=4)
    search = bb.SearchSettings(initial=8, population=2, generations=2, elite=2)
    rows = [bb.access_row(generator, critic, target, evaluation, n_classes, GmiSettings(1, 2), search, seed=s)
            for s in (3, 3)]
    assert rows[0] == rows[1]
    assert rows[0]["seed"] == 3 and rows[0]["queries"] == search.queries(n_classes)
    assert all(0 <= rows[0][access] <= 1 for access in bb.ACCESSES)


def test_reading_follows_the_numbers():
    def rows(white, scores, labels):
        return [{"seed": s, "white box": w, "scores": c, "labels": l, "queries": 1}
                for s, (w, c, l) in enumerate(zip(white, scores, labels))]

    clear = bb.read_access(bb.summarise_access(rows([0.9, 0.8], [0.4, 0.5], [0.0, 0.2]), 0.1), 0.1)
    assert clear[0].startswith("Over 2 seeds: white box 85% (80% to 90%)")
    assert "beat chance at every seed (4.5 times" in clear[1]
    assert "on average (1.0 times) but not" not in clear[2] and "did no better than chance" in clear[2]
    assert "weights won at every seed" in clear[3] and "by 40 points" in clear[3]
    mixed = bb.read_access(bb.summarise_access(rows([0.6, 0.9], [0.7, 0.5], [0.3, 0.05]), 0.1), 0.1)
    assert "but not at every seed" in mixed[2] and "white box leads on average (15 points)" in mixed[3]
    with pytest.raises(ValueError, match="one row for each"):
        bb.read_access(bb.summarise_access(rows([0.5], [0.5], [0.5]), 0.1)[:2], 0.1)
    with pytest.raises(ValueError, match="probability"):
        bb.read_access([], 1.5)
