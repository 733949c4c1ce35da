"""Membership inference at low FPR (loss attack, offline LiRA) and the epsilon lower bound an attack proves."""
import math

import course_lib  # noqa: F401  (before TensorFlow: the 3.12 stack needs its legacy-Keras switch)
import numpy as np
import pytest
import scipy.optimize
import scipy.stats
from tensorflow_privacy.privacy.privacy_tests.epsilon_lower_bound import BoundMethod, RatioBound

from course_lib.attacks import lira
from course_lib.config import ConfigError
from course_lib.dp import accounting


# --- a synthetic population where difficulty varies per record ------------------------------------------------------

def _population(n=4000, refs=8, boost=1.5, seed=0):
    """Records of very different difficulty; members get a small, fixed confidence boost.

    The target's logit-scaled confidence is difficulty + noise (+ boost for members); OUT reference models see the
    same difficulty with their own noise. A global threshold mostly reads difficulty, LiRA subtracts it.
    """
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 4.0, 2 * n)
    member = np.zeros(2 * n, bool)
    member[rng.permutation(2 * n)[:n]] = True
    target = difficulty + rng.normal(0, 0.5, 2 * n) + boost * member
    references = difficulty[None, :] + rng.normal(0, 0.5, (refs, 2 * n))
    return target, references, member


def test_calibrated_attack_beats_the_loss_attack_at_low_fpr():
    target, references, member = _population()
    scores = lira.lira_offline_scores(target, references)
    calibrated = lira.summarize(scores[member], scores[~member], delta=0.0)
    # the loss attack thresholds the confidence itself (a monotone function of the loss for one class)
    plain = lira.summarize(target[member], target[~member], delta=0.0)
    assert calibrated["tpr_at_fpr"][0.01] > 3 * plain["tpr_at_fpr"][0.01]
    assert calibrated["tpr_at_fpr"][0.01] > 0.2 and calibrated["auc"] > plain["auc"]
    assert calibrated["epsilon_lower_bound"] > plain["epsilon_lower_bound"]


def test_per_example_variance_reads_a_record_whose_spread_is_its_own():
    rng = np.random.default_rng(1)
    n, refs = 3000, 16
    spread = np.where(np.arange(2 * n) % 2 == 0, 0.1, 3.0)  # half the records are erratic, half are stable
    member = rng.permutation(np.arange(2 * n) < n)
    target = rng.normal(0, spread) + 0.6 * member
    references = rng.normal(0, spread, (refs, 2 * n))
    per = lira.lira_offline_scores(target, references, variance="per_example")
    glob = lira.lira_offline_scores(target, references, variance="global")
    tpr_per = lira.summarize(per[member], per[~member], delta=0)["tpr_at_fpr"][0.01]
    tpr_glob = lira.summarize(glob[member], glob[~member], delta=0)["tpr_at_fpr"][0.01]
    assert tpr_per > 2 * tpr_glob


def test_logit_confidence_and_loss_from_logits():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [30.0, -30.0, 0.0]])
    labels = np.array([0, 1, 1])
    p = np.exp(2) / (np.exp(2) + 2)
    np.testing.assert_allclose(lira.logit_confidence(logits, labels)[:2], [math.log(p / (1 - p)), math.log(0.5)])
    np.testing.assert_allclose(lira.cross_entropy(logits, labels),
                               [-math.log(p), math.log(3), 60 + math.log(1 + math.exp(-30) + math.exp(-60))])
    assert np.all(lira.loss_scores(logits, labels) == -lira.cross_entropy(logits, labels))


def test_roc_and_tpr_at_fpr_on_known_scores():
    fpr, tpr, auc = lira.roc([3, 2, 1], [0, -1, 1.5])
    assert auc == pytest.approx(8 / 9)
    assert lira.tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(2 / 3)
    assert lira.tpr_at_fpr(fpr, tpr, 1 / 3) == pytest.approx(1.0)
    assert lira.tpr_at_fpr([0.5, 1.0], [0.6, 1.0], 0.1) == 0.0


# --- the epsilon lower bound ------------------------------------------------------------------------------------------

def test_epsilon_from_rates_on_known_numbers():
    assert lira.epsilon_from_rates(0.5, 0.05) == pytest.approx(math.log(10))
    assert lira.epsilon_from_rates(0.5, 0.05, delta=0.1) == pytest.approx(math.log(8))
    # the second inequality: (1 - FPR - delta) / (1 - TPR)
    assert lira.epsilon_from_rates(0.99, 0.5) == pytest.approx(math.log(50))
    assert lira.epsilon_from_rates(0.3, 0.3) == 0.0  # chance proves nothing
    assert lira.epsilon_from_rates(0.1, 0.3) == 0.0
    assert lira.epsilon_from_rates(0.01, 0.0, delta=0.01) == 0.0
    assert lira.epsilon_from_rates(0.5, 0.0) == math.inf


def test_clopper_pearson_matches_tf_privacy_ratio_bound():
    low, high = lira.clopper_pearson(3, 10, 0.05)
    assert (low, high) == pytest.approx((0.0667, 0.6525), abs=1e-4)
    assert lira.clopper_pearson(0, 10, 0.05)[0] == 0.0 and lira.clopper_pearson(10, 10, 0.05)[1] == 1.0
    for tp, fp in ((100, 10), (40, 3), (7, 0)):
        ours = lira.epsilon_bound_at(tp, 500, fp, 600, delta=0.0, alpha=0.05)
        theirs = math.log(RatioBound(tp, fp, 500, 600, 0.05).compute_bound(BoundMethod.CLOPPER_PEARSON))
        assert ours == pytest.approx(max(theirs, 0.0))


def test_bound_is_below_the_point_estimate_and_grows_with_evidence():
    point = lira.epsilon_from_rates(0.2, 0.01)
    small = lira.epsilon_bound_at(20, 100, 1, 100, delta=0.0)
    large = lira.epsilon_bound_at(2000, 10000, 100, 10000, delta=0.0)
    assert small < large < point


def _gaussian_epsilon(sigma, delta):
    """Exact epsilon of the Gaussian mechanism with sensitivity 1 (Balle & Wang 2018)."""
    def delta_at(eps):
        return scipy.stats.norm.cdf(0.5 / sigma - eps * sigma) - math.exp(eps) * scipy.stats.norm.cdf(
            -0.5 / sigma - eps * sigma)
    return scipy.optimize.brentq(lambda e: delta_at(e) - delta, 0, 100)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_bound_never_exceeds_epsilon_of_a_gaussian_mechanism(sigma):
    delta = 1e-5
    true_eps = _gaussian_epsilon(sigma, delta)
    # the course accountant gives the same (one step, every example in the batch)
    accounted = accounting.epsilon(sigma, 100, 100, steps=1, delta=delta, accountant="pld")
    assert accounted == pytest.approx(true_eps, rel=0.02)
    rng = np.random.default_rng(int(sigma * 10))
    n = 20000
    for trial in range(3):
        inside = rng.normal(1.0, sigma, n)  # one run per record: the mechanism's output with the record ...
        outside = rng.normal(0.0, sigma, n)  # ... and without it; the optimal attack thresholds the output
        bound = lira.epsilon_lower_bound(inside, outside, delta=delta, seed=trial)
        assert bound.epsilon <= accounted
    if sigma == 0.5:
        assert bound.epsilon > 0.3 * accounted  # the bound is not vacuous: it comes close when the signal is strong


def test_bound_never_exceeds_the_accounted_epsilon_of_subsampled_dp_sgd():
    """A one-dimensional DP-SGD on a single record: T steps, sampled with probability q, clip 1, noise sigma.

    The attacker sees every noisy step and uses the optimal (likelihood-ratio) score; the accountant's epsilon for
    that sampling must stay above the bound."""
    sigma, q, steps, delta, n = 0.6, 0.2, 10, 1e-5, 20000
    accounted = accounting.epsilon(sigma, 20, 100, steps=steps, delta=delta, accountant="pld")
    rng = np.random.default_rng(7)

    def run(member):
        drawn = rng.random((n, steps)) < q if member else np.zeros((n, steps), bool)
        out = drawn + rng.normal(0, sigma, (n, steps))
        return np.sum(np.log1p(q * np.expm1((2 * out - 1) / (2 * sigma ** 2))), axis=1)  # log likelihood ratio

    bound = lira.epsilon_lower_bound(run(True), run(False), delta=delta)
    assert 0 < bound.epsilon <= accounted


def test_a_leaky_non_private_toy_gets_a_positive_bound_and_chance_gets_zero():
    rng = np.random.default_rng(3)
    # a tenth of the members stand far out: the first inequality (few non-members above the threshold) bites
    members = np.where(rng.random(2000) < 0.1, rng.normal(6, 1, 2000), rng.normal(0, 1, 2000))
    leaky = lira.epsilon_lower_bound(members, rng.normal(0, 1, 2000), delta=1e-5)
    assert leaky.epsilon > 2 and leaky.side == "low_fpr"
    assert leaky.false_positives <= 2 < leaky.true_positives
    chance = lira.epsilon_lower_bound(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000), delta=1e-5)
    assert chance.epsilon == 0.0 and chance.side is None
    assert chance.members == 1000 and chance.nonmembers == 1000 and chance.confidence == 0.95


def test_the_bound_can_come_from_the_high_tpr_end():
    """Members never score very low, a tenth of the non-members do: the second inequality is the one that bites."""
    rng = np.random.default_rng(4)
    members = rng.uniform(0, 1, 4000)
    nonmembers = np.where(rng.random(4000) < 0.1, rng.uniform(-1, 0, 4000), rng.uniform(0, 1, 4000))
    bound = lira.epsilon_lower_bound(members, nonmembers, delta=1e-5)
    assert bound.side == "high_tpr" and bound.epsilon > 1
    assert bound.true_positives == bound.members, "the chosen threshold flags every held-out member"


# --- bad input --------------------------------------------------------------------------------------------------------

def test_bad_input_is_refused_in_one_sentence():
    with pytest.raises(ConfigError, match="2 reference models"):
        lira.lira_offline_scores(np.zeros(5), np.zeros((1, 5)))
    with pytest.raises(ConfigError, match="shape"):
        lira.lira_offline_scores(np.zeros(5), np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="variance"):
        lira.lira_offline_scores(np.zeros(5), np.zeros((3, 5)), variance="median")
    with pytest.raises(ConfigError, match="finite"):
        lira.lira_offline_scores(np.array([0, np.nan]), np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="labels"):
        lira.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 4]))
    with pytest.raises(ConfigError, match="logits"):
        lira.logit_confidence(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ConfigError, match="rate"):
        lira.epsilon_from_rates(1.2, 0.1)
    with pytest.raises(ConfigError, match="delta"):
        lira.epsilon_from_rates(0.5, 0.1, delta=-1e-5)
    with pytest.raises(ConfigError, match="successes"):
        lira.clopper_pearson(11, 10, 0.05)
    with pytest.raises(ConfigError, match="at least 2"):
        lira.epsilon_lower_bound([1.0], [0.0, 1.0], delta=1e-5)
    with pytest.raises(ConfigError, match="finite"):
        lira.roc([1.0, math.inf], [0.0])
    with pytest.raises(ConfigError, match="confidence"):
        lira.epsilon_lower_bound([1.0, 2.0], [0.0, 1.0], delta=1e-5, confidence=1.0)
    with pytest.raises(ConfigError, match="target_fpr"):
        lira.tpr_at_fpr([0, 1], [0, 1], 2.0)
