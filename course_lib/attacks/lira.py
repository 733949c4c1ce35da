"""Membership inference at low false-positive rates, and the lower bound on epsilon that an attack proves.

Notebook 01's attacks (``membership``) report an average: the AUC. Carlini et al. (2022, "Membership Inference
Attacks From First Principles") argue that what matters is whether an attacker can be *confidently* right about a few
people: the true-positive rate at a false-positive rate of 1 % or 0.1 %, read on a log-log ROC curve. This module has

* two attacks, each a score per candidate record (higher = "member"):
  - ``loss_scores``: minus the target's cross-entropy loss on the record (Yeom et al. 2018), one threshold for all;
  - ``lira_offline_scores``: the Likelihood Ratio Attack (LiRA) in its *offline* form. Reference models trained
    WITHOUT the candidates give, for each record, how confident a model is on it when it did not train on it
    (a Gaussian over the logit-scaled confidence ``phi = log(p_y / (1 - p_y))``); the score is how far in that
    Gaussian's upper tail the target's confidence lies (a one-sided test, as the paper does offline). A record
    every model finds easy is no longer mistaken for a member. The online variant would also train reference
    models WITH each candidate (twice the models); offline needs only OUT models.
* the metrics: ROC and AUC (scikit-learn), the TPR at a given FPR;
* ``epsilon_lower_bound``: for an (epsilon, delta)-DP training, every test of "member or not" satisfies
  TPR <= e^epsilon FPR + delta and 1 - FPR <= e^epsilon (1 - TPR) + delta, so an attack's rates imply
  epsilon >= max(ln((TPR - delta) / FPR), ln((1 - FPR - delta) / (1 - TPR))). The rates are estimates, so the bound
  uses Clopper-Pearson confidence limits (TPR from below, FPR from above), with the threshold chosen on one half of
  the candidates and counted on the other half, so picking the best threshold does not inflate it.

The logit-scaled confidence is TF Privacy's (``advanced_mia.calculate_statistic``, option "logit"); TF Privacy's
``compute_score_lira`` is two-sided for OUT models, so the one-sided offline score is written here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import scipy.stats
from sklearn import metrics as sk_metrics
from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import advanced_mia

from course_lib.config import ConfigError

VARIANCES = ("global", "per_example")
REPORTED_FPRS = (0.01, 0.001)


# --- what the attacker reads from the target ----------------------------------------------------------------------

def _logits_and_labels(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ConfigError(f"logits must have shape (records, classes) with at least 2 classes, got {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ConfigError(f"labels must be one integer per record ({logits.shape[0]}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 or \
            labels.max(initial=0) >= logits.shape[1]:
        raise ConfigError(f"labels must be integers in [0, {logits.shape[1] - 1}]")
    if not np.all(np.isfinite(logits)):
        raise ConfigError("logits must be finite numbers")
    return logits, labels.astype(np.int64)


def logit_confidence(logits: Any, labels: Any) -> np.ndarray:
    """``phi = log(p_y / (1 - p_y))`` per record, from the model's logits (LiRA's statistic: close to Gaussian)."""
    logits, labels = _logits_and_labels(logits, labels)
    return advanced_mia.calculate_statistic(logits, labels, is_logits=True, option="logit")


def cross_entropy(logits: Any, labels: Any) -> np.ndarray:
    """Cross-entropy loss per record, computed stably from logits."""
    logits, labels = _logits_and_labels(logits, labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return log_norm - shifted[np.arange(len(labels)), labels]


def predict_logits(model: Any, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """The model's logits on ``x`` (the only access both attacks need: black-box scores)."""
    x = np.asarray(x, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False), np.float64)
                           for i in range(0, len(x), batch_size)])


# --- the two attacks ------------------------------------------------------------------------------------------------

def loss_scores(logits: Any, labels: Any) -> np.ndarray:
    """The loss-threshold attack's score: minus the loss (members tend to have a lower loss)."""
    return -cross_entropy(logits, labels)


def lira_offline_scores(target_confidence: Any, reference_confidences: Any, *, variance: str = "global") -> np.ndarray:
    """Offline LiRA: how far the target's confidence lies in the upper tail of N(mu_out, sigma_out), the Gaussian
    fitted to OUT reference models, as ``z = (phi_target - mu_out) / sigma_out``.

    ``target_confidence``: (records,) logit-scaled confidences of the target; ``reference_confidences``:
    (models, records) the same for reference models that did NOT train on these records. The mean is fitted per
    record. ``variance="global"`` uses one spread for all records (the paper's choice with few reference models:
    a per-record spread from a handful of models is noise), ``"per_example"`` fits it per record (good with many
    models). Both need at least 2 reference models. The one-sided test's p-value, Pr[Z >= phi_target] =
    1 - Phi(z), is a decreasing function of ``z``, so thresholding ``z`` gives the same ROC; ``z`` itself never
    saturates the way a probability does far in the tail.
    """
    if variance not in VARIANCES:
        raise ConfigError(f"variance must be one of {', '.join(VARIANCES)}, got {variance!r}")
    target = np.asarray(target_confidence, np.float64)
    refs = np.asarray(reference_confidences, np.float64)
    if target.ndim != 1:
        raise ConfigError(f"target_confidence must be one number per record, got shape {target.shape}")
    if refs.ndim != 2 or refs.shape[1] != target.shape[0]:
        raise ConfigError(f"reference_confidences must have shape (models, {target.shape[0]}), got {refs.shape}")
    if refs.shape[0] < 2:
        raise ConfigError(f"fitting a Gaussian needs at least 2 reference models, got {refs.shape[0]}")
    if not (np.all(np.isfinite(target)) and np.all(np.isfinite(refs))):
        raise ConfigError("confidences must be finite numbers")
    mean = refs.mean(axis=0)
    if variance == "per_example":
        spread = refs.std(axis=0, ddof=1)
    else:
        spread = np.full_like(mean, np.sqrt(np.mean(refs.var(axis=0, ddof=1))))
    spread = np.maximum(spread, 1e-6)
    return (target - mean) / spread


# --- metrics --------------------------------------------------------------------------------------------------------

def _scores(member_scores: Any, nonmember_scores: Any, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
    members = np.asarray(member_scores, np.float64).ravel()
    nonmembers = np.asarray(nonmember_scores, np.float64).ravel()
    if len(members) < minimum or len(nonmembers) < minimum:
        raise ConfigError(f"need at least {minimum} member and {minimum} non-member scores, "
                          f"got {len(members)} and {len(nonmembers)}")
    if not (np.all(np.isfinite(members)) and np.all(np.isfinite(nonmembers))):
        raise ConfigError("attack scores must be finite numbers (higher = more likely a member)")
    return members, nonmembers


def roc(member_scores: Any, nonmember_scores: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """``(fpr, tpr, auc)`` of "member when score >= threshold" over every threshold (scikit-learn)."""
    members, nonmembers = _scores(member_scores, nonmember_scores)
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    scores = np.concatenate([members, nonmembers])
    fpr, tpr, _ = sk_metrics.roc_curve(truth, scores)
    return fpr, tpr, float(sk_metrics.roc_auc_score(truth, scores))


def tpr_at_fpr(fpr: Any, tpr: Any, target_fpr: float) -> float:
    """The highest TPR the ROC reaches with FPR <= ``target_fpr`` (0 when no threshold is that strict)."""
    if not 0 <= target_fpr <= 1:
        raise ConfigError(f"target_fpr must be a rate in [0, 1], got {target_fpr!r}")
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    if fpr.shape != tpr.shape or fpr.ndim != 1:
        raise ConfigError("fpr and tpr must be 1-d arrays of the same length (an ROC curve)")
    ok = fpr <= target_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


# --- the lower bound on epsilon --------------------------------------------------------------------------------------

def epsilon_from_rates(tpr: float, fpr: float, delta: float = 0.0) -> float:
    """The smallest epsilon an (epsilon, delta)-DP mechanism needs to let a test reach these rates.

    max(ln((TPR - delta) / FPR), ln((1 - FPR - delta) / (1 - TPR))), and 0 when neither ratio exceeds 1 (a test no
    better than chance proves nothing); infinite when a rate makes a ratio unbounded (FPR 0 with TPR > delta).
    """
    for name, value in (("tpr", tpr), ("fpr", fpr)):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and 0 <= value <= 1):
            raise ConfigError(f"{name} must be a rate in [0, 1], got {value!r}")
    if not (isinstance(delta, (int, float, np.floating)) and 0 <= delta < 1):
        raise ConfigError(f"delta must be in [0, 1), got {delta!r}")
    bounds = [0.0]
    for numerator, denominator in ((tpr - delta, fpr), (1 - fpr - delta, 1 - tpr)):
        if numerator <= 0:
            continue
        bounds.append(math.inf if denominator <= 0 else math.log(numerator / denominator))
    return max(bounds)


def clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) binomial interval: each end is a one-sided (1 - alpha/2) limit."""
    if not (isinstance(trials, (int, np.integer)) and trials > 0):
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    if not (isinstance(successes, (int, np.integer)) and 0 <= successes <= trials):
        raise ConfigError(f"successes must be an integer in [0, {trials}], got {successes!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    low = 0.0 if successes == 0 else float(scipy.stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(scipy.stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


def epsilon_bound_at(true_positives: int, members: int, false_positives: int, nonmembers: int, delta: float,
                     alpha: float = 0.05) -> float:
    """The epsilon lower bound of one threshold, honest at confidence 1 - alpha: the formula of
    ``epsilon_from_rates`` at the Clopper-Pearson lower limit of the TPR and upper limit of the FPR
    (each one-sided at alpha / 2, so both hold together with probability at least 1 - alpha)."""
    tpr_low, _ = clopper_pearson(true_positives, members, alpha)
    _, fpr_high = clopper_pearson(false_positives, nonmembers, alpha)
    return epsilon_from_rates(tpr_low, fpr_high, delta)


@dataclass
class EpsilonBound:
    """An epsilon lower bound and how it was obtained (rates and counts on the held-out half)."""

    epsilon: float  # 0 when the attack proves nothing
    threshold: float  # "member when score >= threshold", chosen on the selection half
    true_positives: int
    members: int
    false_positives: int
    nonmembers: int
    confidence: float
    delta: float
    # which inequality gave the bound: "low_fpr" (TPR <= e^eps FPR + delta: members flagged where few non-members
    # are) or "high_tpr" (1 - FPR <= e^eps (1 - TPR) + delta: almost every member flagged, fewer non-members);
    # None when the bound is 0
    side: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def epsilon_lower_bound(member_scores: Any, nonmember_scores: Any, *, delta: float, confidence: float = 0.95,
                        seed: int = 0) -> EpsilonBound:
    """An honest lower bound on the epsilon of the training that produced these attack scores.

    The candidates are split at random in two halves. On the first, every threshold is tried and the one whose
    bound (``epsilon_bound_at``) is largest is kept; on the second, only that threshold is counted, so the choice
    cannot flatter the result, and the Clopper-Pearson limits hold at ``confidence``. The counts treat the records
    as independent trials: true when each training run decides one record, a close approximation when membership
    of many records was drawn at random for one run.
    """
    members, nonmembers = _scores(member_scores, nonmember_scores, minimum=2)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if not (isinstance(delta, (int, float, np.floating)) and 0 <= delta < 1):
        raise ConfigError(f"delta must be in [0, 1), got {delta!r}")
    alpha = 1 - confidence
    rng = np.random.default_rng(seed)
    members, nonmembers = rng.permutation(members), rng.permutation(nonmembers)
    sel_in, held_in = members[: len(members) // 2], members[len(members) // 2:]
    sel_out, held_out = nonmembers[: len(nonmembers) // 2], nonmembers[len(nonmembers) // 2:]
    thresholds = np.unique(np.concatenate([sel_in, sel_out]))
    # counts at every threshold on the selection half: "member" when score >= threshold
    tp = len(sel_in) - np.searchsorted(np.sort(sel_in), thresholds, side="left")
    fp = len(sel_out) - np.searchsorted(np.sort(sel_out), thresholds, side="left")
    tpr_low = scipy.stats.beta.ppf(alpha / 2, np.maximum(tp, 1), len(sel_in) - tp + 1)
    tpr_low = np.where(tp == 0, 0.0, tpr_low)
    fpr_high = scipy.stats.beta.ppf(1 - alpha / 2, fp + 1, np.maximum(len(sel_out) - fp, 1))
    fpr_high = np.where(fp == len(sel_out), 1.0, fpr_high)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(tpr_low - delta > 0, np.log(np.maximum(tpr_low - delta, 1e-300) / fpr_high), 0.0)
        second = np.where(1 - fpr_high - delta > 0,
                          np.log(np.maximum(1 - fpr_high - delta, 1e-300) / np.maximum(1 - tpr_low, 1e-300)), 0.0)
    estimate = np.maximum(np.maximum(first, second), 0.0)
    threshold = float(thresholds[int(np.argmax(estimate))])
    held_tp, held_fp = int(np.sum(held_in >= threshold)), int(np.sum(held_out >= threshold))
    bound = epsilon_bound_at(held_tp, len(held_in), held_fp, len(held_out), delta, alpha)
    side = None
    if bound > 0:
        low, _ = clopper_pearson(held_tp, len(held_in), alpha)
        _, high = clopper_pearson(held_fp, len(held_out), alpha)
        first = math.log((low - delta) / high) if low > delta else -math.inf
        side = "low_fpr" if first >= bound - 1e-12 else "high_tpr"
    return EpsilonBound(epsilon=float(bound), threshold=threshold, true_positives=held_tp, members=len(held_in),
                        false_positives=held_fp, nonmembers=len(held_out), confidence=confidence, delta=delta,
                        side=side)


def summarize(member_scores: Any, nonmember_scores: Any, *, delta: float, fprs: Sequence[float] = REPORTED_FPRS,
              confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """AUC, TPR at each FPR of ``fprs``, the ROC and the epsilon lower bound of one attack on one target."""
    fpr, tpr, auc = roc(member_scores, nonmember_scores)
    bound = epsilon_lower_bound(member_scores, nonmember_scores, delta=delta, confidence=confidence, seed=seed)
    return {"auc": auc, "tpr_at_fpr": {float(f): tpr_at_fpr(fpr, tpr, f) for f in fprs},
            "fpr": fpr, "tpr": tpr, "epsilon_lower_bound": bound.epsilon, "bound": bound}
