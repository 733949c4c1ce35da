"""Corrupted portraits: the attacker's auxiliary knowledge in the Secret Revealer (notebook 03).

Zhang et al. (CVPR 2020) give the attacker a damaged photo of the target: blurred, with the centre hidden (square
mask) or with the eyes and nose hidden (T mask). The inpainting generator sees the damaged image and the mask and
only has to invent the hidden part. Masks are bool (size, size), True = hidden; hidden pixels are set to 0.
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


def square_mask(size: int) -> np.ndarray:
    """The central square, rows and columns from 15 % to 85 % of the side (as in the GMI paper)."""
    size = _check_size(size)
    start, stop = int(round(0.15 * size)), int(round(0.85 * size))
    mask = np.zeros((size, size), dtype=bool)
    mask[start:stop, start:stop] = True
    return mask


def t_mask(size: int) -> np.ndarray:
    """The T over the eyes and nose: on 64 x 64 rows 25:40 x cols 10:52 and rows 40:63 x cols 26:38 (Python
    slices); other sizes scale those bounds proportionally."""
    size = _check_size(size)
    at = lambda v: int(round(v * size / 64))  # noqa: E731
    mask = np.zeros((size, size), dtype=bool)
    mask[at(25):at(40), at(10):at(52)] = True
    mask[at(40):at(63), at(26):at(38)] = True
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
