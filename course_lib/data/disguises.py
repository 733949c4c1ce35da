"""Disguised portraits: each named Datamon with a few traits changed, still under its own name.

A face recogniser has to know you in new glasses or with dyed hair, so it is trained on photos that show such
changes. A target trained only on the fifteen as they always look tells them apart by the cheapest clue (their
colours differ) and ignores the rest: an inversion of it can only give back that clue. Trained also on disguises
(a trait or two re-drawn, the name kept; the profile says how many), no single trait is enough, and the target has
to look at more of the Datamon, as a real recogniser looks at more of the face.

A disguise keeps its name only while it is still nearer its own Datamon than any other (fewer traits differ), so
no portrait carries a name it does not resemble. Hand-written: the trait codes are the course's own.

Impostors (``impostor_codes``) go further, as a recogniser at a door must: a Datamon may wear a cast-mate's outfit
(colour, pattern, head, accessory) and still be itself, so only its face (body, eyes, mouth) tells who it is. The
course measures with them (``bench/trait_recovery_casts.py``) what a target that reads faces gives an inversion.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from course_lib.data import datamons


def _checked_codes(true_codes: np.ndarray, per_identity: int) -> np.ndarray:
    """``true_codes`` as (identities, 7) int64 trait indices; refuses another shape or a ``per_identity`` that is
    not a non-negative whole number."""
    true_codes = np.asarray(true_codes, np.int64)
    n_traits = len(datamons.TRAITS)
    if true_codes.ndim != 2 or true_codes.shape[1] != n_traits:
        raise ValueError(f"true_codes must be (identities, {n_traits}) trait indices, got shape {true_codes.shape}")
    if isinstance(per_identity, bool) or not isinstance(per_identity, (int, np.integer)) or per_identity < 0:
        raise ValueError(f"per_identity must be a non-negative whole number, got {per_identity!r}")
    return true_codes


def disguise_codes(true_codes: np.ndarray, per_identity: int, changes: Sequence[int] = (1, 2), *,
                   traits: Sequence[str] | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, 7), labels (n,)): ``per_identity`` disguises of each row of ``true_codes``, each with a number of
    its ``traits`` (default: any) drawn from ``changes`` set to another value, and nearer (in traits) to its own row
    than to any other."""
    true_codes = _checked_codes(true_codes, per_identity)
    sizes = np.array([len(v) for v in datamons.TRAITS.values()])
    names = list(datamons.TRAITS)
    unknown = sorted(set(traits or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown trait(s) {unknown}: choose from {', '.join(names)}")
    may_change = np.array([names.index(t) for t in (traits or names)])
    changes = [int(k) for k in changes]
    if not changes or min(changes) < 1 or max(changes) > len(may_change):
        raise ValueError(f"changes must be numbers of traits between 1 and {len(may_change)}, got {changes}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD15]))
    codes, labels = [], []
    for label, code in enumerate(true_codes):
        kept, tries = 0, 0
        while kept < per_identity:
            tries += 1
            if tries > 1000 * max(per_identity, 1):
                raise ValueError(f"identity {label} has no disguise with {changes} traits changed that stays nearest "
                                 "to it: its cast-mates are too close")
            changed = rng.choice(may_change, int(rng.choice(changes)), replace=False)
            new = code.copy()
            new[changed] = (code[changed] + rng.integers(1, sizes[changed])) % sizes[changed]
            distance = (true_codes != new).sum(axis=1)
            if np.sum(distance <= distance[label]) == 1:  # strictly nearest its own Datamon
                codes.append(new)
                labels.append(label)
                kept += 1
    return np.asarray(codes, np.int64).reshape(-1, len(sizes)), np.asarray(labels, np.int64)


def render_disguises(identities: Sequence[datamons.Identity], per_identity: int, changes: Sequence[int], *,
                     size: int, traits: Sequence[str] | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): one portrait of each of ``disguise_codes``' disguises of ``identities``, drawn like real
    portraits (pose, lighting, expression), labelled with the Datamon each disguises."""
    codes, labels = disguise_codes(datamons.trait_codes(identities), per_identity, changes, traits=traits,
                                   seed=seed)
    return _portraits(codes, "disguise", size, seed), labels


def _portraits(codes: np.ndarray, prefix: str, size: int, seed: int) -> np.ndarray:
    """One portrait per row of ``codes`` (none: an empty batch), drawn like real portraits."""
    if not len(codes):
        return np.zeros((0, size, size, 3), np.float32)
    return datamons.render(datamons.identities_of_codes(codes, prefix), 1, size=size, seed=seed).images


# What a Datamon can change about itself (dye, clothes, hat, accessory); the rest is its face.
OUTFIT: tuple[str, ...] = ("colour", "pattern", "head", "accessory")


def impostor_codes(true_codes: np.ndarray, per_identity: int, *, outfit: Sequence[str] = OUTFIT,
                   dressed_share: float = 0.5, changes: Sequence[int] = (1, 2),
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, 7), labels (n,)): ``per_identity`` disguises of each row of ``true_codes`` that change its
    ``outfit`` traits only. A ``dressed_share`` of them wear a cast-mate's outfit (all, or all but one, of its
    outfit traits); the rest have a number from ``changes`` of outfit traits re-drawn. None equals another row.

    Unlike ``disguise_codes``, a disguise here may look more like a cast-mate than like itself: the name is the one
    of whoever wears the outfit, so only the face (the traits outside ``outfit``) tells an impostor from the
    Datamon it dresses as, and a target trained on them has to read eyes and mouths. Refuses a cast in which two
    rows share a face: nothing could tell those apart."""
    true_codes = _checked_codes(true_codes, per_identity)
    names = list(datamons.TRAITS)
    sizes = np.array([len(v) for v in datamons.TRAITS.values()])
    unknown = sorted(set(outfit) - set(names))
    if unknown or not outfit:
        raise ValueError(f"outfit must name traits from {', '.join(names)}, got {list(outfit)}")
    if not 0.0 <= dressed_share <= 1.0:
        raise ValueError(f"dressed_share must be between 0 and 1, got {dressed_share}")
    wear = np.array([names.index(t) for t in outfit])
    changes = [int(k) for k in changes]
    if not changes or min(changes) < 1 or max(changes) > len(wear):
        raise ValueError(f"changes must be numbers of outfit traits between 1 and {len(wear)}, got {changes}")
    face = np.setdiff1d(np.arange(len(names)), wear)
    faces = true_codes[:, face]
    if len(np.unique(faces, axis=0)) < len(faces):
        raise ValueError("two identities share a face (the traits outside the outfit): an impostor of one could "
                         "not be told from the other")
    if len(true_codes) < 2 and dressed_share > 0:
        raise ValueError("an impostor dresses as a cast-mate: the cast needs at least two identities")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1A9]))
    codes, labels = [], []
    for label, code in enumerate(true_codes):
        others = np.delete(np.arange(len(true_codes)), label)
        for _ in range(per_identity):
            new = code.copy()
            if rng.random() < dressed_share:  # a cast-mate's outfit, whole or all but one trait of it
                mate = true_codes[rng.choice(others)]
                taken = rng.choice(wear, int(rng.integers(len(wear) - 1, len(wear) + 1)), replace=False)
                new[taken] = mate[taken]
            else:
                changed = rng.choice(wear, int(rng.choice(changes)), replace=False)
                new[changed] = (code[changed] + rng.integers(1, sizes[changed])) % sizes[changed]
            codes.append(new)  # never a cast-mate itself: the face is kept and no two faces are the same
            labels.append(label)
    return np.asarray(codes, np.int64).reshape(-1, len(names)), np.asarray(labels, np.int64)


def render_impostors(identities: Sequence[datamons.Identity], per_identity: int, *, size: int,
                     dressed_share: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): one portrait of each of ``impostor_codes``' disguises of ``identities``, labelled with the
    Datamon who wears the outfit."""
    codes, labels = impostor_codes(datamons.trait_codes(identities), per_identity, dressed_share=dressed_share,
                                   seed=seed)
    return _portraits(codes, "impostor", size, seed), labels
