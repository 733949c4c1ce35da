"""Differential privacy against the privacy attacks: does DP-SGD stop membership inference, and model inversion?

The same Datamons target is trained without DP and at several noise levels (notebook 02's ``dp.training.train_dp``,
epsilon from ``dp.accounting``), then attacked twice: TF Privacy's membership attack (notebook 01) and the GMI attack
with the GAN prior, judged by the independent evaluation model (notebook 03). DP bounds what ONE training example
can change, which is exactly what membership inference tests; GMI asks what a whole identity (hundreds of portraits)
looks like, a property of the class that a per-example guarantee does not hide. Zhang et al. (2020) report that DP
is of little avail against their attack; ``dp_vs_attacks`` measures it here, with the utility each epsilon costs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from course_lib import config


def member_split(x: np.ndarray, y: np.ndarray, per_identity: int) -> tuple[tuple[np.ndarray, np.ndarray],
                                                                         tuple[np.ndarray, np.ndarray]]:
    """The first ``per_identity`` examples of every class are the members (the target's training set); as many
    of the remaining examples of the same classes are the non-members, so both sets come from one distribution."""
    config.require_positive("per_identity", per_identity, integer=True)
    x, y = np.asarray(x), np.asarray(y)
    members, others = [], []
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        if len(index) < 2 * per_identity:
            raise ValueError(f"class {label} has {len(index)} examples; member_split needs 2 x {per_identity} "
                             "(members and as many non-members)")
        members.append(index[:per_identity])
        others.append(index[per_identity : 2 * per_identity])
    m, o = np.concatenate(members), np.concatenate(others)
    return (x[m], y[m]), (x[o], y[o])


@dataclass
class GmiSettings:
    """The GMI attack of notebook 03 as notebook 04 runs it (fewer restarts and steps than 03, same method)."""

    restarts: int
    iterations: int
    lr: float = 0.02
    momentum: float = 0.9
    lam: float = 100.0

    def __post_init__(self) -> None:
        config.require_positive("gmi restarts", self.restarts, integer=True)
        config.require_positive("gmi iterations", self.iterations, integer=True)


def gmi_top1(generator, critic, target, evaluation, n_classes: int, settings: GmiSettings, *, seed: int,
             progress: bool = False) -> tuple[float, Any]:
    """White-box GMI (``attacks.inversion.gmi_attack``) on every identity, scored by the evaluation model's top-1
    on the restart the target prefers (``attacks.metrics.attack_accuracy``). Returns (top-1, InversionResult)."""
    from course_lib.attacks import inversion, metrics

    result = inversion.gmi_attack(generator, critic, target, np.arange(n_classes), restarts=settings.restarts,
                                  iterations=settings.iterations, seed=seed, lr=settings.lr,
                                  momentum=settings.momentum, lam=settings.lam, progress=progress)
    return metrics.attack_accuracy(result, evaluation)["top1"], result


@dataclass
class DpRow:
    """One target of the DP experiment and what the attacks achieved against it."""

    noise_multiplier: float
    epsilon: float | None  # PLD epsilon at ``delta``; None for the non-private target
    test_acc: float
    train_acc: float
    mia_auc: float
    gmi_top1: float
    train_seconds: float
    mia_seconds: float
    gmi_seconds: float
    model: Any = None

    def record(self) -> dict[str, Any]:
        """The ``dp_vs_attacks`` entry of RESULTS.md (plus the noise and the training time)."""
        return {"epsilon": self.epsilon, "noise_multiplier": self.noise_multiplier, "test_acc": self.test_acc,
                "mia_auc": self.mia_auc, "gmi_top1": self.gmi_top1, "train_seconds": self.train_seconds}


def public_features(trait_model) -> "tf.keras.Model":
    """Notebook 03's trait classifier (trained on PUBLIC portraits only) cut after its convolutions, at the flattened
    feature map: a frozen feature extractor the private target may use without spending any privacy budget.

    DP-SGD from scratch on a few hundred private portraits leaves a near-chance classifier (measured: 7-10 % test
    accuracy at epsilon 1.2-10 with 50 portraits per Datamon, 63 % without DP); learning the features on public
    data and training only a head on the private data with DP is the usual remedy (and the whole pipeline stays DP
    with respect to the private data, since the features never saw it). The cut is at the convolutions' output
    (2,048 numbers at 32 x 32), not at the trait network's last 128-number layer: on those 128 numbers a head
    generalised so well (measured: 99.8 % test accuracy from 50 portraits per Datamon) that membership inference
    stayed at a coin's 0.49 AUC even without DP, leaving nothing for DP to stop. A wider input lets the head
    memorise its members, as real private models do.
    """
    from course_lib.models.targets import trait_trunk

    trunk = trait_trunk(trait_model, at="convolutions")
    trunk.trainable = False
    return trunk


def private_head(feature_dim: int, n_classes: int, hidden: int = 128) -> "tf.keras.Model":
    """The part trained on private data: Dense layers only, so DP-SGD clips with TF Privacy's fast ghost norms."""
    import tensorflow as tf

    config.require_positive("hidden", hidden, integer=True)
    return tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(int(feature_dim),)),
                                tf.keras.layers.Dense(hidden, activation="relu"),
                                tf.keras.layers.Dense(n_classes)], name="private_head")


def stacked(features, head) -> "tf.keras.Model":
    """Images -> logits: the frozen public features followed by the private head, the target the attacks see."""
    import tensorflow as tf

    return tf.keras.Model(features.inputs, head(features.outputs[0]), name=f"target_{head.name}")


def dp_vs_attacks(
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    noise_multipliers: Sequence[float],
    features,
    generator,
    critic,
    evaluation,
    gmi: GmiSettings,
    hidden: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    l2_norm_clip: float = 1.0,
    delta: float = 1e-5,
    seed: int = 0,
    progress: bool = True,
) -> list[DpRow]:
    """Train the target (``features`` frozen + a private head) on ``members`` once per noise multiplier (0 = no DP;
    same optimiser and epochs otherwise) and attack each: membership inference on members vs non-members, GMI on
    every identity. Only the head sees the private data, so epsilon covers the whole target."""
    from course_lib.attacks import membership
    from course_lib.dp.training import train_dp
    from course_lib.progress import bar

    if not noise_multipliers:
        raise ValueError("give at least one noise multiplier (0 trains the non-private target)")
    for sigma in noise_multipliers:
        config.require_non_negative("noise_multiplier", sigma)
    (x, y), (x_test, y_test) = members, test
    n_classes = int(np.max(y)) + 1
    f_train = features.predict(np.asarray(x, np.float32), batch_size=256, verbose=0)
    f_test = features.predict(np.asarray(x_test, np.float32), batch_size=256, verbose=0)
    rows = []
    for sigma in (bar(list(noise_multipliers), desc="DP targets") if progress else noise_multipliers):
        trained = train_dp(lambda: private_head(f_train.shape[1], n_classes, hidden), f_train, y, f_test, y_test,
                           noise_multiplier=float(sigma), l2_norm_clip=l2_norm_clip, batch_size=batch_size,
                           epochs=epochs, learning_rate=learning_rate, seed=seed, optimizer="adam", delta=delta,
                           progress=False)
        model = stacked(features, trained["model"])
        started = time.perf_counter()
        mia = membership.membership_attack(membership.model_query(model), members, non_members)
        mia_seconds = time.perf_counter() - started
        top1, result = gmi_top1(generator, critic, model, evaluation, n_classes, gmi, seed=seed)
        rows.append(DpRow(noise_multiplier=float(sigma), epsilon=trained["epsilon_pld"], test_acc=trained["test_acc"],
                          train_acc=trained["train_acc"], mia_auc=mia.auc, gmi_top1=top1,
                          train_seconds=trained["seconds"], mia_seconds=mia_seconds, gmi_seconds=result.seconds,
                          model=model))
    return rows


def verdict(rows: Sequence[dict[str, Any]], *, chance_top1: float, useful_acc: float = 0.7) -> list[str]:
    """What the ``dp_vs_attacks`` records show, in sentences built from the measured numbers (never hard-coded).

    ``useful_acc`` is the test accuracy below which a target is no longer worth deploying: a GMI drop that only
    comes with such a loss of utility is the model forgetting the identities, not DP protecting them.
    """
    if not rows:
        raise ValueError("verdict needs the dp_vs_attacks records of this run")
    if not 0 < chance_top1 < 1:
        raise ValueError(f"chance_top1 must be a probability in (0, 1), got {chance_top1!r}")
    plain = next((r for r in rows if r["epsilon"] is None), None)
    private = sorted((r for r in rows if r["epsilon"] is not None), key=lambda r: -r["epsilon"])
    if plain is None or not private:
        raise ValueError("verdict needs the non-private row (epsilon None) and at least one DP row")
    strongest = private[-1]
    lines = []
    leak = plain["mia_auc"] - 0.5
    if leak < 0.03:
        lines.append(f"Membership: AUC {plain['mia_auc']:.2f} without DP, a coin's 0.5 within noise: this target "
                     "leaked no measurable membership to begin with, so DP had nothing to stop here.")
    else:
        removed = 1 - (strongest["mia_auc"] - 0.5) / leak
        lines.append(f"Membership: AUC {plain['mia_auc']:.2f} without DP, "
                     + ", ".join(f"{r['mia_auc']:.2f} at epsilon {r['epsilon']:.1f}" for r in private)
                     + f": DP removed {removed:.0%} of the attacker's edge over a coin at the smallest epsilon.")
    useful = [r for r in private if r["test_acc"] >= useful_acc]
    if useful:
        worst = min(useful, key=lambda r: r["gmi_top1"])
        smallest = useful[-1]
        ratio = worst["gmi_top1"] / chance_top1
        held = ratio >= 3
        halved = worst["gmi_top1"] <= plain["gmi_top1"] / 2  # above chance, yet DP took half the attack away
        if held and halved:
            reading = (f"DP cut the inversion from {plain['gmi_top1']:.0%} to {worst['gmi_top1']:.0%} while the model "
                       "stayed useful, without stopping it: the GMI paper's 'of little avail' is too strong here.")
        elif held:
            reading = "the GMI paper's claim holds here, DP was of little avail against inversion."
        else:
            reading = "here DP did blunt the inversion while the model stayed useful, unlike the GMI paper."
        lines.append(
            f"Inversion: GMI top-1 {plain['gmi_top1']:.0%} without DP; at every epsilon that kept test accuracy at "
            f"{useful_acc:.0%} or more (down to epsilon {smallest['epsilon']:.1f}, {smallest['test_acc']:.0%}) it "
            f"stayed at {worst['gmi_top1']:.0%} or more, {ratio:.1f} times chance: " + reading)
    else:
        lines.append(f"Inversion: no DP target kept {useful_acc:.0%} test accuracy, so this run cannot test the "
                     "GMI paper's claim at a useful epsilon.")
    forgotten = [r for r in private if r["test_acc"] < useful_acc]
    if forgotten:
        r = forgotten[-1]
        lines.append(f"At epsilon {r['epsilon']:.1f} GMI top-1 fell to {r['gmi_top1']:.0%}, but test accuracy fell to "
                     f"{r['test_acc']:.0%}: the model stopped recognising the Datamons, and with it stopped revealing "
                     "them.")
    return lines
