"""Auditing the trade-off's models with membership inference (notebook 02, section 7).

DP's accounted epsilon is an upper bound on what any attack can do; a membership attack's rates give a lower bound
(``course_lib.attacks.lira``). To read both on the SAME models, the trade-off's training set is drawn so that an
attacker's question has a known answer:

* ``membership_split``: a set of candidate training images is set aside and a fair coin decides, for each, whether it
  joins the training set (member) or not (non-member). Members and non-members then come from the same images, so the
  attack cannot win by telling MNIST's train and test sets apart. Every other training image is always in.
* the trade-off trains on that set (``train_sweep``): the models the table shows are the models attacked.
* ``train_references``: a few reference models trained like the non-private run on the always-in images only, so
  every candidate is OUT for them (offline LiRA).
* ``attack_rows``: the loss attack and the calibrated attack on every trade-off model; one ``mia_vs_epsilon`` row
  per model and attack. ``verdict`` reads them in sentences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from course_lib import config
from course_lib.attacks import lira
from course_lib.config import ConfigError
from course_lib.dp import training

ATTACKS = ("loss", "calibrated")


@dataclass
class MembershipSplit:
    """Indices into the training images: ``train`` = always-in + members; candidates = members + non-members."""

    train: np.ndarray
    members: np.ndarray
    nonmembers: np.ndarray
    always_in: np.ndarray

    @property
    def candidates(self) -> np.ndarray:
        return np.concatenate([self.members, self.nonmembers])

    @property
    def is_member(self) -> np.ndarray:
        return np.concatenate([np.ones(len(self.members), bool), np.zeros(len(self.nonmembers), bool)])


def membership_split(n_images: int, n_candidates: int, seed: int) -> MembershipSplit:
    """Set ``n_candidates`` random images aside; a fair coin per candidate decides whether it is trained on."""
    config.require_positive("n_images", n_images, integer=True)
    config.require_positive("n_candidates", n_candidates, integer=True)
    if not 20 <= n_candidates < n_images:
        raise ConfigError(f"n_candidates must be at least 20 and below the {n_images} images, got {n_candidates}")
    rng = np.random.default_rng(config.validate_seed(seed))
    order = rng.permutation(n_images)
    candidates, always_in = order[:n_candidates], np.sort(order[n_candidates:])
    coin = rng.random(n_candidates) < 0.5
    members, nonmembers = np.sort(candidates[coin]), np.sort(candidates[~coin])
    return MembershipSplit(train=np.sort(np.concatenate([always_in, members])), members=members,
                           nonmembers=nonmembers, always_in=always_in)


def train_sweep(specs: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray, *, seed: int, progress: bool = True, **settings: Any) -> list[dict[str, Any]]:
    """Train the tutorial CNN once per spec (``noise_multiplier``, ``activation``, ``epochs``) with ``train_dp``.

    ``settings`` are passed on (``l2_norm_clip``, ``batch_size``, ``learning_rate``, ``optimizer``, ``delta``...).
    Each result keeps its model, so the attacks below read the very models the trade-off reports.
    """
    from course_lib.models.classifiers import mnist_tutorial_cnn

    results = []
    for spec in specs:
        activation = spec.get("activation", "relu")
        result = training.train_dp(lambda a=activation: mnist_tutorial_cnn(a), x, y, x_test, y_test,
                                   noise_multiplier=spec["noise_multiplier"], epochs=spec["epochs"], seed=seed,
                                   progress=progress, **settings)
        result["activation"] = activation
        results.append(result)
    return results


def train_references(n_models: int, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                     epochs: int, seed: int, progress: bool = False, activation: str = "relu",
                     **settings: Any) -> list[Any]:
    """``n_models`` non-private models trained like the trade-off's baseline on ``x`` (images no candidate is in),
    each with its own seed; returns the models."""
    config.require_positive("n_models", n_models, integer=True)
    if n_models < 2:
        raise ConfigError(f"the calibrated attack fits a Gaussian: it needs at least 2 reference models, "
                          f"got {n_models}")
    specs = [{"noise_multiplier": 0.0, "activation": activation, "epochs": epochs}]
    return [train_sweep(specs, x, y, x_test, y_test, seed=seed + 1 + k, progress=progress, **settings)[0]["model"]
            for k in range(n_models)]


def attack_rows(results: Sequence[Mapping[str, Any]], references: Sequence[Any], x_candidates: np.ndarray,
                y_candidates: np.ndarray, is_member: np.ndarray, *, delta: float, seed: int = 0,
                variance: str = "global") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both attacks on every trained model: ``(rows, curves)``.

    ``rows`` are the ``mia_vs_epsilon`` entries of RESULTS.md (epsilon is the run's PLD epsilon per image, None
    without DP); ``curves`` add the ROC (fpr, tpr) and the counts behind each epsilon lower bound, for the plot.
    """
    is_member = np.asarray(is_member, bool)
    if len(is_member) != len(x_candidates) or len(y_candidates) != len(x_candidates):
        raise ConfigError("x_candidates, y_candidates and is_member must have one entry per candidate")
    if is_member.all() or not is_member.any():
        raise ConfigError("the candidates must include members and non-members")
    reference_phi = np.stack([lira.logit_confidence(lira.predict_logits(m, x_candidates), y_candidates)
                              for m in references])
    rows, curves = [], []
    for result in results:
        logits = lira.predict_logits(result["model"], x_candidates)
        scores = {"loss": lira.loss_scores(logits, y_candidates),
                  "calibrated": lira.lira_offline_scores(lira.logit_confidence(logits, y_candidates), reference_phi,
                                                         variance=variance)}
        for attack in ATTACKS:
            s = scores[attack]
            summary = lira.summarize(s[is_member], s[~is_member], delta=delta, seed=seed)
            row = {"epsilon": result.get("epsilon_pld"), "test_acc": result["test_acc"], "auc": summary["auc"],
                   "tpr_at_1pct_fpr": summary["tpr_at_fpr"][0.01], "tpr_at_01pct_fpr": summary["tpr_at_fpr"][0.001],
                   "epsilon_lower_bound": summary["epsilon_lower_bound"], "attack": attack}
            rows.append(row)
            curves.append({**row, "noise_multiplier": result["noise_multiplier"],
                           "activation": result.get("activation"), "epochs": result.get("epochs"),
                           "members": int(is_member.sum()), "nonmembers": int((~is_member).sum()),
                           "fpr": summary["fpr"], "tpr": summary["tpr"], "bound": summary["bound"].as_dict()})
    return rows, curves


def verdict(curves: Sequence[Mapping[str, Any]], *, delta: float, sampling: str) -> str:
    """Markdown sentences that read ``attack_rows``' curves: each model's accounted epsilon next to the best lower
    bound an attack proved, whether every bound stays below its epsilon, and what the non-private model gave away
    at a false-positive rate of 0.1 %. Every number comes from ``curves``."""
    if not curves:
        raise ConfigError("verdict needs the curves of attack_rows")

    def epochs_text(n: Any) -> str:
        return f"{n} epoch" + ("" if n == 1 else "s")

    def percent(rate: float) -> str:
        return f"{100 * rate:.2f} %"

    def proven(best: Mapping[str, Any]) -> str:
        if best["epsilon_lower_bound"] <= 0:
            return "the attacks prove nothing (a lower bound of 0)"
        return f"the {best['attack']} attack proves epsilon >= {best['epsilon_lower_bound']:.2f}"

    models: dict[tuple, list[Mapping[str, Any]]] = {}
    for c in curves:
        models.setdefault((c["noise_multiplier"], c.get("activation"), c.get("epochs")), []).append(c)
    lines = [f"Accounted and proven epsilon, per training image (one image), delta {delta:g}, {sampling} sampling:", ""]
    private_ok = True
    for (sigma, activation, epochs), group in models.items():
        best = max(group, key=lambda c: c["epsilon_lower_bound"])
        if group[0]["epsilon"] is None:
            lines.append(f"* non-private ({activation}, {epochs_text(epochs)}): no guarantee at all; {proven(best)}")
        else:
            private_ok &= best["epsilon_lower_bound"] <= group[0]["epsilon"]
            lines.append(f"* DP-Adam, sigma {sigma:g}, {activation}, {epochs_text(epochs)}: the accountant proves "
                         f"epsilon <= {group[0]['epsilon']:.2f} (PLD); {proven(best)}")
    lines += ["", "Every lower bound is below its accounted epsilon, as it must be." if private_ok else
              "A lower bound EXCEEDS its accounted epsilon: the accounting, the training or the attack's statistics "
              "are wrong here; report it."]
    plain = [c for c in curves if c["epsilon"] is None]
    if plain:
        top = max(plain, key=lambda c: (c["epsilon_lower_bound"], c["tpr_at_01pct_fpr"]))
        chance = 0.001
        aucs = " and ".join(f"{c['auc']:.3f} ({c['attack']})" for c in plain)
        sentence = (f"Without DP the AUCs are {aucs}, against 0.5 for a coin. At a false-positive rate of 0.1 % "
                    f"(at most {int(chance * top['nonmembers'])} of the {top['nonmembers']} non-members accused), the "
                    f"{top['attack']} attack flags {percent(top['tpr_at_01pct_fpr'])} of the members, where guessing "
                    f"flags {percent(chance)}. ")
        if top["epsilon_lower_bound"] > 0 and top["bound"].get("side") == "high_tpr":
            sentence += (f"Its clearest signal is at the other end of the curve, and it proves epsilon >= "
                         f"{top['epsilon_lower_bound']:.2f} for the non-private training: almost every member scores "
                         "above a threshold that more non-members fall below (the model is rarely badly wrong on an "
                         "image it trained on), although the average over all of them hardly moves.")
        elif top["epsilon_lower_bound"] > 0:
            sentence += (f"That proves epsilon >= {top['epsilon_lower_bound']:.2f} for the non-private training: a few "
                         "members stand out, although the average over all of them hardly moves.")
        else:
            sentence += (f"On this many images that proves nothing (the bound stays at 0): trained for "
                         f"{epochs_text(top['epochs'])}, this model did not memorise its images enough for these "
                         "attacks to single members out with confidence. Carlini et al. (2022) find such leaks on "
                         "models trained far longer, and the warnings below hold all the same.")
        lines += ["", sentence]
    return "\n".join(lines)
