"""Privacy accounting for DP-SGD: epsilon from (noise, batch, dataset size, epochs, delta), and back.

DP-SGD with per-example clipping is a Poisson-subsampled Gaussian mechanism (sampling rate q = batch / n, noise
multiplier sigma) composed once per step. ``dp_accounting`` does the maths; this module only builds that event, so the
course has one place that says what DP-SGD is for the accountant. Two accountants answer the same question: RDP (the
classic, slightly loose bound) and PLD (tighter, slower). The step count is the one TF Privacy's
``compute_dp_sgd_privacy_statement`` uses (``ceil(epochs * n / batch)``), so both agree to the last digit.

Every finite question gets an answer in about a second (measured on a 2-core CPU): ``dp_accounting`` alone can take
minutes or fail where the noise is tiny or huge, the steps many or delta tiny; ``epsilon`` bounds each of those
regimes (see ``_delta_at_epsilon_zero``, ``_rdp_epsilon``, ``_pld_interval``) and always returns a valid upper bound.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Literal

import dp_accounting
import numpy as np
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import privacy_loss_distribution, privacy_loss_mechanism
from dp_accounting.rdp import rdp_privacy_accountant
from scipy import special

from course_lib.config import ConfigError, require_positive

Accountant = Literal["rdp", "pld"]
ACCOUNTANTS: tuple[str, ...] = ("rdp", "pld")


# Where dp_accounting is slow or breaks (measured with dp-accounting 0.4.3 and 0.6.0), see epsilon():
_LARGE_NOISE = 1e3  # from here on RDP uses the exact integer orders (_stable_integer_rdp)
_TINY_NOISE = 1e-150  # below, 1 / sigma^2 overflows: epsilon is infinite (noise 1e-150 already gives 1e302)
_PLD_FINEST_INTERVAL = 1e-4  # dp_accounting's default grid of privacy-loss values
_PLD_SINGLE_STEP_POINTS = 15_000  # building one step's grids costs about 30 us a point here
_PLD_COMPOSED_POINTS = 100_000  # the composed grids (FFT, epsilon search) about 5 us a point
_PLD_TRIAL_POINTS = 1000  # a coarse trial grid tells how much wider than one step the composed grid gets
_PLD_MIN_POINTS = 2000  # a coarsened step on fewer grid points: rounding adds up over steps, RDP is tighter
_PLD_COARSEST_INTERVAL = 1.0  # coarser grids say little (epsilon is then in the thousands): RDP answers alone
_PLD_TAIL_MASS = 1e-15  # DensePLDPmf.self_compose's default truncation (dp-accounting 0.4.3 and 0.6.0)


def _require_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def _check(noise_multiplier: float, batch_size: int, dataset_size: int, delta: float) -> None:
    _require_finite("noise_multiplier", noise_multiplier)
    if not noise_multiplier > 0:
        raise ConfigError(f"noise_multiplier must be positive to give a finite epsilon, got {noise_multiplier!r}")
    _require_finite("delta", delta)
    require_positive("batch_size", batch_size, integer=True)
    require_positive("dataset_size", dataset_size, integer=True)
    if batch_size > dataset_size:
        raise ConfigError(f"batch_size ({batch_size}) cannot exceed dataset_size ({dataset_size})")
    if not 0 < delta < 1:
        raise ConfigError(f"delta must lie strictly between 0 and 1 (well below 1/n), got {delta!r}")


def steps_for(epochs: float, batch_size: int, dataset_size: int) -> int:
    """Number of DP-SGD steps in ``epochs`` passes, counted as TF Privacy counts them."""
    _require_finite("epochs", epochs)
    require_positive("epochs", epochs)
    return int(math.ceil(epochs * dataset_size / batch_size))


def dp_sgd_event(
    noise_multiplier: float, batch_size: int, dataset_size: int, steps: int, sampling: str = "poisson"
) -> dp_accounting.DpEvent:
    """The DpEvent of DP-SGD after ``steps`` steps with the run's sampling (``course_lib.dp.sampling``).

    Poisson: ``steps`` compositions of a Poisson-subsampled Gaussian (amplification by sampling). Shuffled
    fixed-size batches: no amplification is proven, so each example's one step per pass is a plain Gaussian and only
    the number of passes counts (TF Privacy's "each example once per epoch" bound).
    """
    require_positive("steps", steps, integer=True)
    if sampling == "shuffle":
        passes = int(math.ceil(steps / math.ceil(dataset_size / batch_size)))
        return dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(noise_multiplier), passes)
    if sampling != "poisson":
        raise ConfigError(f"sampling must be 'poisson' or 'shuffle', got {sampling!r}")
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


def _gaussian_parameters(event: dp_accounting.DpEvent) -> tuple[float, float, int]:
    """(noise multiplier, sampling rate, steps) of a DP-SGD event: ``count`` x [Poisson-sampled] Gaussian."""
    count = 1
    while isinstance(event, dp_accounting.SelfComposedDpEvent):
        count, event = count * event.count, event.event
    rate = 1.0
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        rate, event = event.sampling_probability, event.event
    if not isinstance(event, dp_accounting.GaussianDpEvent):
        raise TypeError(f"not a DP-SGD event: {event!r}")
    return float(event.noise_multiplier), float(rate), int(count)


def _epsilon_for(event: dp_accounting.DpEvent, delta: float, accountant: str) -> float:
    """Epsilon of a DP-SGD event at ``delta``, a valid upper bound answered in bounded time in every regime.

    PLD's answer is never looser than RDP's: both are upper bounds on the same epsilon, and PLD cannot certify a delta
    below its truncated tail mass (about 1e-15: delta 1e-300 gave epsilon inf) where RDP still can.
    """
    _accountant(accountant)  # an unknown name is refused before any work
    sigma, rate, steps = _gaussian_parameters(event)
    if delta >= _delta_at_epsilon_zero(sigma, rate, steps):
        return 0.0
    if sigma < _TINY_NOISE:  # one step's privacy loss leaves the float range (dp_accounting divides by 0 or hangs)
        return math.inf
    rdp = _rdp_epsilon(sigma, rate, steps, delta)
    if accountant == "rdp":
        return rdp
    pld = _pld_epsilon(sigma, rate, steps, delta)
    return rdp if pld is None else min(rdp, pld)


def _delta_at_epsilon_zero(sigma: float, rate: float, steps: int) -> float:
    """A delta for which the mechanism is provably (0, delta)-DP: an early, exact answer epsilon = 0 (huge noise).

    One Gaussian step with sensitivity 1 is (0, erf(1 / (2 sqrt(2) sigma)))-DP (its total variation); sampling at
    rate q scales that by q, and deltas add up over steps. Without sampling, the composed steps are one Gaussian of
    sensitivity sqrt(steps) / sigma, and sampling only post-processes it. Both bounds hold: take the smaller.
    dp_accounting needs no such shortcut in theory, but with noise 1e6 its RDP failed ("Renyi divergence cannot be
    negative", 0.4.3) and with noise inf it ran for minutes.
    """
    composed = math.erf(math.sqrt(steps) / (2 * math.sqrt(2) * sigma))
    summed = steps * rate * math.erf(1 / (2 * math.sqrt(2) * sigma))
    return min(composed, summed)


def _rdp_epsilon(sigma: float, rate: float, steps: int, delta: float) -> float:
    """RDP epsilon: dp_accounting's, or the exact integer orders where its fractional orders are slow or fail.

    dp-accounting 0.4.3 sums a series per fractional order until its terms vanish: at rate 0.5 and noise 1e4 that
    took 7-12 s, and rounding made the divergence of tiny rates or huge noise negative (a ValueError). With noise
    above _LARGE_NOISE the best order is an integer anyway (the optimum order grows with the noise).
    """
    if sigma >= _LARGE_NOISE:
        return _stable_integer_rdp(sigma, rate, steps, delta)
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(sigma)), steps)
    try:
        return float(dp_accounting.rdp.RdpAccountant().compose(event).get_epsilon(delta))
    except ValueError:  # 0.4.3: "Renyi divergence cannot be negative" (rounding)
        return _stable_integer_rdp(sigma, rate, steps, delta)


def _stable_integer_rdp(sigma: float, rate: float, steps: int, delta: float) -> float:
    """RDP epsilon over dp_accounting's integer orders, each computed exactly and without cancellation.

    At integer order a, the Poisson-sampled Gaussian's Renyi divergence is log(A) / (a - 1) with
    A = sum_k C(a, k) (1 - q)^(a - k) q^k exp(k (k - 1) / (2 sigma^2)) (Mironov, Talwar, Zhang 2019). Since the
    binomial weights sum to 1, A - 1 is the same sum with expm1 in place of exp: all terms >= 0, so no rounding can
    make it negative, whatever the noise. The conversion to epsilon is dp_accounting's own.
    """
    orders = [a for a in rdp_privacy_accountant.DEFAULT_RDP_ORDERS if a >= 2 and float(a).is_integer()]
    rdp = []
    for a in orders:
        k = np.arange(2, int(a) + 1, dtype=np.float64)
        exponent = k * (k - 1) / (2 * sigma**2)
        log_expm1 = np.where(exponent > 30, exponent + np.log1p(-np.exp(-exponent)),
                             np.log(np.expm1(np.minimum(exponent, 30))))
        log_terms = (special.gammaln(a + 1) - special.gammaln(k + 1) - special.gammaln(a - k + 1)
                     + special.xlog1py(a - k, -rate) + k * math.log(rate) + log_expm1)
        rdp.append(steps * float(np.logaddexp(0.0, special.logsumexp(log_terms))) / (a - 1))
    return float(rdp_privacy_accountant.compute_epsilon(orders, rdp, delta)[0])


def _pld_epsilon(sigma: float, rate: float, steps: int, delta: float) -> float | None:
    """PLD epsilon on a grid sized to answer in about a second; None where no affordable grid can beat RDP.

    Built here rather than by ``PLDAccountant``, which self-composes a PMF of at most 1000 points by first computing
    ``size ** steps`` as a Python integer (dp_accounting's size estimate): for 10^6 steps that alone took 4 s, for
    10^9 it hangs. Dense PMFs skip that estimate. Unsampled steps compose exactly into one Gaussian (as dp_accounting
    does for them).
    """
    if rate == 1.0:
        sigma, steps = sigma / math.sqrt(steps), 1
    interval = _pld_interval(sigma, rate, steps)
    if interval is None:
        return None
    return float(_dense_pld(sigma, rate, interval).self_compose(steps).get_epsilon_for_delta(delta))


def _dense_pld(sigma: float, rate: float, interval: float) -> privacy_loss_distribution.PrivacyLossDistribution:
    """One step's pessimistic PLD on a grid of ``interval``, with dense PMFs (see ``_pld_epsilon``)."""
    pld = privacy_loss_distribution.from_gaussian_mechanism(
        sigma, value_discretization_interval=interval, sampling_prob=rate)
    remove, add = pld._pmf_remove, pld._pmf_add  # pylint: disable=protected-access
    return privacy_loss_distribution.PrivacyLossDistribution(remove.to_dense_pmf(), add.to_dense_pmf())


def _pld_interval(sigma: float, rate: float, steps: int) -> float | None:
    """The PLD grid step: dp_accounting's 1e-4 where that grid is affordable, else coarse enough to be (or None).

    PLD's cost is its grids: one step's privacy losses (connect-the-dots, about 30 us a point here) and the composed
    distribution (FFT and search, about 5 us a point), both proportional to 1 / interval. At noise 0.3 the default
    grid needed 326,000 + 1,700,000 points (16 s), at noise 1e-3 five billion (MemoryError). A coarser grid still gives
    an upper bound (pessimistic rounding), slightly larger: 5.6410 for the tutorial's 5.6397 at noise 0.7. How much
    wider than one step the composed grid gets is read from dp_accounting's own truncation bounds on a 1000-point
    trial grid (no FFT). Rounding errors add up over the steps: with 10^9 steps a 476-point grid gave epsilon 46,705
    where RDP gives 17,145, so below _PLD_MIN_POINTS points per step PLD is not tried (None).
    """
    width = max(_single_step_loss_width(sigma, rate), _PLD_FINEST_INTERVAL)
    interval = max(_PLD_FINEST_INTERVAL, width / _PLD_SINGLE_STEP_POINTS)
    if interval > _PLD_COARSEST_INTERVAL:
        return None
    if steps > 1:
        trial = _dense_pld(sigma, rate, width / _PLD_TRIAL_POINTS)
        growth = max(_composed_points(pmf._probs, steps) / pmf.size  # pylint: disable=protected-access
                     for pmf in (trial._pmf_remove, trial._pmf_add))  # pylint: disable=protected-access
        interval = max(interval, growth * width / _PLD_COMPOSED_POINTS)
    coarsened = interval > _PLD_FINEST_INTERVAL
    return None if coarsened and width / interval < _PLD_MIN_POINTS else interval


def _composed_points(probs: np.ndarray, steps: int) -> int:
    """Length of the grid ``DensePLDPmf.self_compose`` will transform: its Chernoff truncation at tail mass 1e-15."""
    lower, upper = pld_common.compute_self_convolve_bounds(probs, steps, _PLD_TAIL_MASS)
    return upper - lower + 1


def _single_step_loss_width(sigma: float, rate: float) -> float:
    """Width of one step's privacy-loss grid, as dp_accounting's connect-the-dots construction will span it."""
    loss = privacy_loss_mechanism.GaussianPrivacyLoss(sigma, sampling_prob=rate)
    bounds = loss.connect_dots_bounds()
    return bounds.epsilon_upper - bounds.epsilon_lower


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
    sampling: str = "poisson",
) -> float:
    """Epsilon of DP-SGD with per-example clipping after ``epochs`` (or exactly ``steps``) at ``delta``.

    Per example (add or remove one training example), for the ``sampling`` the run used: "poisson" (the course's
    default) or "shuffle" (fixed shuffled batches: the bound without amplification).

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
    event = dp_sgd_event(noise_multiplier, batch_size, dataset_size, steps, sampling)
    return _epsilon_for(event, delta, accountant)


def epsilons(
    noise_multiplier: float, batch_size: int, dataset_size: int, epochs: float | None = None, delta: float = 1e-5,
    used_microbatching: bool = False, *, steps: int | None = None, sampling: str = "poisson",
) -> dict[str, float]:
    """Both accountants side by side: ``{"rdp": ..., "pld": ...}``."""
    return {
        kind: epsilon(noise_multiplier, batch_size, dataset_size, epochs=epochs, steps=steps, delta=delta,
                      accountant=kind, used_microbatching=used_microbatching, sampling=sampling)
        for kind in ACCOUNTANTS
    }


def group_epsilon(
    noise_multiplier: float,
    batch_size: int,
    dataset_size: int,
    group_size: int,
    *,
    steps: int,
    delta: float = 1e-5,
    accountant: Accountant = "rdp",
) -> float:
    """Epsilon for a group of ``group_size`` examples (e.g. every text window of a secret inserted k times), Poisson
    sampling, per-example clipping.

    Each step, the group's members land in the batch independently with probability q, so the group's clipped
    contribution has norm at most j*C when j of them are drawn. That mixture is a post-processing of a Poisson-
    sampled Gaussian with sensitivity group_size*C and rate 1 - (1 - q)**group_size (one channel maps a shift of
    group_size*C to a shift of j*C and leaves no shift unchanged: scale by j/group_size, add the missing noise), so
    the group gets the DP-SGD bound with noise multiplier sigma / group_size at that rate. Written here because
    dp_accounting 0.4.3 (the 3.11 stack) has no mixture-of-Gaussians event; the bound is valid, not tight. RDP by
    default: PLD takes seconds to minutes at the small noise multipliers of large groups.
    """
    require_positive("group_size", group_size, integer=True)
    _check(noise_multiplier, batch_size, dataset_size, delta)
    rate = 1.0 - (1.0 - batch_size / dataset_size) ** group_size
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(noise_multiplier / group_size)), steps
    )
    return float(_accountant(accountant).compose(event).get_epsilon(delta))


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
    _require_finite("target_epsilon", target_epsilon)
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
    *,
    sampling: str = "poisson",
    unit: str = "one training example",
) -> str:
    """One line a model card can carry: what was trained how, the (epsilon, delta) it guarantees, for which unit
    of data, and under which sampling."""
    eps = epsilons(noise_multiplier, batch_size, dataset_size, epochs, delta, sampling=sampling)
    drawn = (f"Poisson sampling (each example in each step with probability {batch_size}/{dataset_size})"
             if sampling == "poisson" else
             "fixed shuffled batches (no amplification by sampling is proven for them, so this is the bound without it)")
    return (
        f"DP-SGD on {dataset_size} examples, expected batch {batch_size}, noise multiplier {noise_multiplier:g}, "
        f"{epochs:g} epochs, per-example clipping, {drawn}: (epsilon = {eps['pld']:.2f} [PLD] / {eps['rdp']:.2f} "
        f"[RDP], delta = {delta:g})-DP per {unit}, add-or-remove adjacency." + _warning_suffix(delta, dataset_size)
    )


def delta_warning(delta: float, dataset_size: int) -> str | None:
    """The one sentence shown wherever delta is not below 1/n (``statement``, the calculator widget), else None.

    Why it matters: "publish each example with probability delta" is (0, delta)-DP, and with delta >= 1/n it is
    expected to publish a whole training example outright.
    """
    _require_finite("delta", delta)
    require_positive("dataset_size", dataset_size, integer=True)
    if delta < 1.0 / dataset_size:
        return None
    suggestion = 10.0 ** (math.floor(math.log10(1.0 / dataset_size)) - 1)
    return (f"delta >= 1/n: delta = {delta:.2g} is not below 1/n = {1.0 / dataset_size:.2g} (n = {dataset_size}), "
            f"so the guarantee still allows publishing about delta * n = {_count(delta * dataset_size)} whole training "
            f"examples outright; choose delta well below 1/n, e.g. {suggestion:.0e}.")


def _count(value: float) -> str:
    return f"{value:.2g}" if value < 100 else f"{round(value):,}"


def _warning_suffix(delta: float, dataset_size: int) -> str:
    warning = delta_warning(delta, dataset_size)
    return f" Warning: {warning}" if warning else ""


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
