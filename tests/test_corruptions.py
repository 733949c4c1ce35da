"""Auxiliary-knowledge corruptions (course_lib.data.corruptions)."""
import numpy as np
import pytest

from course_lib.data import corruptions as cr
from course_lib.data import datamons as dm


@pytest.fixture(scope="module")
def portraits():
    return dm.render(dm.named_identities()[:4], 2, size=64, seed=0).images


def test_square_mask_hides_the_central_15_to_85_percent():
    mask = cr.square_mask(64)
    assert mask.dtype == bool and mask.shape == (64, 64)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 53, 10, 53)
    assert mask.mean() == pytest.approx(0.7**2, abs=0.03)
    assert cr.square_mask(32).mean() == pytest.approx(0.7**2, abs=0.05)


def test_t_mask_covers_the_bar_and_the_stem_only():
    mask = cr.t_mask(64)
    assert mask[25, 10] and mask[39, 51] and mask[40, 26] and mask[62, 37]  # corners of bar and stem
    assert not mask[24, 30] and not mask[30, 9] and not mask[30, 52]  # just outside the bar
    assert not mask[50, 25] and not mask[50, 38] and not mask[63, 30]  # just outside the stem
    assert mask.sum() == 15 * 42 + 23 * 12
    small = cr.t_mask(32)
    assert small.shape == (32, 32) and small[15, 10] and small[25, 15] and not small[25, 5]
    assert small.mean() == pytest.approx(mask.mean(), abs=0.02)


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
