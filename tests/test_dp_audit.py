"""Notebook 02's audit: the coin-flip membership split, both attacks on trained models, the sentences that read them."""
import course_lib  # noqa: F401  (before TensorFlow: the 3.12 stack needs its legacy-Keras switch)
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.config import ConfigError  # noqa: E402
from course_lib.data.mnist import load_mnist  # noqa: E402
from course_lib.dp import audit, figures  # noqa: E402


def test_membership_split_is_a_coin_per_candidate_and_the_rest_always_in():
    split = audit.membership_split(10000, 2000, seed=3)
    assert len(split.members) + len(split.nonmembers) == 2000
    assert 900 < len(split.members) < 1100, "a fair coin"
    assert len(split.always_in) == 8000
    assert set(split.train) == set(split.always_in) | set(split.members)
    assert not set(split.nonmembers) & set(split.train)
    assert len(np.unique(np.concatenate([split.always_in, split.candidates]))) == 10000
    assert split.is_member.sum() == len(split.members) and len(split.is_member) == 2000
    again = audit.membership_split(10000, 2000, seed=3)
    assert np.array_equal(again.members, split.members)
    assert not np.array_equal(audit.membership_split(10000, 2000, seed=4).members, split.members)
    with pytest.raises(ConfigError, match="n_candidates"):
        audit.membership_split(100, 100, seed=0)
    with pytest.raises(ConfigError, match="n_candidates"):
        audit.membership_split(100, 10, seed=0)


class _Lookup:
    """A "model" answering fixed logits per image id (the image's first pixel holds its id)."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, np.float32)

    def __call__(self, x, training=False):
        return self.logits[np.asarray(x)[:, 0, 0, 0].astype(int)]


def _toy(n=2000, boost=0.0, seed=0, vulnerable=0.2):
    """Candidates of varied difficulty; a share ``vulnerable`` of the members gets ``boost`` on its confidence."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    x = np.zeros((n, 28, 28), np.float32)
    x[:, 0, 0] = ids
    y = rng.integers(0, 10, n)
    member = rng.random(n) < 0.5
    difficulty = rng.normal(3, 2, n)

    def logits(shift):
        out = rng.normal(0, 0.1, (n, 10))
        out[ids, y] = difficulty + rng.normal(0, 0.3, n) + shift
        return out

    leaks = member & (rng.random(n) < vulnerable)
    return x, y, member, _Lookup(logits(boost * leaks)), [_Lookup(logits(0)) for _ in range(3)]


def test_attack_rows_give_the_results_contract_and_the_calibrated_attack_wins_on_a_leaky_toy():
    x, y, member, target, references = _toy(boost=3.0)
    results = [{"model": target, "epsilon_pld": None, "test_acc": 0.9, "noise_multiplier": 0.0,
                "activation": "relu", "epochs": 2}]
    rows, curves = audit.attack_rows(results, references, x, y, member, delta=1e-5)
    assert [r["attack"] for r in rows] == ["loss", "calibrated"]
    assert set(rows[0]) == {"epsilon", "test_acc", "auc", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr",
                            "epsilon_lower_bound", "attack"}
    loss, calibrated = rows
    assert calibrated["tpr_at_1pct_fpr"] > 2 * loss["tpr_at_1pct_fpr"]
    assert calibrated["epsilon_lower_bound"] > 0.5 > loss["epsilon_lower_bound"]
    assert curves[1]["members"] == member.sum() and len(curves[1]["fpr"]) == len(curves[1]["tpr"])
    text = audit.verdict(curves, delta=1e-5, sampling="poisson")
    assert "per training image (one image), delta 1e-05, poisson sampling" in text
    assert f"epsilon >= {calibrated['epsilon_lower_bound']:.2f}" in text and "a few members stand out" in text
    axes = figures.plot_mia_roc(curves)
    assert [ax.get_xscale() for ax in axes] == ["log", "log"] and len(axes[0].get_lines()) == 4


def test_verdict_says_when_nothing_leaks_and_checks_bounds_against_epsilon():
    x, y, member, target, references = _toy(boost=0.0)
    results = [{"model": target, "epsilon_pld": None, "test_acc": 0.9, "noise_multiplier": 0.0,
                "activation": "relu", "epochs": 2},
               {"model": references[0], "epsilon_pld": 2.0, "test_acc": 0.8, "noise_multiplier": 0.7,
                "activation": "tanh", "epochs": 4}]
    rows, curves = audit.attack_rows(results, references[1:], x, y, member, delta=1e-5)
    text = audit.verdict(curves, delta=1e-5, sampling="poisson")
    assert "proves nothing" in text and "trained for 2 epochs" in text
    assert "epsilon <= 2.00 (PLD)" in text and "Every lower bound is below its accounted epsilon" in text
    broken = [dict(c, epsilon=0.0) if c["epsilon"] is not None else c for c in curves]
    broken = [dict(c, epsilon_lower_bound=0.1) if c["epsilon"] == 0.0 else c for c in broken]
    assert "EXCEEDS" in audit.verdict(broken, delta=1e-5, sampling="poisson")


def test_bad_arguments_are_refused():
    x, y, member, target, references = _toy()
    results = [{"model": target, "epsilon_pld": None, "test_acc": 0.9, "noise_multiplier": 0.0}]
    with pytest.raises(ConfigError, match="one entry per candidate"):
        audit.attack_rows(results, references, x, y[:-1], member, delta=1e-5)
    with pytest.raises(ConfigError, match="members and non-members"):
        audit.attack_rows(results, references, x, y, np.ones(len(x), bool), delta=1e-5)
    with pytest.raises(ConfigError, match="at least 2 reference models"):
        audit.train_references(1, x, y, x, y, epochs=1, seed=0, l2_norm_clip=1.0, batch_size=32,
                               learning_rate=1e-3, optimizer="adam")
    with pytest.raises(ConfigError, match="curves"):
        audit.verdict([], delta=1e-5, sampling="poisson")


def test_sweep_and_references_train_real_models_on_the_split():
    (x, y), (xt, yt) = load_mnist()
    split = audit.membership_split(600, 200, seed=0)
    settings = dict(l2_norm_clip=1.0, batch_size=64, learning_rate=2e-3, optimizer="adam", delta=1e-5)
    sweep = audit.train_sweep([{"noise_multiplier": 0.0, "activation": "relu", "epochs": 1},
                               {"noise_multiplier": 1.0, "activation": "tanh", "epochs": 1}],
                              x[split.train], y[split.train], xt[:256], yt[:256], seed=0, progress=False, **settings)
    assert [r["activation"] for r in sweep] == ["relu", "tanh"]
    assert sweep[0]["epsilon_pld"] is None and sweep[1]["epsilon_pld"] > 0 and "model" in sweep[1]
    references = audit.train_references(2, x[split.always_in], y[split.always_in], xt[:256], yt[:256], epochs=1,
                                        seed=0, **settings)
    assert len(references) == 2
    assert not np.allclose(references[0].get_weights()[0], references[1].get_weights()[0]), "each its own seed"
    rows, _ = audit.attack_rows(sweep, references, x[split.candidates], y[split.candidates], split.is_member,
                                delta=1e-5)
    assert len(rows) == 4 and all(0 <= r["auc"] <= 1 and r["epsilon_lower_bound"] >= 0 for r in rows)
