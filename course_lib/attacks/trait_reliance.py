"""Which traits does a classifier use to name a Datamon? An inversion can only bring back those.

GMI follows the target's gradient: a trait the target ignores (its answer does not move when the trait changes) gives
the attack nothing to climb, however good the prior. This module measures that reliance directly, with the renderer:
each named Datamon is drawn again with ONE trait changed to each of its other values, and the share of those
portraits the classifier still names as that Datamon is recorded per trait. Near 1: the trait does not matter to the
classifier; near 0: it cannot name the Datamon without it. A target trained to name Datamons in disguise (one or two
traits changed, ``course_lib.data.disguises``) still names them whatever one trait does, so the module also records
the share of the target's logit margin for the name that survives the change (``margin_kept``): what an inversion
that climbs the margin feels of each trait. Hand-written: no library measures reliance on the
generative factors of a synthetic dataset, which is what a renderer makes possible.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from course_lib.data import datamons


def one_trait_changed(identities: Sequence[datamons.Identity], trait: str) -> tuple[list[datamons.Identity], np.ndarray]:
    """Every identity with ``trait`` set to each of its other values; returns the new identities and, for each, the
    index of the identity it came from."""
    if trait not in datamons.TRAITS:
        raise ValueError(f"unknown trait {trait!r}; choose from {', '.join(datamons.TRAITS)}")
    changed, origin = [], []
    for k, identity in enumerate(identities):
        for value in datamons.TRAITS[trait]:
            if value != identity.traits[trait]:
                changed.append(datamons.Identity(identity.name, {**identity.traits, trait: value}))
                origin.append(k)
    return changed, np.asarray(origin, np.int64)


def _named_share(model: Any, identities: Sequence[datamons.Identity], labels: np.ndarray, per_identity: int,
                 size: int, seed: int) -> tuple[float, float]:
    """(share named right, mean logit margin of the right name) over fresh portraits of ``identities``."""
    from course_lib.attacks.perfect_prior import logit_margins

    portraits = datamons.render(identities, per_identity, size=size, seed=seed)
    logits = np.asarray(model.predict(portraits.images, batch_size=256, verbose=0))
    right = np.repeat(labels, per_identity)
    margin = logit_margins(logits)[np.arange(len(right)), right]
    return float((logits.argmax(axis=1) == right).mean()), float(margin.mean())


def trait_reliance(model: Any, identities: Sequence[datamons.Identity] | None = None, *, per_identity: int = 10,
                   size: int = 32, seed: int = 0) -> dict[str, Any]:
    """How often ``model`` still names each Datamon when one trait is changed.

    ``identities``: the classifier's classes in label order (default: the 15 named Datamons). Returns
    ``{"unchanged": share named on fresh portraits, "still_named": {trait: share named with that trait changed},
    "margin_kept": {trait: mean logit margin of the name with that trait changed / the same on fresh portraits}}``
    (``None`` for every trait when the model does not name the fresh portraits with a positive mean margin).
    """
    identities = list(datamons.named_identities() if identities is None else identities)
    if per_identity < 1:
        raise ValueError(f"per_identity must be at least 1, got {per_identity}")
    unchanged, margin = _named_share(model, identities, np.arange(len(identities)), per_identity, size, seed)
    still_named, margin_kept = {}, {}
    for trait in datamons.TRAITS:
        changed, origin = one_trait_changed(identities, trait)
        still_named[trait], changed_margin = _named_share(model, changed, origin, per_identity, size, seed)
        margin_kept[trait] = changed_margin / margin if margin > 0 else None  # no margin to keep: unmeasured
    return {"unchanged": unchanged, "still_named": still_named, "margin_kept": margin_kept}


def read_reliance(still_named: dict[str, float], recovered: dict[str, float], threshold: float = 0.8,
                  measure: str = "named") -> str:
    """One sentence: the traits the target ignores (still named, or with ``measure="margin"`` keeping that share of
    its margin, at ``threshold`` or more with the trait changed), next to how much of each the inversion recovered.
    ``still_named``: ``trait_reliance``'s ``still_named`` or ``margin_kept``, as ``measure`` says."""
    if not still_named or set(still_named) != set(recovered):
        raise ValueError("still_named and recovered must name the same, non-empty set of traits")
    still_named = {t: v for t, v in still_named.items() if v is not None}
    if not still_named:
        return "The target does not name the Datamons with a margin to speak of, so no trait can be read off it."
    if measure not in ("named", "margin"):
        raise ValueError(f"measure must be 'named' or 'margin', got {measure!r}")
    ignored = sorted((t for t in still_named if still_named[t] >= threshold), key=lambda t: -still_named[t])
    used = sorted((t for t in still_named if still_named[t] < threshold), key=lambda t: still_named[t])
    when, still = (("named {:.0%} of the time when it changes", "still named {:.0%}") if measure == "named" else
                   ("{:.0%} of its margin left when it changes", "{:.0%} of its margin left"))
    parts = []
    if used:
        parts.append("The target needs " + ", ".join(
            f"{t} ({when.format(still_named[t])}; recovered {recovered[t]:.0%})" for t in used))
    if ignored:
        parts.append("it barely looks at " + ", ".join(
            f"{t} ({still.format(still_named[t])}; recovered {recovered[t]:.0%})" for t in ignored))
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + (". An inversion follows the target's answers: a trait the target ignores gives it "
                               "nothing to recover, whatever the prior draws.")
