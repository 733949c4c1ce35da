"""Model inversion without the weights: a gradient-free search in the GAN's latent space, through the service.

GMI (notebook 03) follows the target's gradients, so it needs the weights (white box). An attacker who only has the
prediction service still has its own GAN trained on public data; it can draw candidates G(z), send them to the
service and keep the ones the service scores highest for the wanted identity. This is written by hand because no
library in the course's stack offers it: a (mu + lambda) evolution strategy on z, one population per identity,

1. random search: ``initial`` samples G(z), scored once for EVERY identity (one answer holds all the classes' scores);
   each identity starts from the mean of its ``elite`` best samples;
2. ``generations`` rounds: ``population`` mutants z + sigma * noise per identity (z kept in [-1, 1] as GMI does),
   fitness = log p(identity | G(z)) from the service + ``prior_weight`` * D(G(z)) from the attacker's own critic
   (no query), keep the ``elite`` best of old and new, sigma shrinks by ``sigma_decay``.

With labels-only answers the score is 0 or log(1e-6): the search still runs, on "right or wrong" alone. When the
service refuses (budget spent) the search stops and keeps what it found. The result is an ``InversionResult`` whose
restarts are the final elite, so ``attacks.metrics`` judges it exactly as it judges GMI.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from course_lib import config
from course_lib.defenses import outputs
from course_lib.defenses.client import BudgetExhausted

_FLOOR = 1e-6  # log(0) guard: a class the service scores 0 (rounded away, or not the label) gets log(1e-6)


@dataclass
class SearchSettings:
    """How many queries the black-box search spends: ``initial + generations * population * n_identities``."""

    initial: int
    population: int
    generations: int
    elite: int = 4
    sigma: float = 0.5
    sigma_decay: float = 0.9
    prior_weight: float = 0.01

    def __post_init__(self) -> None:
        for name in ("initial", "population", "elite"):
            config.require_positive(name, getattr(self, name), integer=True)
        if isinstance(self.generations, bool) or not isinstance(self.generations, (int, np.integer)) \
                or self.generations < 0:
            raise config.ConfigError(f"generations must be a non-negative integer, got {self.generations!r}")
        if self.elite > self.initial:
            raise config.ConfigError(f"elite ({self.elite}) cannot exceed the initial samples ({self.initial})")
        config.require_positive("sigma", self.sigma)
        if not 0 < self.sigma_decay <= 1:
            raise config.ConfigError(f"sigma_decay must be in (0, 1], got {self.sigma_decay!r}")
        config.require_non_negative("prior_weight", self.prior_weight)

    def queries(self, n_identities: int) -> int:
        """The number of examples the whole search sends when the service never refuses."""
        return self.initial + self.generations * self.population * n_identities


@dataclass
class SearchOutcome:
    result: object  # attacks.inversion.InversionResult
    queries: int  # examples the service answered
    refused: bool  # the service stopped the search early
    generations_done: int


def _images(generator, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([generator(z[i : i + batch_size], training=False).numpy()
                           for i in range(0, len(z), batch_size)])


def _critic_scores(critic, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    if critic is None:
        return np.zeros(len(images), np.float32)
    return np.concatenate([np.asarray(critic(images[i : i + batch_size], training=False)).reshape(-1)
                           for i in range(0, len(images), batch_size)])


def latent_search(
    generator,
    critic,
    query: Callable[[np.ndarray], np.ndarray],
    labels: np.ndarray,
    n_classes: int,
    settings: SearchSettings,
    *,
    seed: int,
    progress: bool = True,
):
    """Search G's latent space for each identity in ``labels`` using only ``query``'s answers (see module doc).

    ``query`` maps images to probabilities (n, n_classes) or labels (n,), e.g. ``ServiceClient.query``. Same seed and
    same answers -> same result.
    """
    from course_lib.attacks.inversion import InversionResult
    from course_lib.progress import bar

    labels = np.asarray(labels, np.int64).reshape(-1)
    if labels.size == 0:
        raise ValueError("give at least one identity (label) to attack")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got {labels.min()}..{labels.max()}")
    n_ids, s = len(labels), settings
    z_dim = int(generator.inputs[-1].shape[-1])
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    answered = 0

    def ask(z: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Images G(z) and the service's probabilities for them, or None once the budget is spent."""
        nonlocal answered
        images = _images(generator, z)
        try:
            probs = outputs.as_probability_matrix(query(images), n_classes)
        except BudgetExhausted:
            return None
        answered += len(images)
        return images, probs

    def fitness(probs: np.ndarray, prior: np.ndarray, label: int) -> np.ndarray:
        return np.log(np.maximum(probs[:, label], _FLOOR)) + s.prior_weight * prior

    # 1. random search, shared by every identity
    z0 = np.clip(rng.standard_normal((s.initial, z_dim)), -1, 1).astype(np.float32)
    first = ask(z0)
    if first is None:
        raise ValueError("the service refused the very first queries: the budget cannot pay for the random search")
    images0, probs0 = first
    prior0 = _critic_scores(critic, images0)
    elite_z = np.empty((n_ids, s.elite, z_dim), np.float32)
    elite_fit = np.empty((n_ids, s.elite), np.float64)
    elite_prob = np.empty((n_ids, s.elite), np.float64)
    for i, label in enumerate(labels):
        fit = fitness(probs0, prior0, label)
        best = np.argsort(-fit, kind="stable")[: s.elite]
        elite_z[i], elite_fit[i], elite_prob[i] = z0[best], fit[best], probs0[best, label]
    identity_loss = [float(-np.mean(np.log(np.maximum(elite_prob.max(axis=1), _FLOOR))))]

    # 2. (mu + lambda) evolution strategy, all identities in one batch of queries per generation
    sigma, done, refused = s.sigma, 0, False
    for _ in (bar(range(s.generations), desc="black-box search") if progress else range(s.generations)):
        mean = elite_z.mean(axis=1, keepdims=True)
        z = np.clip(mean + sigma * rng.standard_normal((n_ids, s.population, z_dim)), -1, 1).astype(np.float32)
        answer = ask(z.reshape(n_ids * s.population, z_dim))
        if answer is None:
            refused = True
            break
        images, probs = answer
        prior = _critic_scores(critic, images).reshape(n_ids, s.population)
        probs = probs.reshape(n_ids, s.population, n_classes)
        for i, label in enumerate(labels):
            fit = fitness(probs[i], prior[i], label)
            pool_z = np.concatenate([elite_z[i], z[i]])
            pool_fit = np.concatenate([elite_fit[i], fit])
            pool_prob = np.concatenate([elite_prob[i], probs[i][:, label]])
            best = np.argsort(-pool_fit, kind="stable")[: s.elite]
            elite_z[i], elite_fit[i], elite_prob[i] = pool_z[best], pool_fit[best], pool_prob[best]
        identity_loss.append(float(-np.mean(np.log(np.maximum(elite_prob.max(axis=1), _FLOOR)))))
        sigma *= s.sigma_decay
        done += 1

    # The elite of each identity plays the role of GMI's restarts; the attacker keeps the one the SERVICE scores
    # highest (``InversionResult.chosen``), since it has no other judge.
    final = _images(generator, elite_z.reshape(n_ids * s.elite, z_dim))
    result = InversionResult(labels=labels.copy(), images=final.reshape(n_ids, s.elite, *final.shape[1:]),
                             target_prob=elite_prob.copy(), identity_loss=identity_loss, prior_loss=[],
                             seconds=time.perf_counter() - started, iterations=done, method="blackbox_es")
    return SearchOutcome(result, answered, refused, done)


def through_service(generator, critic, target, labels: np.ndarray, n_classes: int, settings: SearchSettings, *,
                    output: str = "probs", budget: int | None = None, decimals: int = 2, seed: int = 0,
                    input_shape: tuple[int, ...] | None = None, progress: bool = True) -> SearchOutcome:
    """Serve ``target`` (attacker key limited to ``budget`` examples, by default exactly what the search plans to
    spend) and run ``latent_search`` with ``ServiceClient.query`` as its only access to the target."""
    from course_lib.defenses.client import ServiceClient
    from course_lib.defenses.query_limits import ATTACKER_KEY, served

    labels = np.asarray(labels, np.int64).reshape(-1)
    budget = settings.queries(len(labels)) if budget is None else budget
    with served(target, budget, output, decimals=decimals, input_shape=input_shape) as service, \
            ServiceClient(service.url, ATTACKER_KEY) as client:
        outcome = latent_search(generator, critic, client.query, labels, n_classes, settings, seed=seed,
                                progress=progress)
        outcome.queries = int(service.usage(ATTACKER_KEY)["used"])
    return outcome


# -- white box against black box, over seeds ----------------------------------------------------------------------
ACCESSES = ("white box", "scores", "labels")  # GMI with the weights; the search through probabilities; labels only


def access_record(seed: int, whitebox_top1: float, scores: SearchOutcome, labels_only: SearchOutcome,
                  evaluation) -> dict:
    """One seed's row of the white-box / black-box comparison: the judge's top-1 for each access and the queries."""
    from course_lib.attacks import metrics

    return {"seed": int(seed), "white box": float(whitebox_top1),
            "scores": metrics.attack_accuracy(scores.result, evaluation)["top1"],
            "labels": metrics.attack_accuracy(labels_only.result, evaluation)["top1"],
            "queries": int(scores.queries)}


def access_row(generator, critic, target, evaluation, n_classes: int, gmi, search: SearchSettings, *,
               seed: int) -> dict:
    """Run the three accesses once with ``seed`` (GMI as ``dp_vs_attacks.gmi_top1`` runs it, ``gmi`` its settings;
    the search through a served ``target``) and return ``access_record``'s row."""
    from course_lib.defenses.dp_vs_attacks import gmi_top1

    labels = np.arange(n_classes)
    whitebox_top1, _ = gmi_top1(generator, critic, target, evaluation, n_classes, gmi, seed=seed)
    scores = through_service(generator, critic, target, labels, n_classes, search, output="probs", seed=seed,
                             progress=False)
    labels_only = through_service(generator, critic, target, labels, n_classes, search, output="labels", seed=seed,
                                  progress=False)
    return access_record(seed, whitebox_top1, scores, labels_only, evaluation)


def summarise_access(rows: list[dict], chance: float) -> list[dict]:
    """Mean, lowest and highest top-1 of each access over the seeds of ``rows``, with chance for scale.

    One seed's top-1 on fifteen identities moves in steps of 6.7 points, so the comparison is read from the spread
    over seeds, not from one run."""
    if not rows:
        raise ValueError("give at least one seed's row (access_row) to summarise")
    summary = []
    for access in ACCESSES:
        values = np.array([row[access] for row in rows], np.float64)
        summary.append({"access": access, "seeds": len(values), "mean top-1": float(values.mean()),
                        "lowest": float(values.min()), "highest": float(values.max()),
                        "x chance": float(values.mean() / chance) if chance > 0 else float("nan")})
    return summary


def read_access(summary: list[dict], chance: float) -> list[str]:
    """What ``summarise_access`` shows, in sentences built from the measured numbers (never hard-coded)."""
    if not 0 < chance < 1:
        raise ValueError(f"chance must be a probability in (0, 1), got {chance!r}")
    by = {row["access"]: row for row in summary}
    if set(by) != set(ACCESSES):
        raise ValueError(f"the summary needs one row for each of {ACCESSES}, got {sorted(by)}")
    n = by["white box"]["seeds"]

    def span(row: dict) -> str:
        return f"{row['mean top-1']:.0%} ({row['lowest']:.0%} to {row['highest']:.0%})"

    lines = [f"Over {n} seed{'s' if n > 1 else ''}: white box {span(by['white box'])}, scores {span(by['scores'])}, "
             f"labels only {span(by['labels'])}; chance is {chance:.0%}."]
    for access, name in (("scores", "With scores"), ("labels", "With labels only")):
        row = by[access]
        if row["lowest"] > chance:
            lines.append(f"{name} the black box beat chance at every seed ({row['x chance']:.1f} times on average).")
        elif row["mean top-1"] > chance:
            lines.append(f"{name} the black box beat chance on average ({row['x chance']:.1f} times) but not at "
                         "every seed.")
        else:
            lines.append(f"{name} the black box did no better than chance.")
    white, scores = by["white box"], by["scores"]
    gap = white["mean top-1"] - scores["mean top-1"]
    if white["lowest"] > scores["highest"]:
        lines.append(f"The weights won at every seed: the white box leads the scores search by {gap * 100:.0f} "
                     "points on average.")
    elif scores["lowest"] > white["highest"]:
        lines.append(f"The scores search won at every seed, by {-gap * 100:.0f} points on average: more gradient "
                     "steps would be the white box's answer.")
    else:
        lead = "the white box leads" if gap > 0 else "the scores search leads" if gap < 0 else "they tie"
        lines.append(f"The seed ranges of white box and scores overlap: {lead} on average ({abs(gap) * 100:.0f} "
                     "points), but a single run can rank them either way.")
    return lines
