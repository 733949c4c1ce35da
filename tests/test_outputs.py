"""Output hardening: each policy reveals what it promises and no more."""
import numpy as np
import pytest

from course_lib.defenses import outputs


@pytest.fixture
def probs():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(50, 7))
    return outputs.softmax(logits)


def test_softmax_rows_are_distributions_even_for_huge_logits():
    p = outputs.softmax(np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    assert p[0, 0] > p[0, 1] > p[0, 2]


@pytest.mark.parametrize("decimals", [0, 1, 2, 4])
def test_rounded_keeps_few_decimals_and_sums_near_one(probs, decimals):
    r = outputs.rounded(probs, decimals)
    np.testing.assert_allclose(r * 10**decimals, np.round(r * 10**decimals), atol=1e-6)
    tolerance = probs.shape[1] * 0.5 * 10**-decimals + 1e-9
    assert np.all(np.abs(r.sum(axis=1) - 1.0) <= tolerance)
    assert np.abs(r - probs).max() <= 0.5 * 10**-decimals + 1e-9


def test_rounding_hides_differences_full_probabilities_show(probs):
    close = probs[:1] + np.array([[1e-4, -1e-4, 0, 0, 0, 0, 0]])
    assert not np.array_equal(probs[:1], close)
    np.testing.assert_array_equal(outputs.rounded(probs[:1], 2), outputs.rounded(close, 2))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_top_k_keeps_the_k_largest(probs, k):
    t = outputs.top_k(probs, k)
    assert np.all((t > 0).sum(axis=1) == k)
    np.testing.assert_array_equal(t.argmax(axis=1), probs.argmax(axis=1))
    kept_min = np.where(t > 0, t, np.inf).min(axis=1)
    dropped_max = np.where(t > 0, -np.inf, probs).max(axis=1)
    assert np.all(kept_min >= dropped_max)


def test_top_k_breaks_ties_towards_the_lower_class():
    np.testing.assert_array_equal(outputs.top_k(np.array([[0.25, 0.25, 0.25, 0.25]]), 2), [[0.25, 0.25, 0, 0]])


def test_labels_only_are_int64_argmax(probs):
    labels = outputs.labels_only(probs)
    assert labels.dtype == np.int64 and labels.shape == (len(probs),)
    np.testing.assert_array_equal(labels, probs.argmax(axis=1))


def test_harden_dispatches_every_policy(probs):
    np.testing.assert_array_equal(outputs.harden(probs, "probs"), probs)
    np.testing.assert_array_equal(outputs.harden(probs, "rounded", decimals=1), outputs.rounded(probs, 1))
    np.testing.assert_array_equal(outputs.harden(probs, "top_k", k=2), outputs.top_k(probs, 2))
    np.testing.assert_array_equal(outputs.harden(probs, "labels"), outputs.labels_only(probs))


def test_as_probability_matrix_turns_labels_into_one_hot(probs):
    one_hot = outputs.as_probability_matrix(np.array([2, 0]), 3)
    np.testing.assert_array_equal(one_hot, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(outputs.as_probability_matrix(probs, 7), probs)
    with pytest.raises(ValueError, match="labels must lie"):
        outputs.as_probability_matrix(np.array([3]), 3)
    with pytest.raises(ValueError, match="columns"):
        outputs.as_probability_matrix(probs, 5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: outputs.harden(p, "logits"), "unknown output"),
        (lambda p: outputs.rounded(p, -1), "decimals"),
        (lambda p: outputs.rounded(p, 1.5), "decimals"),
        (lambda p: outputs.top_k(p, 0), "k must be"),
        (lambda p: outputs.top_k(p, 8), "larger than the number of classes"),
        (lambda p: outputs.labels_only(p[0]), "shape"),
        (lambda p: outputs.softmax(np.full((2, 3), np.nan)), "NaN"),
    ],
)
def test_bad_parameters_stop_with_a_clear_error(probs, call, message):
    with pytest.raises(ValueError, match=message):
        call(probs)
