"""The Secret Revealer paper's numbers beside the course's, with what differs between the two settings.

Cited, not measured: Zhang et al., CVPR 2020, attack accuracy of GMI on CelebA (1,000 identities, 64x64 faces,
evaluation model face.evoLVe), as shown on slides 36 (no auxiliary knowledge) and 40 (blurred photo, centre square
mask, face T mask) of the talk. The course's numbers come from the run that calls :func:`comparison_rows`.
"""
from __future__ import annotations

from typing import Any, Mapping

PAPER_SOURCE = "Zhang et al., CVPR 2020, Tables 1 and 3 (slides 36 and 40 of the talk)"
PAPER_CLASSES = 1000
PAPER_IMAGE_SIZE = 64
PAPER_COMPUTE = "GPU: 5 restarts x 1,500 steps per identity"

# target -> attack accuracy without auxiliary knowledge, and with each kind of it (blur, square, T mask)
PAPER_TOP1: dict[str, float] = {"VGG16": 0.28, "ResNet-152": 0.44, "face.evoLVe": 0.46}
PAPER_AUX_TOP1: dict[str, dict[str, float]] = {
    "VGG16": {"blur": 0.43, "square": 0.78, "t_mask": 0.58},
    "ResNet-152": {"blur": 0.50, "square": 0.80, "t_mask": 0.63},
    "face.evoLVe": {"blur": 0.51, "square": 0.82, "t_mask": 0.64},
}
AUX_KINDS = ("blur", "square", "t_mask")


def comparison_rows(course_top1: Mapping[str, float], course_aux_top1: Mapping[str, float], *, aux_target: str,
                    n_classes: int, image_size: int, compute: str) -> list[dict[str, Any]]:
    """One row per target, the paper's first and the course's after, with chance (1/classes) on every row.

    ``course_aux_top1`` holds the course's auxiliary-knowledge top-1 against ``aux_target`` (the others get "–").
    """
    if set(course_aux_top1) != set(AUX_KINDS):
        raise ValueError(f"course_aux_top1 must give exactly {', '.join(AUX_KINDS)}, got {sorted(course_aux_top1)}")
    if aux_target not in course_top1:
        raise ValueError(f"aux_target {aux_target!r} is not one of the course's targets {sorted(course_top1)}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    rows = [{"setting": f"paper, {target}", "GMI top-1": top1,
             **{f"+{kind}": PAPER_AUX_TOP1[target][kind] for kind in AUX_KINDS},
             "chance": 1 / PAPER_CLASSES, "identities": PAPER_CLASSES,
             "size": f"{PAPER_IMAGE_SIZE}x{PAPER_IMAGE_SIZE}", "compute": PAPER_COMPUTE}
            for target, top1 in PAPER_TOP1.items()]
    for target, top1 in course_top1.items():
        aux = course_aux_top1 if target == aux_target else {}
        rows.append({"setting": f"course, {target}", "GMI top-1": top1,
                     **{f"+{kind}": aux.get(kind, "–") for kind in AUX_KINDS},
                     "chance": 1 / n_classes, "identities": n_classes, "size": f"{image_size}x{image_size}",
                     "compute": compute})
    return rows


def lift_over_chance(top1: float, n_classes: int) -> float:
    """How many times chance an accuracy is: the fair way to set 15 identities beside 1,000."""
    if not 0 <= top1 <= 1 or n_classes < 2:
        raise ValueError(f"need a share in [0, 1] and at least 2 classes, got {top1!r} and {n_classes!r}")
    return top1 * n_classes
