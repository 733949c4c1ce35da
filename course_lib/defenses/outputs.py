"""Output hardening: how much of a model's belief a prediction service reveals.

A black-box attacker learns only what the answers contain. Full probabilities leak the most (extraction and membership
inference feed on the small differences between them); rounding them, keeping only the top-k, or answering with the
label alone removes information an honest user rarely needs. These are pure numpy functions so that the prediction
service (``course_lib.defenses.api``) and the offline experiments of notebook 04 harden answers in exactly the same way.
"""
from __future__ import annotations

import numpy as np

OUTPUT_KINDS = ("probs", "rounded", "top_k", "labels")
MAX_DECIMALS = 10


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits of shape (n, n_classes), stable for large logits (the max is subtracted first)."""
    logits = _as_matrix("logits", logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def rounded(probs: np.ndarray, decimals: int = 2) -> np.ndarray:
    """Probabilities rounded to ``decimals`` places; each row still sums to 1 within n_classes * 0.5 * 10**-decimals."""
    _check_decimals(decimals)
    return np.round(_as_matrix("probs", probs), int(decimals))


def top_k(probs: np.ndarray, k: int = 1) -> np.ndarray:
    """Keep each row's ``k`` largest probabilities and zero the rest (ties go to the lower class index)."""
    probs = _as_matrix("probs", probs)
    _check_k(k, probs.shape[1])
    # A stable sort on the negated values keeps the lower index first among ties.
    order = np.argsort(-probs, axis=1, kind="stable")[:, : int(k)]
    kept = np.zeros_like(probs)
    rows = np.arange(len(probs))[:, None]
    kept[rows, order] = probs[rows, order]
    return kept


def labels_only(probs: np.ndarray) -> np.ndarray:
    """The predicted class of each row as int64 of shape (n,): the least a classifier can reveal."""
    return np.argmax(_as_matrix("probs", probs), axis=1).astype(np.int64)


def harden(probs: np.ndarray, output: str = "probs", *, decimals: int = 2, k: int = 1) -> np.ndarray:
    """Apply one output policy: ``probs`` (unchanged), ``rounded`` (to ``decimals``), ``top_k`` or ``labels``."""
    check_output(output, decimals=decimals, k=k)
    if output == "probs":
        return _as_matrix("probs", probs).copy()
    if output == "rounded":
        return rounded(probs, decimals)
    if output == "top_k":
        return top_k(probs, k)
    return labels_only(probs)


def as_probability_matrix(answers: np.ndarray, n_classes: int) -> np.ndarray:
    """Turn any hardened answer into an (n, n_classes) matrix: labels become one-hot rows, matrices pass through.

    Attacks written for probability vectors (membership inference, extraction) can then run on every output policy.
    """
    answers = np.asarray(answers)
    if answers.ndim == 1:
        if not np.issubdtype(answers.dtype, np.integer):
            raise ValueError(f"label answers must be integers, got dtype {answers.dtype}")
        if answers.size and (answers.min() < 0 or answers.max() >= n_classes):
            raise ValueError(
                f"labels must lie in [0, {n_classes - 1}], got values from {answers.min()} to {answers.max()}"
            )
        return np.eye(n_classes, dtype=np.float32)[answers]
    matrix = _as_matrix("answers", answers)
    if matrix.shape[1] != n_classes:
        raise ValueError(f"answers have {matrix.shape[1]} columns but n_classes is {n_classes}")
    return matrix


def check_output(output: str, *, decimals: int = 2, k: int = 1) -> None:
    """Stop with one clear sentence when an output policy or its parameter cannot work."""
    if output not in OUTPUT_KINDS:
        raise ValueError(f"unknown output '{output}': choose one of {', '.join(OUTPUT_KINDS)}")
    if output == "rounded":
        _check_decimals(decimals)
    if output == "top_k":
        _check_k(k, None)


def _as_matrix(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, n_classes), got {values.shape}")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contain NaN or infinity")
    return values


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be an integer from 0 to {MAX_DECIMALS}, got {decimals!r}")


def _check_k(k: int, n_classes: int | None) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if n_classes is not None and k > n_classes:
        raise ValueError(f"k={k} is larger than the number of classes ({n_classes})")
