"""Query limits and output hardening against extraction and membership inference, through the real HTTP service:
a bigger budget never yields a worse copy, labels leak no more membership than probabilities, and a spent budget
ends the attack with the answers obtained instead of a crash."""
import numpy as np
import pytest
import tensorflow as tf

from course_lib.defenses import query_limits
from course_lib.defenses.client import BudgetExhausted

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(36, 3)).astype(np.float32)


def linear_victim(x: np.ndarray) -> np.ndarray:
    """A numpy 'model' on 6x6x1 inputs: 3 logits, sharp enough that its labels are a clean linear rule."""
    return 4.0 * x.reshape(len(x), -1) @ WEIGHTS


def dense_student(input_shape, n_classes):
    return tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=tuple(input_shape)),
                                tf.keras.layers.Flatten(), tf.keras.layers.Dense(n_classes)])


def test_collect_until_refused_keeps_the_answers_obtained():
    calls = []

    def query(x):
        calls.append(len(x))
        if len(calls) == 3:
            raise BudgetExhausted(429, "query budget exhausted", 1.0, np.zeros((2, 3), np.float32))
        return np.ones((len(x), 3), np.float32)

    got = query_limits.collect_until_refused(query, np.zeros((50, 4)), chunk=10)
    assert got.refused and got.n == 22 and "exhausted" in got.refusal
    assert len(calls) == 3  # stopped at the refusal instead of hammering the service


def test_a_spent_budget_ends_collection_without_crashing():
    pool = RNG.normal(size=(40, 6, 6, 1)).astype(np.float32)
    with query_limits.served(linear_victim, 25, "labels", input_shape=(6, 6, 1)) as service:
        from course_lib.defenses.client import ServiceClient

        with ServiceClient(service.url, query_limits.ATTACKER_KEY, batch_size=10) as client:
            got = query_limits.collect_until_refused(client.query, pool, chunk=8)
        assert service.usage(query_limits.ATTACKER_KEY)["used"] == 25
    assert got.refused and got.n == 25
    np.testing.assert_array_equal(got.answers, linear_victim(pool[:25]).argmax(axis=1))


def test_a_bigger_budget_gives_a_copy_at_least_as_faithful():
    pool = RNG.normal(size=(260, 6, 6, 1)).astype(np.float32)
    eval_x = RNG.normal(size=(400, 6, 6, 1)).astype(np.float32)
    run = query_limits.extraction_through_service(
        linear_victim, pool, [8, 250], output="probs", eval_x=eval_x,
        eval_victim_labels=linear_victim(eval_x).argmax(axis=1), n_classes=3, steps=150, learning_rate=1e-2,
        input_shape=(6, 6, 1), make_student=dense_student, seed=0)
    small, big = (p["fidelity"] for p in run.points)
    assert run.refused and run.queries == 250  # the attacker asked for 260, the key allowed 250
    assert [p["budget"] for p in run.points] == [8, 250] and {p["output"] for p in run.points} == {"probs"}
    assert big >= small and big > 0.85


def memoriser_factory(members_x, members_y, n_classes=3):
    """An 'over-fitted' toy: very confident on the exact inputs it memorised, hesitant elsewhere."""
    flat = members_x.reshape(len(members_x), -1)

    def model(x):
        x = x.reshape(len(x), -1)
        dist = ((x[:, None, :] - flat[None, :, :]) ** 2).sum(-1)
        logits = np.full((len(x), n_classes), -np.inf, np.float32)
        for c in range(n_classes):
            logits[:, c] = -dist[:, members_y == c].min(axis=1)
        return logits * 0.5

    return model


def test_labels_leak_no_more_membership_than_probabilities():
    x = RNG.normal(size=(80, 4)).astype(np.float32)
    y = RNG.integers(0, 3, size=80)
    members, non_members = (x[:40], y[:40]), (x[40:], y[40:])
    model = memoriser_factory(*members)
    runs = {r.output: r for r in query_limits.mia_vs_output(model, members, non_members, input_shape=(4,),
                                                            policies=("probs", "labels"), n_classes=3,
                                                            attacks=("threshold",))}
    assert runs["probs"].auc > 0.8
    assert runs["labels"].auc <= runs["probs"].auc
    assert runs["probs"].queries == runs["labels"].queries == 80
    assert query_limits.mia_points(runs.values()) == [{"output": "probs", "auc": runs["probs"].auc},
                                                      {"output": "labels", "auc": runs["labels"].auc}]


def test_a_smaller_budget_tests_fewer_candidates_and_the_auc_falls_towards_a_coin():
    x = RNG.normal(size=(120, 4)).astype(np.float32)
    y = RNG.integers(0, 3, size=120)
    members, non_members = (x[:60], y[:60]), (x[60:], y[60:])
    run = query_limits.membership_vs_budget(memoriser_factory(*members), members, non_members, [12, 60, 100],
                                            output="probs", n_classes=3, input_shape=(4,), seed=1)
    aucs = [p["auc"] for p in run.points]
    assert run.refused and run.queries == 100  # 120 candidates, the key allowed 100
    assert [p["tested"] for p in run.points] == pytest.approx([0.1, 0.5, 100 / 120])
    assert aucs[0] < aucs[1] < aucs[2] and aucs[2] > 0.85 and abs(aucs[0] - 0.5) < 0.15
    same = query_limits.membership_vs_budget(memoriser_factory(*members), members, non_members, [12, 60, 100],
                                             output="probs", n_classes=3, input_shape=(4,), seed=1)
    assert same.points == run.points  # same seed, same order of testing, same numbers
    labels = query_limits.membership_vs_budget(memoriser_factory(*members), members, non_members, [100],
                                               output="labels", n_classes=3, input_shape=(4,), seed=1)
    assert labels.points[0]["auc"] <= aucs[2]
    with pytest.raises(ValueError, match="exceeds the 120 candidates"):
        query_limits.membership_vs_budget(linear_victim, members, non_members, [200], output="probs", n_classes=3)
    with pytest.raises(ValueError, match="output must be one of"):
        query_limits.membership_vs_budget(linear_victim, members, non_members, [20], output="logits", n_classes=3)


def test_bad_requests_are_refused_with_a_clear_error():
    pool = np.zeros((5, 6, 6, 1), np.float32)
    with pytest.raises(ValueError, match="output must be one of"):
        query_limits.extraction_through_service(linear_victim, pool, [2], output="top_secret", eval_x=pool,
                                                eval_victim_labels=np.zeros(5), input_shape=(6, 6, 1))
    with pytest.raises(ValueError, match="fewer than the largest budget"):
        query_limits.extraction_through_service(linear_victim, pool, [10], output="probs", eval_x=pool,
                                                eval_victim_labels=np.zeros(5), input_shape=(6, 6, 1))
    with pytest.raises(ValueError, match="empty"):
        query_limits.collect_until_refused(lambda x: x, np.zeros((0, 3)))
