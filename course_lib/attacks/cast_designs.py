"""Other casts and other targets, to ask what an inversion could recover if the target had to look at every trait.

Notebook 03 finds that GMI brings back the traits the target uses (colour, accessory) and little else, and
``trait_reliance`` shows why: the named fifteen differ in colour and silhouette, so the targets never need eyes or
mouths. ``bench/trait_recovery_casts.py`` tests the obvious remedies with the same prior, attack and judge:

* ``trait_dropout_variants``: train the target on extra portraits of each Datamon with one trait re-drawn (same
  label), so no single trait decides and every trait carries evidence;
* ``minimal_pair_cast``: a cast whose members differ ONLY in small traits (corners of a hypercube over eyes, mouth,
  head and accessory, with one body, colour and pattern), so the target cannot name anyone without them;
* ``sibling_cast``: families of four that share body, colour and pattern and differ in two small traits;
* ``family_cast``: five families of three with their own body, colour and pattern, whose second and third members
  each differ from the first in one small trait alone (two per family, every small trait in some family).

``single_trait_neighbours`` counts, per trait, the members that have a cast-mate differing in that trait alone: a
trait no cast-mate isolates can be ignored by the target, and an inversion then recovers it only by chance.
Hand-written: these are experimental designs of this course's synthetic data, which no library provides.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from course_lib.attacks.trait_reliance import one_trait_changed
from course_lib.data import datamons

SMALL_TRAITS: tuple[str, ...] = ("eyes", "mouth", "head", "accessory")
FAMILY_TRAITS: tuple[str, ...] = ("body", "colour", "pattern")
CAST_SIZE = 15


codes = datamons.trait_codes  # (n, 7) trait indices


def min_distance(cast: np.ndarray, others: np.ndarray) -> int:
    """Fewest traits in which any member of ``cast`` differs from any row of ``others``."""
    if len(cast) == 0 or len(others) == 0:
        raise ValueError("min_distance needs two non-empty sets of trait codes")
    return int(datamons.trait_distances(cast, others).min())


def public_codes(n_public: Sequence[int], data_seed: int = 0) -> np.ndarray:
    """Trait codes of the public identities ``datamons.make_splits(seed=data_seed)`` draws for each count in
    ``n_public`` (one per profile): the identities a new cast must stay two traits away from, so that the shipped
    priors, trained on them, never saw a member of the new cast."""
    identity_seed = datamons.split_seeds(data_seed)[3]
    return np.unique(np.concatenate([codes(datamons.public_identities(n, seed=identity_seed)) for n in n_public]),
                     axis=0)


def single_trait_neighbours(identities: Sequence[datamons.Identity]) -> dict[str, float]:
    """Per trait, the share of the cast with a cast-mate that differs from it in that trait and nothing else."""
    c = codes(identities)
    differs = c[:, None, :] != c[None, :, :]  # (n, n, traits): which traits differ, not just how many
    alone = differs & (differs.sum(axis=2) == 1)[:, :, None]
    return {t: float(alone[:, :, k].any(axis=1).mean()) for k, t in enumerate(datamons.TRAITS)}


def trait_dropout_variants(identities: Sequence[datamons.Identity]) -> tuple[list[datamons.Identity], np.ndarray]:
    """Every member with one trait changed to each of its other values, and the label (member index) it keeps.

    A variant that would be another member of the cast is left out, so no portrait carries two labels.
    """
    cast = {i.code() for i in identities}
    variants, origin = [], []
    for trait in datamons.TRAITS:
        changed, source = one_trait_changed(identities, trait)
        for identity, k in zip(changed, source):
            if identity.code() not in cast:
                variants.append(identity)
                origin.append(int(k))
    return variants, np.asarray(origin, np.int64)


def minimal_pair_cast(avoid: np.ndarray, *, seed: int = 0, attempts: int = 20_000) -> list[datamons.Identity]:
    """Fifteen corners of the hypercube over ``SMALL_TRAITS`` (two values each, the all-second corner left out), one
    body, colour and pattern for all; at least two traits from every code in ``avoid`` (e.g. the public identities).

    Every member then has cast-mates that differ only in its eyes, only in its mouth, and so on (three or four of the
    four small traits), so a target cannot tell them apart without looking at the small traits.
    """
    rng = np.random.default_rng(seed)
    index = {t: k for k, t in enumerate(datamons.TRAITS)}
    for _ in range(attempts):
        base = [int(rng.integers(len(v))) for v in datamons.TRAITS.values()]
        pairs = {t: rng.choice(len(datamons.TRAITS[t]), 2, replace=False) for t in SMALL_TRAITS}
        cast = []
        for bits in itertools.product((0, 1), repeat=len(SMALL_TRAITS)):
            if all(bits):
                continue
            code = list(base)
            for t, b in zip(SMALL_TRAITS, bits):
                code[index[t]] = int(pairs[t][b])
            cast.append(code)
        if min_distance(np.array(cast), avoid) >= 2:
            return datamons.identities_of_codes(cast, names=datamons.NAMED)
    raise RuntimeError(f"no minimal-pair cast two traits from every avoided identity in {attempts} attempts")


def sibling_cast(avoid: np.ndarray, *, seed: int = 0, attempts: int = 20_000) -> list[datamons.Identity]:
    """Four families (the last of three) with their own body, colour and pattern; within a family the members are the
    corners of a square over two small traits (eyes x mouth, head x accessory, eyes x head, mouth x accessory).
    At least two traits from every code in ``avoid``."""
    rng = np.random.default_rng(seed)
    index = {t: k for k, t in enumerate(datamons.TRAITS)}
    squares = (("eyes", "mouth"), ("head", "accessory"), ("eyes", "head"), ("mouth", "accessory"))
    for _ in range(attempts):
        # every family its own body, colour and pattern (each trait has at least four values)
        family_values = {t: rng.choice(len(datamons.TRAITS[t]), len(squares), replace=False) for t in FAMILY_TRAITS}
        cast = []
        for f, (a, b) in enumerate(squares):
            base = [int(rng.integers(len(v))) for v in datamons.TRAITS.values()]
            for t in FAMILY_TRAITS:
                base[index[t]] = int(family_values[t][f])
            va = rng.choice(len(datamons.TRAITS[a]), 2, replace=False)
            vb = rng.choice(len(datamons.TRAITS[b]), 2, replace=False)
            for i, j in itertools.product((0, 1), repeat=2):
                if len(cast) == CAST_SIZE:
                    break
                code = list(base)
                code[index[a]], code[index[b]] = int(va[i]), int(vb[j])
                cast.append(code)
        cast_codes = np.array(cast)
        distinct = len({tuple(c) for c in cast}) == CAST_SIZE
        if distinct and min_distance(cast_codes, avoid) >= 2:
            return datamons.identities_of_codes(cast, names=datamons.NAMED)
    raise RuntimeError(f"no sibling cast two traits from every avoided identity in {attempts} attempts")


# Five families of three. Within a family the second and third members each differ from the first in ONE small trait
# (eyes and mouth in the first family, and so on), so a target must read it; across families body and colour differ,
# and pattern too where its four values allow (two of the five families share one).
FAMILY_SPLITS: tuple[tuple[str, str], ...] = (
    ("eyes", "mouth"), ("mouth", "head"), ("eyes", "accessory"), ("mouth", "eyes"), ("head", "accessory"))


def family_cast(avoid: np.ndarray, *, seed: int = 0, splits: Sequence[tuple[str, str]] = FAMILY_SPLITS,
                attempts: int = 20_000) -> list[datamons.Identity]:
    """Families of three (one per pair in ``splits``, at most five: one name each) sharing a body, colour and pattern
    (their own, as far as a trait's values go round) and their small traits, except that the second member differs
    from the first in ``split[0]`` alone and the third in ``split[1]`` alone; members of different families differ
    in three traits or more, and every member in two or more from every code in ``avoid``."""
    rng = np.random.default_rng(seed)
    index = {t: k for k, t in enumerate(datamons.TRAITS)}
    n = len(splits)
    if not 1 <= 3 * n <= len(datamons.NAMED):
        raise ValueError(f"family_cast makes three members per split and has {len(datamons.NAMED)} names: give 1 to "
                         f"{len(datamons.NAMED) // 3} splits, got {n}")
    for _ in range(attempts):
        family_values = {t: (rng.choice(len(datamons.TRAITS[t]), n, replace=len(datamons.TRAITS[t]) < n))
                         for t in FAMILY_TRAITS}
        cast = []
        for f, split in enumerate(splits):
            base = [int(rng.integers(len(v))) for v in datamons.TRAITS.values()]
            for t in FAMILY_TRAITS:
                base[index[t]] = int(family_values[t][f])
            cast.append(list(base))
            for t in split:
                code = list(base)
                code[index[t]] = int((base[index[t]] + rng.integers(1, len(datamons.TRAITS[t])))
                                     % len(datamons.TRAITS[t]))
                cast.append(code)
        cast_codes = np.array(cast)
        between = datamons.trait_distances(cast_codes, cast_codes)
        family = np.repeat(np.arange(n), 3)
        apart = between[family[:, None] != family[None, :]].min() >= 3
        if apart and min_distance(cast_codes, avoid) >= 2:
            return datamons.identities_of_codes(cast, names=datamons.NAMED[:len(cast)])
    raise RuntimeError(f"no family cast two traits from every avoided identity in {attempts} attempts")
