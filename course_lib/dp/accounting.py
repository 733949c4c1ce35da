"""Privacy accounting for DP-SGD: epsilon from (noise, batch, dataset size, epochs, delta), and back.

DP-SGD with per-example clipping is a Poisson-subsampled Gaussian mechanism (sampling rate q = batch / n, noise
multiplier sigma) composed once per step. ``dp_accounting`` does the maths; this module only builds that event, so the
course has one place that says what DP-SGD is for the accountant. Two accountants answer the same question: RDP (the
classic, slightly loose bound) and PLD (tighter, slower). The step count is the one TF Privacy's
``compute_dp_sgd_privacy_statement`` uses (``ceil(epochs * n / batch)``), so both agree to the last digit.
"""
from __future__ import annotations

import functools
import math
from typing import Literal

import dp_accounting

from course_lib.config import ConfigError, require_positive

Accountant = Literal["rdp", "pld"]
ACCOUNTANTS: tuple[str, ...] = ("rdp", "pld")


def _check(noise_multiplier: float, batch_size: int, dataset_size: int, delta: float) -> None:
    if not noise_multiplier > 0:
        raise ConfigError(f"noise_multiplier must be positive to give a finite epsilon, got {noise_multiplier!r}")
    require_positive("batch_size", batch_size, integer=True)
    require_positive("dataset_size", dataset_size, integer=True)
    if batch_size > dataset_size:
        raise ConfigError(f"batch_size ({batch_size}) cannot exceed dataset_size ({dataset_size})")
    if not 0 < delta < 1:
        raise ConfigError(f"delta must lie strictly between 0 and 1 (well below 1/n), got {delta!r}")


def steps_for(epochs: float, batch_size: int, dataset_size: int) -> int:
    """Number of DP-SGD steps in ``epochs`` passes, counted as TF Privacy counts them."""
    require_positive("epochs", epochs)
    return int(math.ceil(epochs * dataset_size / batch_size))


def dp_sgd_event(noise_multiplier: float, batch_size: int, dataset_size: int, steps: int) -> dp_accounting.DpEvent:
    """The DpEvent of DP-SGD: ``steps`` compositions of a Poisson-subsampled Gaussian."""
    require_positive("steps", steps, integer=True)
    q = batch_size / dataset_size
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(noise_multiplier)), steps
    )


def _accountant(kind: str) -> dp_accounting.PrivacyAccountant:
    if kind == "rdp":
        return dp_accounting.rdp.RdpAccountant()
    if kind == "pld":
        return dp_accounting.pld.PLDAccountant()
    raise ConfigError(f"accountant must be one of {', '.join(ACCOUNTANTS)}, got {kind!r}")


@functools.lru_cache(maxsize=256)  # PLD takes seconds a call; notebooks ask the same question several times
def epsilon(
    noise_multiplier: float,
    batch_size: int,
    dataset_size: int,
    *,
    epochs: float | None = None,
    steps: int | None = None,
    delta: float = 1e-5,
    accountant: Accountant = "pld",
    used_microbatching: bool = False,
) -> float:
    """Epsilon of DP-SGD with per-example clipping after ``epochs`` (or exactly ``steps``) at ``delta``.

    ``used_microbatching=True`` is for microbatches of several examples: one example can then change a clipped
    microbatch gradient by up to 2C, so the analysis halves sigma (as TF Privacy does).
    """
    _check(noise_multiplier, batch_size, dataset_size, delta)
    if used_microbatching:
        noise_multiplier = noise_multiplier / 2
    if (epochs is None) == (steps is None):
        raise ConfigError("give exactly one of epochs or steps")
    if steps is None:
        steps = steps_for(epochs, batch_size, dataset_size)
    event = dp_sgd_event(noise_multiplier, batch_size, dataset_size, steps)
    return float(_accountant(accountant).compose(event).get_epsilon(delta))


def epsilons(
    noise_multiplier: float, batch_size: int, dataset_size: int, epochs: float, delta: float = 1e-5,
    used_microbatching: bool = False,
) -> dict[str, float]:
    """Both accountants side by side: ``{"rdp": ..., "pld": ...}``."""
    return {
        kind: epsilon(noise_multiplier, batch_size, dataset_size, epochs=epochs, delta=delta, accountant=kind,
                      used_microbatching=used_microbatching)
        for kind in ACCOUNTANTS
    }


def noise_for_epsilon(
    target_epsilon: float,
    batch_size: int,
    dataset_size: int,
    epochs: float,
    *,
    delta: float = 1e-5,
    accountant: Accountant = "pld",
) -> float:
    """The smallest noise multiplier whose epsilon stays within ``target_epsilon`` (dp_accounting's calibration)."""
    require_positive("target_epsilon", target_epsilon)
    _check(1.0, batch_size, dataset_size, delta)
    steps = steps_for(epochs, batch_size, dataset_size)
    return float(
        dp_accounting.calibrate_dp_mechanism(
            lambda: _accountant(accountant),
            lambda sigma: dp_sgd_event(sigma, batch_size, dataset_size, steps),
            target_epsilon,
            delta,
            tol=1e-4,
        )
    )


def statement(
    noise_multiplier: float,
    batch_size: int,
    dataset_size: int,
    epochs: float,
    delta: float = 1e-5,
) -> str:
    """One line a model card can carry: what was trained how, and the (epsilon, delta) it guarantees."""
    eps = epsilons(noise_multiplier, batch_size, dataset_size, epochs, delta)
    return (
        f"DP-SGD on {dataset_size} examples, batch {batch_size}, noise multiplier {noise_multiplier:g}, "
        f"{epochs:g} epochs, per-example clipping: (epsilon = {eps['pld']:.2f} [PLD] / {eps['rdp']:.2f} [RDP], "
        f"delta = {delta:g})-DP for each example, add-or-remove adjacency, Poisson sampling assumed."
    )


def tf_privacy_epsilon(
    noise_multiplier: float,
    batch_size: int,
    dataset_size: int,
    epochs: float,
    delta: float = 1e-5,
    *,
    accountant: Accountant = "rdp",
    used_microbatching: bool = False,
) -> float:
    """Epsilon as TF Privacy's own statement prints it (Poisson line), for comparison and to show its trap.

    ``used_microbatching=True`` is TF Privacy's default and halves sigma in the analysis; it is right only when
    several examples share a microbatch. With per-example clipping (this course) it must be False.
    """
    from tensorflow_privacy.privacy.analysis import compute_dp_sgd_privacy_lib as lib

    _check(noise_multiplier, batch_size, dataset_size, delta)
    text = lib.compute_dp_sgd_privacy_statement(
        number_of_examples=dataset_size,
        batch_size=batch_size,
        num_epochs=epochs,
        noise_multiplier=noise_multiplier,
        delta=delta,
        used_microbatching=used_microbatching,
        accountant_type=lib.AccountantType[accountant.upper()],
    )
    for line in text.splitlines():
        if line.strip().startswith("Epsilon assuming Poisson sampling"):
            return float(line.rsplit(":", 1)[1])
    raise RuntimeError("could not read epsilon from TF Privacy's statement; its format changed")
