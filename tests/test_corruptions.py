"""Auxiliary-knowledge corruptions (course_lib.data.corruptions)."""
import numpy as np
import pytest

from course_lib.data import corruptions as cr
from course_lib.data import datamons as dm


@pytest.fixture(scope="module")
def portraits():
    return dm.render(dm.named_identities()[:4], 2, size=64, seed=0).images


def test_on_the_full_frame_the_masks_are_the_papers():
    mask = cr.square_mask(64, box=cr.FULL_FRAME)
    assert mask.dtype == bool and mask.shape == (64, 64)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 53, 10, 53)
    assert mask.mean() == pytest.approx(0.7**2, abs=0.03)
    t = cr.t_mask(64, box=cr.FULL_FRAME)
    assert t[25, 10] and t[39, 51] and t[40, 26] and t[62, 37]  # corners of bar and stem
    assert not t[24, 30] and not t[30, 9] and not t[30, 52]  # just outside the bar
    assert not t[50, 25] and not t[50, 38] and not t[63, 30]  # just outside the stem
    assert t.sum() == 15 * 42 + 23 * 12


@pytest.mark.parametrize("size", [32, 64])
def test_masks_sit_inside_the_creatures_box(size):
    top, bottom, left, right = (round(f * size) for f in cr.DATAMON_BOX)
    for mask in (cr.square_mask(size), cr.t_mask(size)):
        rows, cols = np.nonzero(mask)
        assert top <= rows.min() and rows.max() < bottom and left <= cols.min() and cols.max() < right
    square, t = cr.square_mask(size), cr.t_mask(size)
    assert 0.08 < square.mean() < 0.2 and t.mean() < square.mean()
    assert not square[: top + 2].any() and not square[:, : left + 2].any()


@pytest.fixture(scope="module")
def creatures():
    return {size: dm.creature_masks(dm.public_identities(60), 5, size=size, seed=3) for size in (32, 64)}


@pytest.mark.parametrize("size", [32, 64])
def test_datamon_box_is_the_measured_bounding_box_of_the_creature(creatures, size):
    masks = creatures[size]
    rows = np.array([np.flatnonzero(m.any(axis=1))[[0, -1]] for m in masks]) / size
    cols = np.array([np.flatnonzero(m.any(axis=0))[[0, -1]] for m in masks]) / size
    measured = (rows[:, 0].mean(), rows[:, 1].mean() + 1 / size, cols[:, 0].mean(), cols[:, 1].mean() + 1 / size)
    np.testing.assert_allclose(measured, cr.DATAMON_BOX, atol=0.04)


@pytest.mark.parametrize("size", [32, 64])
def test_the_papers_square_on_the_whole_frame_hides_the_creature_the_course_square_its_middle(creatures, size):
    masks = creatures[size]

    def hidden(mask):
        return (masks & mask).sum() / masks.sum()

    assert hidden(cr.square_mask(size, box=cr.FULL_FRAME)) > 0.9
    assert 0.45 < hidden(cr.square_mask(size)) < 0.75
    assert 0.15 < hidden(cr.t_mask(size)) < hidden(cr.square_mask(size))


def test_creature_masks_follow_the_portrait_pose():
    portraits = dm.render(dm.named_identities()[:3], 4, size=32, seed=5)
    masks = dm.creature_masks(dm.named_identities()[:3], 4, size=32, seed=5)
    assert masks.shape == (12, 32, 32) and masks.dtype == bool
    assert 0.08 < masks.mean() < 0.35
    assert len({m.tobytes() for m in masks}) == 12  # every pose is different
    # the creature is where the portrait differs from its smooth background: more edges inside than outside
    edges = np.abs(np.diff(portraits.images, axis=2)).max(axis=3)
    assert edges[masks[:, :, 1:]].mean() > 2 * edges[~masks[:, :, 1:]].mean()
    with pytest.raises(ValueError, match="per_identity"):
        dm.creature_masks(dm.named_identities()[:1], 0)


def test_bad_box_is_refused():
    with pytest.raises(ValueError, match="box must be"):
        cr.square_mask(32, box=(0.5, 0.4, 0.0, 1.0))
    with pytest.raises(ValueError, match="box must be"):
        cr.t_mask(32, box=(0.0, 1.2, 0.0, 1.0))


@pytest.mark.parametrize("kind", ["square", "t_mask"])
def test_masked_pixels_are_zero_and_the_rest_untouched(portraits, kind):
    corrupted, mask = cr.corrupt(portraits, kind)
    assert corrupted.shape == portraits.shape and corrupted.dtype == np.float32
    assert (corrupted[:, mask] == 0).all()
    np.testing.assert_array_equal(corrupted[:, ~mask], portraits[:, ~mask])
    assert portraits[:, mask].max() > 0  # the input itself is not modified


def test_blur_removes_high_frequencies_but_keeps_the_layout(portraits):
    blurred, mask = cr.corrupt(portraits, "blur")
    assert not mask.any() and mask.shape == (64, 64)

    def high_frequency_energy(x):
        return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=2) ** 2))

    assert high_frequency_energy(blurred) < 0.1 * high_frequency_energy(portraits)
    np.testing.assert_allclose(blurred.mean(axis=(1, 2)), portraits.mean(axis=(1, 2)), atol=0.02)
    coarse = lambda x: x.reshape(len(x), 8, 8, 8, 8, 3).mean(axis=(2, 4))  # noqa: E731  8x8 layout
    assert np.abs(coarse(blurred) - coarse(portraits)).mean() < 0.05
    assert high_frequency_energy(cr.blur(portraits, sigma=1.0)) > high_frequency_energy(blurred)


def test_bad_input_stops_with_a_clear_message(portraits):
    with pytest.raises(ValueError, match="unknown corruption 'noise'"):
        cr.corrupt(portraits, "noise")
    with pytest.raises(ValueError, match="must have shape"):
        cr.corrupt(portraits[..., 0], "square")
    with pytest.raises(ValueError, match="must have shape"):
        cr.corrupt(portraits[:, :32], "t_mask")
    with pytest.raises(ValueError, match="sigma must be a positive"):
        cr.blur(portraits, sigma=0)
    with pytest.raises(ValueError, match="mask size"):
        cr.square_mask(4)
