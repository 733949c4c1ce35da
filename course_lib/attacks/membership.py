"""Membership inference: was this record in the training set? (Shokri et al. 2017; Yeom et al. 2018)

The attacks themselves are TensorFlow Privacy's (``run_attacks`` from the ``tensorflow-empirical-privacy`` package:
a loss-threshold attack and trained attackers such as logistic regression). This module only queries the target,
hands the outputs to that library and returns AUC, attacker advantage and the ROC curve of the strongest attack;
plus the two MNIST targets of notebook 01, one over-fitted and one regularised, to compare.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf
from threadpoolctl import threadpool_limits
from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import membership_inference_attack as mia
from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack.data_structures import (
    AttackInputData,
    AttackType,
    SlicingSpec,
)

from course_lib import config
from course_lib.attacks.extraction import model_api
from course_lib.models import classifiers

ATTACKS = {
    "threshold": AttackType.THRESHOLD_ATTACK,
    "threshold_entropy": AttackType.THRESHOLD_ENTROPY_ATTACK,
    "logistic_regression": AttackType.LOGISTIC_REGRESSION,
    "mlp": AttackType.MULTI_LAYERED_PERCEPTRON,
    "random_forest": AttackType.RANDOM_FOREST,
    "knn": AttackType.K_NEAREST_NEIGHBORS,
}


@dataclass
class MembershipResult:
    """Outcome of the membership attacks on one target; ``auc``/``advantage`` are the best over the attacks run."""

    auc: float
    advantage: float
    best_attack: str
    fpr: np.ndarray  # ROC of the best attack
    tpr: np.ndarray
    per_attack: dict[str, dict[str, float]]  # attack -> {"auc": ..., "advantage": ...}
    access: dict[str, Any] = field(default_factory=dict)



def model_query(model: tf.keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A black-box view of a logits model: x -> class probabilities (the same API extraction attacks use)."""
    return model_api(model, "probs")


def membership_attack(
    query: Callable[[np.ndarray], np.ndarray],
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    *,
    attacks: Sequence[str] = ("threshold", "logistic_regression"),
) -> MembershipResult:
    """Query the target on known members and non-members, then run TF Privacy's membership attacks on its outputs.

    ``query`` maps inputs to class probabilities (n, classes): the attacker needs only the target's answers and the
    true labels of the candidate records. The trained attackers (e.g. logistic regression) are fitted by the library
    on part of these records and scored on the rest.
    """
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown or not attacks:
        raise ValueError(f"attacks must be a non-empty list drawn from {sorted(ATTACKS)}, got {list(attacks)}")
    (x_in, y_in), (x_out, y_out) = members, non_members
    if len(x_in) != len(y_in) or len(x_out) != len(y_out):
        raise ValueError("each of members and non_members must have as many labels as inputs")
    if len(x_in) < 10 or len(x_out) < 10:
        raise ValueError("membership attacks need at least 10 members and 10 non-members to be meaningful")
    probs_in, probs_out = np.asarray(query(x_in), np.float64), np.asarray(query(x_out), np.float64)
    if probs_in.ndim != 2 or probs_in.shape[0] != len(x_in):
        raise ValueError(f"query must return probabilities of shape (n, classes), got {probs_in.shape}")
    attack_input = AttackInputData(
        probs_train=probs_in,
        probs_test=probs_out,
        labels_train=np.asarray(y_in, np.int64),
        labels_test=np.asarray(y_out, np.int64),
    )
    # One BLAS thread: the attackers are tiny scikit-learn fits, and next to TensorFlow's threads a multi-threaded
    # BLAS spins on a shared CPU (measured: 3 s instead of 0.2 s for the logistic-regression grid search).
    with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(1):
        # the library's epsilon lower bounds divide by zero at the ROC's ends and warn; AUC/advantage are unaffected
        warnings.simplefilter("ignore", RuntimeWarning)
        results = mia.run_attacks(
            attack_input,
            SlicingSpec(entire_dataset=True),
            attack_types=[ATTACKS[a] for a in attacks],
        )
    per_attack, best = {}, None
    for name, single in zip(attacks, results.single_attack_results):
        per_attack[name] = {"auc": float(single.get_auc()), "advantage": float(single.get_attacker_advantage())}
        if best is None or single.get_auc() > best[1].get_auc():
            best = (name, single)
    name, single = best
    access = {
        "architecture": False,
        "weights": False,
        "gradients": False,
        "queries": len(x_in) + len(x_out),
        "data": "candidate records with labels, some known members and non-members",
    }
    return MembershipResult(
        auc=per_attack[name]["auc"],
        advantage=max(v["advantage"] for v in per_attack.values()),
        best_attack=name,
        fpr=np.asarray(single.roc_curve.fpr),
        tpr=np.asarray(single.roc_curve.tpr),
        per_attack=per_attack,
        access=access,
    )


def overfit_target(n_classes: int = 10) -> tf.keras.Sequential:
    """A one-hidden-layer MLP for 28x28 digits with no regulariser: trained long on a small set, it memorises it."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(256, activation="relu"),
            tf.keras.layers.Dense(n_classes),
        ],
        name="mlp_overfit",
    )


def regularised_target(n_classes: int = 10, *, l2: float = 1e-3, dropout: float = 0.5) -> tf.keras.Sequential:
    """A small CNN with the textbook regularisers (weight decay, dropout; trained briefly = early stopping), which
    generalises better from the same data and so narrows the train/test gap membership attacks feed on."""
    config.require_non_negative("l2", l2)
    if not 0 <= dropout < 1:
        raise config.ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
    penalty = tf.keras.regularizers.L2(l2) if l2 else None
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
            tf.keras.layers.Conv2D(16, 3, activation="relu", kernel_regularizer=penalty),
            tf.keras.layers.MaxPool2D(2),
            tf.keras.layers.Conv2D(32, 3, activation="relu", kernel_regularizer=penalty),
            tf.keras.layers.MaxPool2D(2),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dropout(dropout),
            tf.keras.layers.Dense(n_classes, kernel_regularizer=penalty),
        ],
        name="cnn_regularised",
    )


def train_target(
    x: np.ndarray,
    y: np.ndarray,
    *,
    regularised: bool,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> tf.keras.Model:
    """Train ``regularised_target()`` or ``overfit_target()`` on (x, y) with the shared recipe."""
    config.seed_everything(seed)
    model = regularised_target() if regularised else overfit_target()
    classifiers.train_classifier(
        model, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, progress=progress
    )
    return model
