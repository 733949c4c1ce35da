"""How well did the inversion work? The measures of the GMI paper and its follow-ups.

- attack accuracy: an independent EVALUATION model (another architecture, same private data) classifies each
  reconstruction; top-1 / top-5, averaged over seeds (follow-ups) or "best of restarts" (the official code counts
  an identity as found when any of its restarts is recognised). An independent judge matters: the target itself
  would also "recognise" adversarial noise that was optimised against it.
- KNN distance: squared L2, in the evaluation model's feature space, from a reconstruction to the nearest private
  training image of the same identity (lower = closer to a real photo of that person).
- PSNR: against the closest private image of the identity (higher = closer in pixels).
- trait recovery (Datamons): share of the identity's true traits that a trait classifier trained on PUBLIC
  portraits reads off the reconstruction.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.attacks import baselines
from course_lib.attacks.inversion import InversionResult


def _logits(model: tf.keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    images = np.asarray(images, np.float32)
    return np.concatenate([model(images[i : i + batch_size], training=False).numpy()
                           for i in range(0, len(images), batch_size)])


def topk_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean per row: is the label among the ``k`` highest logits?"""
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1)[:, :k]
    return np.any(top == np.asarray(labels)[:, None], axis=1)


def attack_accuracy(result: InversionResult, evaluation: tf.keras.Model, seeds: int = 1) -> dict[str, float]:
    """Top-1 / top-5 of the evaluation model on the target's chosen restart, mean over seed groups, and best-of.

    ``best_of_restarts``: an identity counts when ANY restart of its seed group is recognised (official code),
    also averaged over seed groups. ``top1_per_seed`` lists each group's top-1.
    """
    n_ids, restarts = result.images.shape[:2]
    flat = result.images.reshape(n_ids * restarts, *result.images.shape[2:])
    logits = _logits(evaluation, flat).reshape(n_ids, restarts, -1)
    chosen = result.chosen(seeds)  # (n_ids, seeds)
    rows = np.arange(n_ids)[:, None]
    picked = logits[rows, chosen]  # (n_ids, seeds, classes)
    labels = np.repeat(result.labels[:, None], seeds, axis=1)
    top1 = topk_hits(picked.reshape(n_ids * seeds, -1), labels.reshape(-1), 1).reshape(n_ids, seeds)
    top5 = topk_hits(picked.reshape(n_ids * seeds, -1), labels.reshape(-1), 5).reshape(n_ids, seeds)
    every = topk_hits(logits.reshape(n_ids * restarts, -1), np.repeat(result.labels, restarts), 1)
    any_in_group = every.reshape(n_ids, seeds, restarts // seeds).any(axis=2)
    return {
        "top1": float(top1.mean()),
        "top5": float(top5.mean()),
        "best_of_restarts": float(any_in_group.mean()),
        "top1_per_seed": [float(v) for v in top1.mean(axis=0)],
    }


def knn_distance(features: tf.keras.Model, reconstructions: np.ndarray, labels: np.ndarray,
                 private_images: np.ndarray, private_labels: np.ndarray) -> float:
    """Mean over reconstructions of the squared L2 feature distance to the nearest private image of its identity."""
    rec = _logits(features, reconstructions)
    priv = _logits(features, private_images)
    private_labels = np.asarray(private_labels)
    dists = []
    for vec, label in zip(rec, np.asarray(labels)):
        same = priv[private_labels == label]
        if len(same) == 0:
            raise ValueError(f"no private image of identity {label} to measure the KNN distance against")
        dists.append(np.min(np.sum((same - vec) ** 2, axis=1)))
    return float(np.mean(dists))


def psnr(reconstructions: np.ndarray, labels: np.ndarray, private_images: np.ndarray,
         private_labels: np.ndarray) -> float:
    """Mean PSNR (dB, pixels in [0, 1]) of each reconstruction against the closest private image of its identity."""
    private_labels = np.asarray(private_labels)
    values = []
    for image, label in zip(np.asarray(reconstructions, np.float32), np.asarray(labels)):
        same = np.asarray(private_images[private_labels == label], np.float32)
        if len(same) == 0:
            raise ValueError(f"no private image of identity {label} to measure PSNR against")
        mse = np.mean((same - image) ** 2, axis=tuple(range(1, same.ndim)))
        values.append(10 * np.log10(1.0 / max(float(mse.min()), 1e-10)))
    return float(np.mean(values))


def trait_recovery(trait_model: tf.keras.Model, reconstructions: np.ndarray, true_traits: np.ndarray,
                   trait_names: list[str]) -> dict[str, object]:
    """Share of true traits read off the reconstructions: overall and per trait."""
    from course_lib.models.targets import predict_traits

    predicted = predict_traits(trait_model, reconstructions, trait_names)
    hits = predicted == np.asarray(true_traits)
    return {"share": float(hits.mean()), "per_trait": {t: float(v) for t, v in zip(trait_names, hits.mean(axis=0))},
            "predicted": predicted}


def read_trait_recovery(per_trait: dict[str, float], chance: dict[str, float], margin: float = 0.1) -> str:
    """The per-trait table in one sentence: which traits came back clearly above chance and which did not.

    ``margin`` is how far above chance a share must be to count (with 15 identities one identity is 0.067).
    """
    if set(per_trait) != set(chance) or not per_trait:
        raise ValueError("per_trait and chance must name the same, non-empty set of traits")
    order = sorted(per_trait, key=lambda t: per_trait[t] - chance[t], reverse=True)
    above = [t for t in order if per_trait[t] >= chance[t] + margin]
    near = [t for t in order if t not in above]
    parts = []
    if above:
        parts.append("recovered clearly above chance: " + ", ".join(
            f"{t} ({per_trait[t]:.0%} vs {chance[t]:.0%})" for t in above))
    if near:
        parts.append("no better than chance, within one or two identities: " + ", ".join(
            f"{t} ({per_trait[t]:.0%} vs {chance[t]:.0%})" for t in near))
    verdict = ("so the reconstructions carry these features, not only a colour" if len(above) > len(near)
               else "so what came back is mostly the features listed first, not the whole creature")
    return "; ".join(parts).capitalize() + f": {verdict}."


def read_views(with_views: dict[str, float], without_views: dict[str, float], *, target: str,
               n_identities: int, seeds: tuple[int, int] | None = None, margin: float = 0.05,
               additions: str = "the views") -> str:
    """One sentence on what the views changed: top-1 and trait recovery with and without them (shares in [0, 1]).

    ``seeds``: how many seeds each attack averaged (with views, without), named in the sentence when given. A change
    within ``margin`` (default 5 points) is read as no change: one identity of 15 is 6.7 points of top-1.
    ``additions`` names what the attack adds to the paper's recipe (the sentence's subject).
    """
    for key in ("top1", "trait_recovery"):
        if key not in with_views or key not in without_views:
            raise ValueError(f"both attacks need a {key!r} score")
    config.require_positive("n_identities", n_identities, integer=True)
    parts = []
    for key, what in (("top1", "the judge's top-1"), ("trait_recovery", "trait recovery")):
        before, after = without_views[key], with_views[key]
        gap = after - before
        points = baselines.signed_points(gap)
        if abs(gap) <= margin:
            parts.append(f"leave {what} level ({before:.0%} to {after:.0%}, {points})")
        else:
            parts.append(f"{'raise' if gap > 0 else 'lower'} {what} from {before:.0%} to {after:.0%} ({points})")
    averaged = (f" (averaged over {seeds[1]} seed{'s' * (seeds[1] != 1)} without views and {seeds[0]} with them)"
                if seeds else "")
    one = 1 / n_identities
    return (f"Against {target}, {additions} {parts[0]} and {parts[1]}{averaged}; with {n_identities} identities one is "
            f"{one:.1%} of top-1, so a change within {margin * 100:.0f} points is read as level.")


def read_judge_accuracy(accuracy: dict[str, float], bar: float = 0.95) -> str:
    """One sentence on whether the trait judge's table can be read: its mean and weakest accuracy per trait on real
    held-out portraits, against ``bar`` (issue 11 asks 95 % on every trait)."""
    if not accuracy:
        raise ValueError("no accuracy per trait to read")
    weakest = min(accuracy, key=accuracy.get)
    trust = (f"every trait at {bar:.0%} or more, so a trait it reads on a reconstruction is one a viewer would see "
             f"there too, as far as the reconstruction looks like a portrait" if accuracy[weakest] >= bar
             else f"below {bar:.0%} on {weakest}, and a trait it reads poorly on real portraits cannot be scored on "
                  f"reconstructions either")
    return (f"The trait judge reads real held-out portraits right {np.mean(list(accuracy.values())):.0%} of the time "
            f"on average, {weakest} worst ({accuracy[weakest]:.0%}): {trust}.")


def chance_trait_recovery(trait_sizes: list[int]) -> float:
    """What guessing each trait uniformly at random would recover, for comparison."""
    return float(np.mean([1.0 / n for n in trait_sizes]))


def chosen_images(result: InversionResult, seeds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every seed group's chosen reconstruction, flattened: images (n_ids*seeds, ...) and their labels."""
    chosen = result.chosen(seeds)
    images = result.images[np.arange(len(result.labels))[:, None], chosen]
    return images.reshape(-1, *result.images.shape[2:]), np.repeat(result.labels, seeds)


def summarise(result: InversionResult, evaluation: tf.keras.Model, private_images: np.ndarray,
              private_labels: np.ndarray, *, seeds: int = 1, trait_model: tf.keras.Model | None = None,
              identity_traits: np.ndarray | None = None, trait_names: list[str] | None = None) -> dict[str, object]:
    """All the measures of one attack: accuracy (top-1, top-5, best-of), KNN distance, PSNR, trait recovery.

    ``identity_traits`` (n_classes, n_traits): the true traits of every identity, indexed by label.
    """
    from course_lib.models.targets import feature_extractor

    out: dict[str, object] = dict(attack_accuracy(result, evaluation, seeds))
    images, labels = chosen_images(result, seeds)
    out["knn_distance"] = knn_distance(feature_extractor(evaluation), images, labels, private_images, private_labels)
    out["psnr"] = psnr(images, labels, private_images, private_labels)
    if trait_model is not None and identity_traits is not None and trait_names is not None:
        traits = trait_recovery(trait_model, images, np.asarray(identity_traits)[labels], trait_names)
        out["trait_recovery"] = traits["share"]
        out["trait_recovery_per_trait"] = traits["per_trait"]
    out["seconds"] = result.seconds
    return out


def trait_classifier_accuracy(checkpoint_info: dict) -> dict[str, float]:
    """The trait judge's accuracy per trait on held-out real portraits, as recorded when its checkpoint was made.

    ``checkpoint_info``: what ``train_checkpoints.obtain`` returns for the trait classifier. Reads
    ``trait_classifier_acc``: per trait, the lower of two accuracies, on the portraits of the public identities held
    out of its training (``public_held_out_per_trait_acc``) and on the named Datamons' private test portraits
    (``per_trait_acc``); else, for an entry made before both were measured, ``per_trait_acc`` (named only).
    Empty when neither was recorded.
    """
    recorded = checkpoint_info.get("metrics", {})
    return {t: float(a) for t, a in (recorded.get("trait_classifier_acc") or recorded.get("per_trait_acc") or {}).items()}


def trait_classifier_accuracy_by_set(checkpoint_info: dict) -> dict[str, dict[str, float]]:
    """The two accuracies ``trait_classifier_accuracy`` takes the lower of, per trait, by set:
    ``{"public held out": {...}, "named test": {...}}`` (a set its checkpoint did not measure is left out)."""
    recorded = checkpoint_info.get("metrics", {})
    sets = {"public held out": "public_held_out_per_trait_acc", "named test": "per_trait_acc"}
    return {label: {t: float(a) for t, a in recorded[key].items()} for label, key in sets.items() if recorded.get(key)}
