"""The experimental casts of bench/trait_recovery_casts.py have the structure they promise, and stay away from the
public identities the shipped priors were trained on."""
import numpy as np
import pytest

from course_lib import config
from course_lib.attacks import cast_designs
from course_lib.data import datamons


@pytest.fixture(scope="module")
def avoid() -> np.ndarray:
    return cast_designs.public_codes([config.load(p).revealer.n_public for p in config.PROFILES])


def test_public_codes_are_the_identities_make_splits_draws():
    splits = datamons.make_splits(size=16, train_per_identity=1, test_per_identity=1, n_public=12,
                                  public_per_identity=1, seed=0)
    drawn = np.unique(splits.public.traits, axis=0)
    np.testing.assert_array_equal(drawn, cast_designs.public_codes([12]))


def test_the_named_cast_isolates_no_trait_and_keeps_two_traits_from_the_public(avoid):
    named = datamons.named_identities()
    assert set(cast_designs.single_trait_neighbours(named).values()) == {0.0}
    assert cast_designs.min_distance(cast_designs.codes(named), avoid) >= 2


def test_minimal_pair_cast_isolates_every_small_trait(avoid):
    cast = cast_designs.minimal_pair_cast(avoid, seed=0)
    c = cast_designs.codes(cast)
    assert len(cast) == cast_designs.CAST_SIZE == len({tuple(row) for row in c})
    assert cast_designs.min_distance(c, avoid) >= 2
    shares = cast_designs.single_trait_neighbours(cast)
    # 15 of 16 hypercube corners: only the 4 neighbours of the missing corner lack one direction each
    assert all(shares[t] == pytest.approx(14 / 15) for t in cast_designs.SMALL_TRAITS)
    assert all(shares[t] == 0.0 for t in cast_designs.FAMILY_TRAITS)
    for t in cast_designs.FAMILY_TRAITS:  # one body, colour and pattern for all
        assert len({i.traits[t] for i in cast}) == 1


def test_sibling_cast_has_four_families_each_a_square_over_two_small_traits(avoid):
    cast = cast_designs.sibling_cast(avoid, seed=0)
    c = cast_designs.codes(cast)
    assert len({tuple(row) for row in c}) == cast_designs.CAST_SIZE
    assert cast_designs.min_distance(c, avoid) >= 2
    families = [tuple(i.traits[t] for t in cast_designs.FAMILY_TRAITS) for i in cast]
    assert [families.count(f) for f in dict.fromkeys(families)] == [4, 4, 4, 3]
    assert len({f[1] for f in families}) == 4  # a colour per family
    shares = cast_designs.single_trait_neighbours(cast)
    assert all(0 < shares[t] < 1 for t in cast_designs.SMALL_TRAITS)


def test_family_cast_isolates_one_small_trait_per_member_within_families_far_apart(avoid):
    cast = cast_designs.family_cast(avoid, seed=0)
    c = cast_designs.codes(cast)
    assert len(cast) == 3 * len(cast_designs.FAMILY_SPLITS) == len({tuple(row) for row in c})
    assert cast_designs.min_distance(c, avoid) >= 2
    names, distance = list(datamons.TRAITS), datamons.trait_distances(c, c)
    for f, split in enumerate(cast_designs.FAMILY_SPLITS):
        first, *others = range(3 * f, 3 * f + 3)
        for member, trait in zip(others, split):  # the member differs from the first in that trait alone
            assert [names[k] for k in np.flatnonzero(c[member] != c[first])] == [trait]
        outside = [k for k in range(len(c)) if k // 3 != f]
        assert distance[3 * f:3 * f + 3][:, outside].min() >= 3
    shares = cast_designs.single_trait_neighbours(cast)
    assert all(shares[t] > 0 for t in cast_designs.SMALL_TRAITS)
    assert all(shares[t] == 0.0 for t in cast_designs.FAMILY_TRAITS)


def test_family_cast_refuses_an_avoid_set_it_cannot_escape():
    every_seventh = np.stack(np.meshgrid(*[np.arange(len(v)) for v in datamons.TRAITS.values()], indexing="ij"),
                             -1).reshape(-1, len(datamons.TRAITS))[::7]  # a code one trait from nearly any other
    with pytest.raises(RuntimeError, match="no family cast"):
        cast_designs.family_cast(every_seventh, seed=0, attempts=20)
    with pytest.raises(ValueError, match="splits"):  # more members than the cast has names
        cast_designs.family_cast(every_seventh, splits=cast_designs.FAMILY_SPLITS + (("eyes", "head"),))


def test_single_trait_neighbours_counts_only_differences_in_one_trait():
    base = datamons.named_identities()[0]
    one = datamons.Identity("b", {**base.traits, "eyes": next(v for v in datamons.TRAITS["eyes"]
                                                               if v != base.traits["eyes"])})
    two = datamons.Identity("c", {**one.traits, "mouth": next(v for v in datamons.TRAITS["mouth"]
                                                              if v != base.traits["mouth"])})
    shares = cast_designs.single_trait_neighbours([base, one, two])
    assert shares["eyes"] == pytest.approx(2 / 3)  # base and one; two differs from base in two traits
    assert shares["mouth"] == pytest.approx(2 / 3)  # one and two
    assert shares["colour"] == 0.0


def test_trait_dropout_variants_keep_their_label_and_never_copy_a_cast_member():
    named = datamons.named_identities()
    variants, origin = cast_designs.trait_dropout_variants(named)
    per_identity = sum(len(v) - 1 for v in datamons.TRAITS.values())
    assert len(variants) == len(origin) == len(named) * per_identity  # the named fifteen are 2+ traits apart
    cast = {i.code() for i in named}
    assert not cast & {v.code() for v in variants}
    for variant, k in zip(variants, origin):
        differs = np.asarray(variant.code()) != np.asarray(named[k].code())
        assert differs.sum() == 1
    # in a cast with single-trait neighbours, the variant that would be a neighbour is left out
    pair = [named[0], datamons.Identity("twin", {**named[0].traits, "eyes": next(
        v for v in datamons.TRAITS["eyes"] if v != named[0].traits["eyes"])})]
    variants, _ = cast_designs.trait_dropout_variants(pair)
    assert len(variants) == 2 * per_identity - 2


def test_min_distance_refuses_empty_sets():
    with pytest.raises(ValueError, match="non-empty"):
        cast_designs.min_distance(np.zeros((0, 7), int), np.zeros((1, 7), int))
