"""The Datamons renderer, identities and splits (course_lib.data.datamons)."""
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from course_lib.data import datamons as dm


@pytest.fixture(scope="module")
def named():
    return dm.named_identities()


@pytest.mark.parametrize("size", [32, 64])
def test_portraits_have_the_promised_shapes_types_and_range(named, size):
    p = dm.render(named, 2, size=size, seed=0)
    n = 2 * len(named)
    assert p.images.shape == (n, size, size, 3) and p.images.dtype == np.float32
    assert p.images.min() >= 0.0 and p.images.max() <= 1.0
    assert p.labels.shape == (n,) and p.labels.dtype == np.int64
    assert p.traits.shape == (n, len(dm.TRAITS)) and p.traits.dtype == np.int64
    assert p.names == list(dm.NAMED) and len(p) == n
    assert np.array_equal(p.labels, np.repeat(np.arange(len(named)), 2))
    assert p.images.std() > 0.1  # not a blank canvas


def test_same_seed_same_pixels_other_seed_other_pixels(named):
    a = dm.render(named[:3], 4, size=32, seed=5)
    b = dm.render(named[:3], 4, size=32, seed=5)
    c = dm.render(named[:3], 4, size=32, seed=6)
    assert np.array_equal(a.images, b.images)
    assert not np.allclose(a.images, c.images)


def test_every_portrait_of_one_identity_differs(named):
    images = dm.render(named[:1], 8, size=32, seed=0).images.reshape(8, -1)
    distances = np.linalg.norm(images[:, None] - images[None], axis=2)[np.triu_indices(8, 1)]
    assert distances.min() > 1.0


def test_traits_returned_are_the_identitys_traits(named):
    identities = named + dm.public_identities(5)
    p = dm.render(identities, 3, size=32, seed=1)
    for portrait_traits, label in zip(p.traits, p.labels):
        identity = identities[label]
        assert p.names[label] == identity.name
        decoded = {t: dm.TRAITS[t][v] for t, v in zip(dm.TRAITS, portrait_traits)}
        assert decoded == dict(identity.traits)


def test_named_cast_is_the_talks_fifteen_with_at_least_six_traits(named):
    assert [i.name for i in named] == list(dm.NAMED) and len(named) == 15
    assert dm.NAMED[0] == "Streamèche" and dm.NAMED[-1] == "Securmax"
    assert len(dm.TRAITS) >= 6 and all(len(values) >= 3 for values in dm.TRAITS.values())


def test_named_identities_differ_enough_but_share_traits():
    shared = dm.pairwise_shared_traits()
    off_diagonal = shared[~np.eye(15, dtype=bool)].reshape(15, 14)
    assert (len(dm.TRAITS) - off_diagonal).min() >= 3  # any two differ in at least three traits
    assert (off_diagonal.max(axis=1) >= 2).all()  # everyone has a relative sharing two traits or more


def test_public_identities_are_unique_and_far_from_the_named(named):
    public = dm.public_identities(250, seed=3)
    codes = np.array([i.code() for i in public])
    assert len(public) == 250 and len({tuple(c) for c in codes}) == 250
    named_codes = np.array([i.code() for i in named])
    assert (codes[:, None, :] != named_codes[None]).sum(axis=2).min() >= 2
    assert not {i.name for i in public} & set(dm.NAMED)
    assert [i.code() for i in dm.public_identities(250, seed=3)] == [i.code() for i in public]
    assert dm.public_identities(200)[0].code() != dm.public_identities(200, seed=1)[0].code()


@pytest.mark.parametrize("profile", ["smoke", "class", "full"])
def test_the_cast_stays_two_traits_from_every_profiles_public_identities(named, profile):
    """The public draw avoids a frozen copy of the first cast; the cast in use must still keep two traits away."""
    from course_lib import config

    r = config.load(profile, 0).revealer
    identity_seed = dm.split_seeds(0)[3]
    public = np.array([i.code() for i in dm.public_identities(r.n_public, seed=identity_seed)])
    assert dm.trait_distances(public, dm.trait_codes(named)).min() >= 2


def test_splits_come_from_one_function_without_shared_portraits():
    s = dm.make_splits(size=32, train_per_identity=6, test_per_identity=3, n_public=200, public_per_identity=1,
                       seed=0)
    assert len(s.private_train) == 90 and len(s.private_test) == 45 and len(s.public) == 200
    assert s.private_train.names == s.private_test.names == list(dm.NAMED)
    assert not set(s.public.names) & set(dm.NAMED)
    train = {img.tobytes() for img in s.private_train.images}
    assert not any(img.tobytes() in train for img in s.private_test.images)
    # different seeds per split: the first test portrait is not the first train portrait re-drawn
    assert not np.allclose(s.private_train.images[0], s.private_test.images[0])
    again = dm.make_splits(size=32, train_per_identity=6, test_per_identity=3, n_public=200, public_per_identity=1,
                           seed=0)
    assert np.array_equal(again.public.images, s.public.images)


def test_raw_pixel_nearest_neighbour_stays_below_60_percent():
    s = dm.make_splits(size=32, train_per_identity=40, test_per_identity=20, n_public=200, public_per_identity=1,
                       seed=1)
    train, test = s.private_train, s.private_test
    knn = KNeighborsClassifier(n_neighbors=1).fit(train.images.reshape(len(train), -1), train.labels)
    accuracy = knn.score(test.images.reshape(len(test), -1), test.labels)
    assert 1 / 15 < accuracy < 0.6


def _extreme_poses(draw):
    """Wrap _draw_nuisance: largest and smallest scale, +-20 degrees, shifted to the frame's edges, eyes shut or
    open, mouths closed or wide open, gaze in the corners: where a part's window is hardest to get right."""
    def extreme(rng, n):
        nuisance, pick = draw(rng, n), np.random.default_rng(n).choice
        nuisance["rotation"] = pick([-1, 1], n).astype(np.float32) * np.float32(np.deg2rad(20))
        nuisance["scale"] = pick(np.array([0.78, 1.1], dtype=np.float32), n)
        nuisance["shift"] = pick(np.array([-0.22, 0.0, 0.22], dtype=np.float32), (n, 2))
        nuisance["mouth_open"] = pick(np.array([0.0, 1.0], dtype=np.float32), n)
        nuisance["eye_open"] = pick(np.array([0.1, 1.0], dtype=np.float32), n)
        nuisance["gaze"] = pick(np.array([-1.0, 1.0], dtype=np.float32), (n, 2))
        return nuisance
    return extreme


@pytest.mark.parametrize("poses, size", [("random", 64), ("extreme", 64), ("extreme", 33), ("extreme", 16)])
def test_drawing_in_windows_changes_no_pixel(named, monkeypatch, poses, size):
    """Every part is drawn in a window cut around its box; drawing on whole frames instead gives the same bits."""
    if poses == "extreme":
        monkeypatch.setattr(dm, "_draw_nuisance", _extreme_poses(dm._draw_nuisance))
    identities = named + dm.public_identities(30)
    windowed = dm.render(identities, 2, size=size, seed=4).images
    monkeypatch.setattr(dm, "_WINDOWS", False)
    whole = dm.render(identities, 2, size=size, seed=4).images
    np.testing.assert_array_equal(windowed, whole)


@pytest.mark.parametrize("size, means, mean_square, sums, mask", [
    (32, [0.5918094, 0.6219386, 0.6085032], 0.4078581, [1619.775369, 2092.348522, 2596.203514], 5071),
    (64, [0.5917323, 0.6223717, 0.6087958], 0.4112201, [6495.979267, 8366.109321, 10396.647857], 21638),
])
def test_renders_match_their_fingerprint(named, size, means, mean_square, sums, mask):
    """Numbers of renderer 2 (RENDERER_VERSION), which every shipped Datamons checkpoint was trained on: a faster
    renderer must draw the same pixels (they may differ in their last bits between CPUs, hence the tolerances)."""
    images = dm.render(named, 2, size=size, seed=0).images.astype(np.float64)
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), means, atol=2e-7)
    np.testing.assert_allclose((images ** 2).mean(), mean_square, atol=2e-7)
    np.testing.assert_allclose(images.reshape(len(images), -1).sum(axis=1)[[0, 7, 29]], sums, atol=1e-3)
    assert int(dm.creature_masks(named, 2, size=size, seed=0).sum()) == mask


def test_describe_and_trait_table_name_every_trait(named):
    text = dm.describe(named[0])
    assert text.startswith("Streamèche: a round blue Datamon with stripes") and "scarf" in text
    table = dm.trait_table(named)
    assert len(table) == 15 and list(table[0]) == ["name", *dm.TRAITS]
    assert table[3]["name"] == "FastFeu" and table[3]["colour"] == "red"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda n: dm.render(n, 0), "per_identity must be a positive integer"),
        (lambda n: dm.render(n, 2, size=8), "size must be an integer of at least 16"),
        (lambda n: dm.render([], 2), "non-empty list of Identity"),
        (lambda n: dm.render(["DS-Li"], 2), "non-empty list of Identity"),
        (lambda n: dm.render(n, 2, seed=-1), "seed must be a non-negative integer"),
        (lambda n: dm.public_identities(0), "n must be a positive integer"),
        (lambda n: dm.Identity("x", {**n[0].traits, "colour": "plaid"}), "colour 'plaid' is not one of"),
        (lambda n: dm.Identity("x", {"body": "round"}), "must give exactly the traits"),
        (lambda n: dm.make_splits(train_per_identity=0, test_per_identity=1, public_per_identity=1),
         "train_per_identity must be a positive integer"),
    ],
)
def test_bad_input_stops_with_a_clear_message(named, call, message):
    with pytest.raises(ValueError, match=message):
        call(named)


def test_identities_of_codes_names_each_design_and_refuses_a_name_count_that_does_not_match():
    codes = dm.trait_codes(dm.named_identities()[:3])
    assert [i.name for i in dm.identities_of_codes(codes, names=["a", "b", "c"])] == ["a", "b", "c"]
    assert [i.name for i in dm.identities_of_codes(codes, prefix="x")] == ["x 0", "x 1", "x 2"]
    with pytest.raises(ValueError, match="2 names for 3 designs"):
        dm.identities_of_codes(codes, names=["a", "b"])
