"""The most any inversion of a classifier can give back: search with a perfect prior.

GMI draws candidates from a GAN trained on public portraits and keeps, per name, the one the target is most sure of.
Its result mixes two limits: how well the prior draws Datamons, and what the target's answers say about each one.
The renderer removes the first. It is the prior an attacker could only dream of: it draws every Datamon design (one
value per trait, every combination) exactly as real portraits are drawn. Score every design with the target and keep,
per name, the design it is most sure of: that is GMI's selection rule with a perfect generator and an exhaustive
search. What that design gets wrong, no attack that climbs the target's scores can get right.

Two measurements come out of one pass over the designs:

- the **best design** per name (the highest mean logit margin, re-scored on fresh renders), and which of its traits
  are the true ones: the ceiling of confidence-maximising inversion;
- per trait, the share of each name's **top designs** with the true value: a trait the target ignores stays at its
  chance share there.

An ideal classifier that reads every trait off the design (``trait_reader_margins``) gives the same two numbers for a
target that used everything, the reference for the real one.

Hand-written: no library searches the generative factors of a synthetic dataset, which is what a renderer allows.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from course_lib.data import datamons


def all_designs() -> np.ndarray:
    """(n, 7) every Datamon design: one value index per trait, in ``datamons.TRAITS`` order (76,800 of them)."""
    sizes = [len(values) for values in datamons.TRAITS.values()]
    return np.array(list(itertools.product(*map(range, sizes))), dtype=np.int64)


def designs(n: int | None = None, seed: int = 0) -> np.ndarray:
    """``n`` distinct designs drawn with ``seed`` (sorted, so a larger ``n`` is not a reshuffle), or all of them."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive number of designs or None for all of them, got {n!r}")
    every = all_designs()
    if n is None or n >= len(every):
        return every
    pick = np.random.default_rng(np.random.SeedSequence([seed, 0xD5])).choice(len(every), int(n), replace=False)
    return every[np.sort(pick)]


def logit_margins(logits: np.ndarray) -> np.ndarray:
    """(n, classes): each class's logit minus the largest other logit. Positive: the model names that class.

    Why a margin: a softmax saturates at 1 in float32, so thousands of designs would tie at "certain"; the margin
    keeps ranking them."""
    logits = np.asarray(logits, np.float64)
    top2 = np.sort(logits, axis=1)[:, -2:]
    other = np.where(logits >= top2[:, 1:2], top2[:, 0:1], top2[:, 1:2])  # the largest logit of another class
    return logits - other


def score_designs(model: Any, codes: np.ndarray, *, renders: int = 1, size: int = 32, seed: int = 0,
                  chunk: int = 4096, progress: bool = True) -> np.ndarray:
    """(n_designs, classes): ``model``'s logit margin for each class, averaged over ``renders`` portraits of each
    design (pose, lighting and expression drawn as for real portraits). ``model.predict`` gives logits."""
    from course_lib.progress import bar

    codes = np.asarray(codes)
    if renders < 1 or chunk < 1:
        raise ValueError(f"renders and chunk must be at least 1, got {renders} and {chunk}")
    identities = datamons.identities_of_codes(codes)
    parts = []
    starts = range(0, len(identities), chunk)
    for k, start in enumerate(bar(starts, desc="designs", unit="chunk", disable=not progress)):
        portraits = datamons.render(identities[start:start + chunk], renders, size=size, seed=seed * 100_003 + k)
        logits = np.asarray(model.predict(portraits.images, batch_size=1024, verbose=0))
        parts.append(logit_margins(logits).reshape(-1, renders, logits.shape[1]).mean(axis=1))
    return np.concatenate(parts).astype(np.float32)


def trait_reader_margins(codes: np.ndarray, true_codes: np.ndarray, reads: Sequence[str] | None = None) -> np.ndarray:
    """(n_designs, classes): the margins of an ideal classifier that reads the traits ``reads`` (all by default) off
    each design and names the class whose true design differs in the fewest of them (a tie names nobody).

    The reference for a real target: even this classifier gives a name to designs far from the true one (the names
    split all 76,800 designs between them), so its shares say what "reads the trait" looks like in ``search``."""
    keep = [list(datamons.TRAITS).index(t) for t in (datamons.TRAITS if reads is None else reads)]
    distance = datamons.trait_distances(np.asarray(codes)[:, keep], np.asarray(true_codes)[:, keep])
    return logit_margins(-distance.astype(np.float64)).astype(np.float32)


def refine(model: Any, codes: np.ndarray, scores: np.ndarray, *, finalists: int = 16, renders: int = 16,
           size: int = 32, seed: int = 0) -> np.ndarray:
    """(classes, 7): per class, the best of its ``finalists`` highest-scoring designs, re-scored on ``renders`` fresh
    portraits each.

    Why a second round: with one portrait per design, the top score among 76,800 is partly a lucky pose (the winner's
    curse); averaging over fresh portraits ranks the finalists on the design alone, as GMI ranks its restarts."""
    codes, scores = np.asarray(codes), np.asarray(scores)
    if finalists < 1 or renders < 1:
        raise ValueError(f"finalists and renders must be at least 1, got {finalists} and {renders}")
    finalists = min(int(finalists), len(codes))
    top = np.argsort(-scores, axis=0, kind="stable")[:finalists]  # (finalists, classes)
    candidates = np.unique(top.ravel())
    fresh = score_designs(model, codes[candidates], renders=renders, size=size, seed=seed + 1, progress=False)
    row = {int(c): k for k, c in enumerate(candidates)}
    best = [top[np.argmax([fresh[row[int(d)], c] for d in top[:, c]]), c] for c in range(scores.shape[1])]
    return codes[np.asarray(best)]


def search(scores: np.ndarray, codes: np.ndarray, best_designs: np.ndarray, true_codes: np.ndarray,
           top: int = 16) -> dict[str, Any]:
    """Read the search against the classes' true designs ``true_codes`` (classes, 7).

    ``scores``: ``score_designs``' margins of ``codes``; ``best_designs``: what ``refine`` kept per class. Returns
    ``best_designs``, ``hits`` (classes, 7: the best design has the true value), ``recovery_by_trait`` and
    ``trait_recovery`` (their means), and ``top_share_by_trait``: per trait, the share of each class's ``top``
    highest-scoring designs that have its true value (averaged over classes; smoother than fifteen hits, and a trait
    the target ignores stays at its chance share there).
    """
    scores, codes, true_codes = np.asarray(scores), np.asarray(codes), np.asarray(true_codes)
    best = np.asarray(best_designs)
    if scores.shape != (len(codes), len(true_codes)) or best.shape != true_codes.shape:
        raise ValueError(f"scores must be (designs, classes) = ({len(codes)}, {len(true_codes)}) and best_designs "
                         f"{true_codes.shape}, got {scores.shape} and {best.shape}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    names = list(datamons.TRAITS)
    hits = best == true_codes
    ranked = np.argsort(-scores, axis=0, kind="stable")[:top]  # (top, classes)
    top_share = np.mean([(codes[ranked[:, c]] == true_codes[c]).mean(axis=0) for c in range(len(true_codes))], axis=0)
    return {"best_designs": best, "hits": hits,
            "recovery_by_trait": dict(zip(names, hits.mean(axis=0).tolist())), "trait_recovery": float(hits.mean()),
            "top_share_by_trait": dict(zip(names, top_share.tolist())), "top": int(min(top, len(codes)))}


def margin_ranking(margins: np.ndarray, candidate_codes: np.ndarray, true_codes: np.ndarray,
                   top: int = 10) -> dict[str, float]:
    """How well a model's margins point at each class among candidates whose traits are known: designs (their
    codes) or a generator's samples (as the trait judge reads them). GMI keeps what the target is most sure of, so
    this is what its search can find in such a pool.

    ``margins`` (candidates, classes), ``candidate_codes`` (candidates, 7), ``true_codes`` (classes, 7). Averaged
    over classes: ``top_distance``, in how many traits the ``top`` candidates by margin differ from the class;
    ``top_recovery``, the share of their traits that are the class's; ``near_percentile``, the margin percentile
    of the candidates within one trait of the class (1: above every other candidate; classes with none left out);
    ``near_per_class``, how many such candidates a class has on average.
    """
    margins, cand, true = np.asarray(margins), np.asarray(candidate_codes), np.asarray(true_codes)
    if margins.shape != (len(cand), len(true)) or cand.shape[1:] != true.shape[1:]:
        raise ValueError(f"margins must be (candidates, classes) = ({len(cand)}, {len(true)}) and the codes must "
                         f"have the same traits, got {margins.shape}, {cand.shape} and {true.shape}")
    if not 1 <= top <= len(cand):
        raise ValueError(f"top must be between 1 and the {len(cand)} candidates, got {top}")
    distance = datamons.trait_distances(true, cand)  # (classes, candidates)
    ranked = np.argsort(-margins, axis=0, kind="stable")[:top].T  # (classes, top)
    picked = np.take_along_axis(distance, ranked, axis=1)
    percentiles = []
    for c in range(len(true)):
        near = margins[distance[c] <= 1, c]
        if len(near):
            ordered = np.sort(margins[:, c])
            percentiles.append(float(np.mean(np.searchsorted(ordered, near, side="left") / len(ordered))))
    n_traits = true.shape[1]
    return {"top_distance": float(picked.mean()), "top_recovery": float(1 - picked.mean() / n_traits),
            "near_percentile": float(np.mean(percentiles)) if percentiles else float("nan"),
            "near_per_class": float((distance <= 1).sum(axis=1).mean())}


def record(found: dict[str, Any], reader: dict[str, Any], *, evaluation_top1: float, n_designs: int,
           renders: int) -> dict[str, Any]:
    """The JSON-friendly part of ``search``'s result for the target and for the ideal ``reader`` of every trait
    (``trait_reader_margins``), with how it was measured."""
    return {"trait_recovery": found["trait_recovery"], "recovery_by_trait": found["recovery_by_trait"],
            "top_share_by_trait": found["top_share_by_trait"], "top_designs": found["top"],
            "evaluation_top1": float(evaluation_top1), "reader_trait_recovery": reader["trait_recovery"],
            "reader_recovery_by_trait": reader["recovery_by_trait"],
            "designs_searched": int(n_designs), "renders_per_design": int(renders)}


def read_ceiling(found: dict[str, Any], reader: dict[str, Any], recovered: dict[str, float],
                 chance: dict[str, float], margin: float = 0.1) -> str:
    """Sentences: what the perfect prior's best designs recover, beside the attack's ``recovered`` and an ideal
    ``reader`` of every trait; and the traits the target leaves at chance (best design and top designs both within
    ``margin`` of ``chance``)."""
    ceiling, share = found["recovery_by_trait"], found["top_share_by_trait"]
    if not (set(ceiling) == set(recovered) == set(chance) == set(reader["recovery_by_trait"])):
        raise ValueError("reader, recovered and chance must name the same traits as the search")
    mean_recovered = float(np.mean(list(recovered.values())))
    text = (f"With a perfect prior, the design the target is most sure of recovers {found['trait_recovery']:.0%} of "
            f"the traits, against {mean_recovered:.0%} for GMI and {reader['trait_recovery']:.0%} for a target that "
            "read every trait: " + ", ".join(f"{t} {ceiling[t]:.0%} (GMI {recovered[t]:.0%})" for t in ceiling) + ".")
    blind = [t for t in ceiling if ceiling[t] < chance[t] + margin and share[t] < chance[t] + margin]
    if blind:
        text += (f" Of each name's {found['top']} best designs, " + ", ".join(
            f"{share[t]:.0%} have the true {t} (chance {chance[t]:.0%})" for t in blind)
            + ": the target's confidence says next to nothing about " + ("it" if len(blind) == 1 else "them")
            + ", so an inversion that keeps what the target is most sure of has nothing to find there, however good "
              "its prior.")
    return text
