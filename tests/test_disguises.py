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


def test_impostors_change_only_their_outfit_and_many_look_more_like_a_cast_mate():
    true = cast_codes()
    codes, labels = disguises.impostor_codes(true, 40, seed=0)
    assert codes.shape == (15 * 40, 7) and np.array_equal(labels, np.repeat(np.arange(15), 40))
    face = [list(datamons.TRAITS).index(t) for t in ("body", "eyes", "mouth")]
    assert np.array_equal(codes[:, face], true[labels][:, face])  # the face is never touched
    distance = (codes[:, None, :] != true[None]).sum(axis=2)
    own = distance[np.arange(len(codes)), labels]
    nearer_a_mate = distance.min(axis=1) < own
    assert 0.1 < nearer_a_mate.mean() < 0.6  # a cast-mate's outfit: only the face says who it is
    distance[np.arange(len(codes)), labels] = 99
    assert (distance > 0).all()  # never a cast-mate itself


def test_impostors_without_dressing_up_re_draw_the_asked_number_of_outfit_traits():
    true = cast_codes()
    codes, labels = disguises.impostor_codes(true, 20, dressed_share=0.0, changes=(2,), seed=1)
    changed = codes != true[labels]
    assert (changed.sum(axis=1) == 2).all()
    outfit = [list(datamons.TRAITS).index(t) for t in disguises.OUTFIT]
    assert not np.delete(changed, outfit, axis=1).any()
    again, _ = disguises.impostor_codes(true, 20, dressed_share=0.0, changes=(2,), seed=1)
    assert np.array_equal(codes, again)


def test_impostors_refuse_a_cast_whose_faces_repeat_and_bad_settings():
    true = cast_codes()
    twins = np.concatenate([true[:1], true[:1]])
    twins[1, list(datamons.TRAITS).index("colour")] ^= 1  # another outfit, the same face
    with pytest.raises(ValueError, match="share a face"):
        disguises.impostor_codes(twins, 2)
    with pytest.raises(ValueError, match="dressed_share"):
        disguises.impostor_codes(true, 2, dressed_share=1.5)
    with pytest.raises(ValueError, match="outfit"):
        disguises.impostor_codes(true, 2, outfit=("wings",))
    with pytest.raises(ValueError, match="changes"):
        disguises.impostor_codes(true, 2, changes=(5,))
