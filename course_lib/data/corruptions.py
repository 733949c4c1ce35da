"""Corrupted portraits: the attacker's auxiliary knowledge in the Secret Revealer (notebook 03).

Zhang et al. (CVPR 2020) give the attacker a damaged photo of the target: blurred, with the centre hidden (square
mask) or with the eyes and nose hidden (T mask); here both masks are drawn on the creature, not on the whole frame.
The inpainting generator sees the damaged image and the mask and only has to invent the hidden part. Masks are bool (size, size), True = hidden; hidden pixels are set to 0.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("blur", "square", "t_mask")

# Blur strength as a fraction of the image side: 3 pixels on 64 x 64 (1.5 on 32 x 32) wipes out eyes, mouth and
# accessories (a few pixels wide) while the silhouette, colour and position of the creature survive.
BLUR_SIGMA_FRACTION = 3.0 / 64


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] not in (1, 3):
        raise ValueError(
            f"images must have shape (n, size, size, channels) with 1 or 3 channels, got {images.shape}"
        )
    return images


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"mask size must be an integer of at least 8 pixels, got {size!r}")
    return int(size)


def blur(images: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur of every image (spatial axes only); ``sigma`` in pixels, default 3/64 of the side."""
    images = _check_images(images)
    if sigma is None:
        sigma = BLUR_SIGMA_FRACTION * images.shape[1]
    if not sigma > 0:
        raise ValueError(f"blur sigma must be a positive number of pixels, got {sigma!r}")
    # scipy's separable filter: one call for the whole batch, sigma 0 on the batch and channel axes.
    return ndimage.gaussian_filter(images.astype(np.float32, copy=False), sigma=(0, sigma, sigma, 0), mode="nearest")


# The paper draws its masks on face-aligned crops (CelebA, 64 x 64), where the face fills the frame. A Datamon
# portrait is framed differently: the creature stands in the middle with background all around it. Measured with
# ``datamons.creature_masks`` (2,000 public portraits, 32 and 64 pixels), the creature's mean bounding box spans
# rows 23-83 % and columns 27-73 % of the side, and the paper's square copied onto the whole frame hides 97 % of
# the creature's pixels: nothing of the identity is left to know. So the course draws both masks on the
# creature's box, as the paper draws them on the face: the square then hides the creature's middle (eyes, mouth,
# pattern, accessory: about 60 % of its pixels) and leaves its outline, ears and feet, as the paper's square
# leaves hair, chin and face outline. ``box=FULL_FRAME`` gives the paper's masks on the whole image.
Box = tuple[float, float, float, float]  # (top, bottom, left, right) as fractions of the image side
FULL_FRAME: Box = (0.0, 1.0, 0.0, 1.0)
DATAMON_BOX: Box = (0.23, 0.83, 0.27, 0.73)


def _check_box(box: Box) -> Box:
    top, bottom, left, right = (float(v) for v in box)
    if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
        raise ValueError(f"box must be (top, bottom, left, right) fractions with 0 <= top < bottom <= 1 and "
                         f"0 <= left < right <= 1, got {box!r}")
    return top, bottom, left, right


def _on_box(size: int, box: Box, rows: tuple[float, float], cols: tuple[float, float]) -> tuple[slice, slice]:
    """Pixel slices of a rectangle given in fractions of ``box`` (the paper's coordinates on its face crop)."""
    top, bottom, left, right = _check_box(box)
    row = lambda f: int(round((top + f * (bottom - top)) * size))  # noqa: E731
    col = lambda f: int(round((left + f * (right - left)) * size))  # noqa: E731
    return slice(row(rows[0]), row(rows[1])), slice(col(cols[0]), col(cols[1]))


def square_mask(size: int, box: Box = DATAMON_BOX) -> np.ndarray:
    """The paper's central square, rows and columns 15 % to 85 % of ``box`` (the creature's, by default)."""
    size = _check_size(size)
    mask = np.zeros((size, size), dtype=bool)
    mask[_on_box(size, box, (0.15, 0.85), (0.15, 0.85))] = True
    return mask


def t_mask(size: int, box: Box = DATAMON_BOX) -> np.ndarray:
    """The paper's T over the eyes and nose: on a 64 x 64 face crop rows 25:40 x cols 10:52 and rows 40:63 x
    cols 26:38 (Python slices); here those bounds as fractions of ``box`` (the creature's, by default)."""
    size = _check_size(size)
    mask = np.zeros((size, size), dtype=bool)
    mask[_on_box(size, box, (25 / 64, 40 / 64), (10 / 64, 52 / 64))] = True
    mask[_on_box(size, box, (40 / 64, 63 / 64), (26 / 64, 38 / 64))] = True
    return mask


def corrupt(images: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Damage a batch of images; returns (corrupted images, mask).

    For ``square`` and ``t_mask`` the mask is True where pixels are hidden (set to 0). ``blur`` hides no pixel
    outright, so its mask is all False: the inpainting generator then has to refine every pixel.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}: choose one of {', '.join(KINDS)}")
    images = _check_images(images)
    size = images.shape[1]
    if kind == "blur":
        return blur(images), np.zeros((size, size), dtype=bool)
    mask = square_mask(size) if kind == "square" else t_mask(size)
    corrupted = np.array(images, dtype=np.float32, copy=True)
    corrupted[:, mask] = 0.0
    return corrupted, mask
