"""Disguises keep their Datamon's name only while they still look most like it."""
import numpy as np
import pytest

from course_lib.data import datamons, disguises


def cast_codes():
    return datamons.trait_codes(datamons.named_identities())


def test_each_disguise_changes_the_asked_number_of_traits_and_stays_nearest_its_own_datamon():
    true = cast_codes()
    codes, labels = disguises.disguise_codes(true, 20, changes=(1, 2, 3), seed=0)
    assert codes.shape == (20 * len(true), 7) and np.array_equal(np.bincount(labels), [20] * len(true))
    changed = (codes != true[labels]).sum(axis=1)
    assert set(changed.tolist()) == {1, 2, 3}
    distance = (codes[:, None, :] != true[None]).sum(axis=2)  # (disguises, cast)
    own = distance[np.arange(len(codes)), labels]
    distance[np.arange(len(codes)), labels] = 99
    assert np.all(own < distance.min(axis=1))
    sizes = [len(v) for v in datamons.TRAITS.values()]
    assert np.all((codes >= 0) & (codes < np.array(sizes)))


def test_same_seed_same_disguises_and_another_seed_others():
    true = cast_codes()
    a = disguises.disguise_codes(true, 5, seed=3)
    b = disguises.disguise_codes(true, 5, seed=3)
    c = disguises.disguise_codes(true, 5, seed=4)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


def test_a_cast_too_close_for_the_asked_changes_and_bad_input_are_refused():
    twins = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1]])
    with pytest.raises(ValueError, match="too close"):
        disguises.disguise_codes(twins, 3, changes=(7,), seed=0)
    with pytest.raises(ValueError, match="changes"):
        disguises.disguise_codes(cast_codes(), 3, changes=(0,))
    with pytest.raises(ValueError, match="per_identity"):
        disguises.disguise_codes(cast_codes(), -1)
    with pytest.raises(ValueError, match="trait indices"):
        disguises.disguise_codes(np.zeros((3, 4), np.int64), 1)


def test_rendered_disguises_are_portraits_of_the_changed_designs_with_their_labels():
    named = datamons.named_identities()
    images, labels = disguises.render_disguises(named, 2, (1,), size=32, seed=0)
    assert images.shape == (2 * len(named), 32, 32, 3) and images.dtype == np.float32
    assert np.array_equal(labels, np.repeat(np.arange(len(named)), 2))
    assert 0.0 <= images.min() and images.max() <= 1.0
    codes, _ = disguises.disguise_codes(datamons.trait_codes(named), 2, (1,), seed=0)
    redrawn = datamons.render(datamons.identities_of_codes(codes), 1, size=32, seed=0).images
    np.testing.assert_array_equal(images, redrawn)


def test_only_the_named_traits_change_and_an_unknown_trait_is_refused():
    true = cast_codes()
    codes, labels = disguises.disguise_codes(true, 10, changes=(1, 2), traits=["body", "colour", "pattern"], seed=1)
    changed = codes != true[labels]
    assert changed[:, :3].any() and not changed[:, 3:].any()
    with pytest.raises(ValueError, match="unknown trait"):
        disguises.disguise_codes(true, 1, traits=["wings"])
    with pytest.raises(ValueError, match="between 1 and 2"):
        disguises.disguise_codes(true, 1, changes=(3,), traits=["eyes", "mouth"])
