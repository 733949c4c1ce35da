"""The trait-conditioned prior: a generator told which Datamon traits to draw.

Public portraits come with their traits (the attacker drew them, or labelled them), so the attacker can teach a
generator to draw what it is told: one value per trait, as one-hot groups beside z (``gan.build_generator``'s
``n_conditions``), against a projection critic that sees each portrait with its traits (``gan.build_critic``'s
``n_conditions``), so a drawing that does not show the traits it was told looks fake. An unconditional GAN draws the
small parts only as clearly as its critic insists; told the traits, the generator has to draw each one. GMI then
searches the traits and z together (``inversion.gmi_attack``'s ``condition_sizes``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from course_lib.data import datamons
from course_lib.models import gan


def trait_sizes() -> list[int]:
    """Number of values of each Datamon trait, in ``datamons.TRAITS`` order: the prior's one-hot groups."""
    return [len(values) for values in datamons.TRAITS.values()]


def conditions(codes: np.ndarray) -> np.ndarray:
    """(n, sum of trait sizes) one-hot traits of (n, 7) designs: what the prior is told to draw."""
    return gan.one_hot_groups(codes, trait_sizes())


def trait_sweep(generator: tf.keras.Model, design: np.ndarray, trait: str, *, seed: int,
                examples: int = 1) -> tuple[np.ndarray, list[str]]:
    """Every value of ``trait`` drawn on one design and the same latent vectors: (values * examples, h, w, c),
    value-major, and the values' names. The picture that shows whether the prior listens to its traits."""
    if trait not in datamons.TRAITS:
        raise ValueError(f"unknown trait {trait!r}: choose one of {', '.join(datamons.TRAITS)}")
    design = np.asarray(design, np.int64).reshape(len(datamons.TRAITS))
    values = datamons.TRAITS[trait]
    codes = np.repeat(design[None], len(values) * examples, axis=0)
    codes[:, list(datamons.TRAITS).index(trait)] = np.repeat(np.arange(len(values)), examples)
    z = np.random.default_rng(seed).standard_normal((examples, gan.Z_DIM)).astype(np.float32)
    images = generator([conditions(codes), np.tile(z, (len(values), 1))], training=False).numpy()
    return images, list(values)


def searched_traits(result: Any, seeds: int = 1) -> np.ndarray:
    """(n_ids * seeds, 7) the traits a search through the prior settled on for each kept reconstruction, if it
    recorded them (``InversionResult.conditions``)."""
    chosen = result.chosen(seeds)
    picked = result.conditions[np.arange(len(result.labels))[:, None], chosen]
    return gan.group_argmax(picked.reshape(-1, picked.shape[-1]), trait_sizes())


def read_comparison(plain: dict[str, Any], told: dict[str, Any], *,
                    frechet_ratios: tuple[float, float] | None = None, margin: float = 0.05) -> str:
    """One paragraph reading GMI through the plain prior (``plain``) against the trait-conditioned one (``told``):
    each a dict with ``top1``, ``trait_recovery`` and ``by_trait``; gains and losses beyond ``margin`` are named.
    With ``frechet_ratios`` (plain, told), says how far each prior's drawings are from real portraits as a whole."""
    gained = sorted((t for t in told["by_trait"] if told["by_trait"][t] - plain["by_trait"][t] > margin),
                    key=lambda t: plain["by_trait"][t] - told["by_trait"][t])
    lost = [t for t in told["by_trait"] if plain["by_trait"][t] - told["by_trait"][t] > margin]
    delta = told["trait_recovery"] - plain["trait_recovery"]
    verdict = "more" if delta > margin / 2 else "fewer" if delta < -margin / 2 else "about as many"
    text = (f"Through the trait-conditioned prior GMI recovers {told['trait_recovery']:.0%} of the traits against "
            f"{plain['trait_recovery']:.0%} through the plain one ({verdict}; judge top-1 {told['top1']:.0%} against "
            f"{plain['top1']:.0%}).")
    if gained:
        text += " It gains on " + ", ".join(f"{t} ({plain['by_trait'][t]:.0%} -> {told['by_trait'][t]:.0%})"
                                           for t in gained) + "."
    if lost:
        text += " It loses on " + ", ".join(f"{t} ({plain['by_trait'][t]:.0%} -> {told['by_trait'][t]:.0%})"
                                           for t in lost) + "."
    if frechet_ratios is not None and all(np.isfinite(frechet_ratios)):
        a, b = frechet_ratios
        text += (f" Its drawings are {'further from' if b > a else 'closer to'} real portraits as a whole (Fréchet "
                 f"ratio {b:.1f} against {a:.1f}): ")
        text += ("a prior can look less real overall and still draw what the target keys on more clearly."
                 if b > a and delta > 0 else "the two measures agree here." if (b < a) == (delta > 0)
                 else "looking more real did not give more traits back.")
    return text
