"""Membership inference through TF Privacy: an over-fitted toy leaks, a model that answers the same for all does not."""
import numpy as np
import pytest

from course_lib.attacks import membership
from course_lib.data.mnist import load_mnist


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = load_mnist()
    return (x[:200], y[:200]), (x[30000:30200], y[30000:30200])


def test_overfit_toy_leaks_membership(digits):
    members, non_members = digits
    model = membership.train_target(*members, regularised=False, epochs=20, seed=0, progress=False)
    result = membership.membership_attack(membership.model_query(model), members, non_members)
    assert result.auc > 0.6
    assert set(result.per_attack) == {"threshold", "logistic_regression"}
    assert 0 < result.advantage <= 1
    assert result.best_attack in result.per_attack
    assert len(result.fpr) == len(result.tpr) > 2
    assert result.access["queries"] == 400 and result.access["weights"] is False


def test_outputs_that_ignore_the_input_give_chance_auc(digits):
    members, non_members = digits
    uniform = lambda x: np.full((len(x), 10), 0.1)  # noqa: E731
    result = membership.membership_attack(uniform, members, non_members, attacks=("threshold",))
    assert result.auc == pytest.approx(0.5, abs=0.05)


def test_bad_arguments_are_refused(digits):
    members, non_members = digits
    uniform = lambda x: np.full((len(x), 10), 0.1)  # noqa: E731
    with pytest.raises(ValueError, match="attacks"):
        membership.membership_attack(uniform, members, non_members, attacks=("telepathy",))
    with pytest.raises(ValueError, match="at least 10"):
        membership.membership_attack(uniform, (members[0][:5], members[1][:5]), non_members)
    with pytest.raises(ValueError, match="shape"):
        membership.membership_attack(lambda x: np.zeros(len(x)), members, non_members)
    with pytest.raises(ValueError, match="dropout"):
        membership.regularised_target(dropout=1.0)
