"""What colour and silhouette alone buy: images made from the PRIVATE portraits, scored by the attack's own judges.

A reconstruction that the evaluation model recognises may only carry an identity's colour and rough shape. Two
images that need no attack at all, but use private data the attacker never has, bound what that is worth:

- ``flat_colour``: every pixel set to the identity's mean colour over its private portraits;
- ``mean_portrait``: the per-pixel mean of its private portraits (a blurred ghost of pose, size and colour).

Scored by the same evaluation model (top-1) and the same public trait classifier (trait recovery) as GMI, they are
upper bounds on what colour and silhouette buy. An attack that does not beat both has shown a colour, not a face.
"""
from __future__ import annotations

from typing import Any

import numpy as np

BASELINES = ("flat_colour", "mean_portrait")


def _per_identity(images: np.ndarray, labels: np.ndarray, n_classes: int) -> list[np.ndarray]:
    images, labels = np.asarray(images, np.float32), np.asarray(labels)
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"images must be (n, h, w, c) with one label each, got {images.shape} and {labels.shape}")
    groups = [images[labels == k] for k in range(n_classes)]
    missing = [k for k, g in enumerate(groups) if len(g) == 0]
    if missing:
        raise ValueError(f"no private portrait of identities {missing}: every identity needs at least one")
    return groups


def mean_portraits(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-pixel mean of each identity's portraits: (n_classes, h, w, c), row k for label k."""
    return np.stack([g.mean(axis=0) for g in _per_identity(images, labels, n_classes)])


def flat_colours(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """A flat image of each identity's mean colour: (n_classes, h, w, c), row k for label k."""
    means = mean_portraits(images, labels, n_classes)
    return np.broadcast_to(means.mean(axis=(1, 2), keepdims=True), means.shape).copy()


def judge(images: np.ndarray, labels: np.ndarray, evaluation: Any, trait_model: Any,
          identity_traits: np.ndarray, trait_names: list[str]) -> dict[str, Any]:
    """Top-1 of ``evaluation`` and trait recovery of ``trait_model`` on ``images`` (one per label), as for GMI."""
    from course_lib.attacks import metrics

    labels = np.asarray(labels)
    predicted = np.argmax(metrics._logits(evaluation, images), axis=1)
    traits = metrics.trait_recovery(trait_model, images, np.asarray(identity_traits)[labels], trait_names)
    return {"top1": float(np.mean(predicted == labels)), "trait_recovery": traits["share"],
            "trait_recovery_per_trait": traits["per_trait"], "predicted": predicted,
            "traits_predicted": traits["predicted"]}


def colour_baselines(private_images: np.ndarray, private_labels: np.ndarray, n_classes: int, evaluation: Any,
                     trait_model: Any, identity_traits: np.ndarray, trait_names: list[str]) -> dict[str, dict]:
    """Both baselines, judged: ``{"flat_colour": {"top1", "trait_recovery", ...}, "mean_portrait": {...}}``.

    The ``images`` of each entry are the baseline images themselves, one per identity (label order).
    """
    labels = np.arange(n_classes)
    made = {"flat_colour": flat_colours(private_images, private_labels, n_classes),
            "mean_portrait": mean_portraits(private_images, private_labels, n_classes)}
    return {name: {**judge(images, labels, evaluation, trait_model, identity_traits, trait_names), "images": images}
            for name, images in made.items()}


def record(baselines: dict[str, dict]) -> dict[str, dict[str, float]]:
    """The recorded form (RESULTS.md ``colour_baseline``): top-1 and trait recovery of each baseline."""
    return {name: {"top1": b["top1"], "trait_recovery": b["trait_recovery"]} for name, b in baselines.items()}


def signed_points(gap: float) -> str:
    """A difference of two shares in percentage points, signed and rounded: 0.123 -> '+12 points', -0.01 ->
    '-1 point'. Every sentence that reads one score against another says its gap so (one identity of 15: 6.7)."""
    rounded = round(gap * 100)
    return f"{rounded:+d} point{'' if abs(rounded) == 1 else 's'}"


def compare(attack: dict[str, float], baselines: dict[str, dict[str, float]], margin: float = 0.05) -> str:
    """One sentence reading the attack against the stronger baseline on top-1 and on trait recovery (shares in [0, 1]).

    A gap within ``margin`` (default 5 points: with 15 identities one identity is 6.7 points of top-1) is read as level,
    not as a win; the attack shows more than colour and silhouette only when it clears both by more than the margin.
    """
    for key in ("top1", "trait_recovery"):
        if key not in attack or any(key not in b for b in baselines.values()):
            raise ValueError(f"the attack and every baseline need a {key!r} score")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be a share in [0, 1), got {margin!r}")
    labels = {"flat_colour": "a flat image of its mean colour", "mean_portrait": "the per-pixel mean of its portraits"}
    parts, clear = [], []
    for key, what in (("top1", "top-1"), ("trait_recovery", "trait recovery")):
        best = max(baselines, key=lambda b: baselines[b][key])
        gap = attack[key] - baselines[best][key]
        word = "beats" if gap > margin else ("is level with" if gap >= -margin else "falls short of")
        clear.append(gap > margin)
        parts.append(f"on {what} GMI ({attack[key]:.0%}) {word} the stronger baseline, "
                     f"{labels.get(best, best)} ({baselines[best][key]:.0%}; {signed_points(gap)})")
    if all(clear):
        verdict = ("so the attack recovers more than colour and silhouette, which the baselines only get from "
                   "private portraits the attacker never sees")
    elif any(clear):
        verdict = ("so the attack beats colour and silhouette on one measure only: read the grid and the per-trait "
                   "table before believing more")
    else:
        verdict = (f"so, within {margin * 100:.0f} points, the attack shows no more than colour and silhouette, "
                   "which the baselines get from private portraits")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + f": {verdict}."
