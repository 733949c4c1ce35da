"""Model inversion: rebuild what a classifier "thinks" an identity looks like, from its weights and a name.

``gmi_attack`` is the generative model-inversion attack of Zhang et al. (CVPR 2020), the Secret Revealer: every
network stays frozen and only the latent vector z moves, minimising

    loss(z) = -D(G(z)) + lambda * CE(T(G(z)), identity)

(credible to the critic D, recognised as the identity by the target T), with Nesterov momentum on z, z clamped to
[-1, 1], and several random restarts of which the target's favourite is kept. All identities and all restarts run
as ONE batch. With ``views``, the identity loss is averaged over a few randomly shifted and zoomed copies of each
image (``Views``; Struppek et al., ICML 2022, "Plug & Play Attacks"): the target must name the reconstruction
however it is framed, which keeps the search from settling on pixel patterns that only this one network reads.
With ``candidates``, each random start is the best of that many latent vectors by the target's confidence in the
name (``select_starts``; Plug & Play Attacks' initial selection): the search begins where the target already sees
the identity instead of anywhere in the prior. With ``objective="margin"``, the identity loss is minus the target's
logit margin for the name instead of the cross-entropy, which stops pulling once the target is sure
(``_identity_loss``); ``course_gmi`` runs the course's choice of all of these. With auxiliary knowledge (a blurred or
partly hidden photo), the generator is the inpainting generator and z only fills what the photo does not show.

``pixel_attack`` is the baseline GMI improves on: optimise the pixels themselves to make the target say the name
(Fredrikson et al., 2015). Without a prior it finds patterns that fool the target but look like nothing.
The identity loss curves record the per-iteration mean of whatever identity cost the attack minimises.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.progress import bar


@dataclass
class AuxKnowledge:
    """What the attacker holds about each identity: a corrupted photo and its hole mask (1 = unknown)."""

    kind: str
    corrupted: np.ndarray  # (n_ids, size, size, channels)
    hole: np.ndarray  # (n_ids, size, size, 1) float32 in {0, 1}
    original: np.ndarray | None = None  # the private photo it came from, for display only


@dataclass
class InversionResult:
    """Reconstructions of every identity x restart, the target's confidence in each, and the loss curves.

    Restarts are grouped into ``seeds`` equal groups when the result is read: group s plays the role of one run of
    the attack with its own seed (official code: 5 restarts per run; here the runs share one vectorised batch).
    """

    labels: np.ndarray  # (n_ids,)
    images: np.ndarray  # (n_ids, restarts, h, w, c)
    target_prob: np.ndarray  # (n_ids, restarts): the target's softmax probability of the attacked identity
    identity_loss: list[float] = field(default_factory=list)  # mean identity loss (CE or minus the margin) per step
    prior_loss: list[float] = field(default_factory=list)  # mean -D(G(z)) per iteration
    seconds: float = 0.0
    iterations: int = 0
    method: str = "gmi"
    conditions: np.ndarray | None = None  # (n_ids, restarts, k) the one-hot traits a conditional prior drew with

    @property
    def restarts(self) -> int:
        return self.images.shape[1]

    def chosen(self, seeds: int = 1) -> np.ndarray:
        """(n_ids, seeds): in each seed group, the restart the TARGET scores highest (the attacker's own choice)."""
        if seeds < 1 or self.restarts % seeds:
            raise ValueError(f"{self.restarts} restarts cannot be split into {seeds} equal seed groups")
        per = self.restarts // seeds
        groups = self.target_prob.reshape(len(self.labels), seeds, per)
        return np.argmax(groups, axis=2) + np.arange(seeds) * per

    def subset(self, rows: slice | np.ndarray) -> "InversionResult":
        """The same attack restricted to some identities (rows), e.g. one kind of auxiliary knowledge."""
        return InversionResult(labels=self.labels[rows], images=self.images[rows], target_prob=self.target_prob[rows],
                               identity_loss=self.identity_loss, prior_loss=self.prior_loss, seconds=self.seconds,
                               iterations=self.iterations, method=self.method,
                               conditions=None if self.conditions is None else self.conditions[rows])

    def best_images(self, seed_group: int = 0, seeds: int = 1) -> np.ndarray:
        """(n_ids, h, w, c): the chosen reconstruction of every identity in one seed group."""
        pick = self.chosen(seeds)[:, seed_group]
        return self.images[np.arange(len(self.labels)), pick]


@dataclass(frozen=True)
class Views:
    """Random reframings of every reconstruction that the identity loss is averaged over (see the module's note).

    ``copies`` views per image and step, each zoomed by a factor in [1 - zoom, 1 + zoom] and moved by up to
    ``shift`` pixels in each direction, cut from the image padded by reflection (no black border appears).
    """

    copies: int = 4
    shift: float = 2.0
    zoom: float = 0.1

    def __post_init__(self) -> None:
        config.require_positive("views copies", self.copies, integer=True)
        config.require_non_negative("views shift", self.shift)
        if not 0 <= self.zoom < 0.5:
            raise ValueError(f"views zoom must be in [0, 0.5), got {self.zoom!r}")


def random_views(images: tf.Tensor, views: Views, seed: tf.Tensor) -> tf.Tensor:
    """(copies * n, h, w, c): ``views.copies`` reframings of each of the n square images, copy-major, bilinear.

    ``seed`` is a stateless seed (two integers): the same seed gives the same views. Written here because
    Keras's random layers draw one transform per call from a hidden state, not one per image from a given seed.
    """
    size = int(images.shape[1])
    # room for the largest view: the widest crop reaches size / 2 / (1 - zoom) from a centre moved by shift
    pad = int(np.ceil(views.shift + size / 2 * views.zoom / (1 - views.zoom))) + 1
    if pad >= size:
        raise ValueError(f"views shift {views.shift} is too large for {size}-pixel images")
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    n = tf.shape(images)[0]
    u = tf.random.stateless_uniform([n * views.copies, 3], seed)  # zoom, shift y, shift x
    zoom = 1.0 - views.zoom + 2.0 * views.zoom * u[:, :1]
    shift = views.shift * (2.0 * u[:, 1:] - 1.0)
    # crop_and_resize reads box corners as pixel centres scaled to [0, 1]: pixel p of the padded image is p / (full - 1)
    full = size + 2 * pad
    centre = (full - 1) / 2 + shift
    half = (size - 1) / 2 / zoom
    boxes = tf.concat([centre - half, centre + half], axis=1) / (full - 1)
    return tf.image.crop_and_resize(padded, boxes, tf.tile(tf.range(n), [views.copies]), [size, size])


CONDITION_SCALE = 4.0  # a conditional prior's trait logits are this times their search variable, clamped like z


def conditional_latents(n: int, sizes: tuple[int, ...], z_dim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, z_dim + sum(sizes)) random starts of a search through a conditional prior: z standard normal, then one
    uniformly drawn value per trait group, set to +0.5 against -0.5 for the others (its softmax weight near 0.95
    with ``CONDITION_SCALE``, soft enough that the gradient can still move it)."""
    from course_lib.models import gan

    z = rng.standard_normal((n, z_dim)).astype(np.float32)
    codes = np.stack([rng.integers(0, k, n) for k in sizes], axis=1)
    return np.concatenate([z, gan.one_hot_groups(codes, sizes) - 0.5], axis=1)


OBJECTIVES = ("ce", "margin")  # GMI's identity losses: the paper's cross-entropy, or the logit margin


def _identity_loss(target: tf.keras.Model, images: tf.Tensor, labels: tf.Tensor, objective: str = "ce") -> tf.Tensor:
    """Per-example identity loss: cross-entropy (GMI), minus the logit margin (``margin``: the label's logit minus
    the largest other logit, Carlini & Wagner's margin), or 1 - p(label) (Fredrikson et al.'s MI-FACE cost).

    Why the margin: cross-entropy falls to zero once the target is sure of the name, and so does its gradient; the
    search then stops improving the portrait as soon as one clue (a colour) convinces the target. The margin keeps
    rewarding every further feature the target links to the name (the saturation Nguyen et al., CVPR 2023, blame
    for weak inversions; they maximise the logit itself)."""
    logits = target(images, training=False)
    if objective == "one_minus_p":
        probs = tf.nn.softmax(logits)
        return 1.0 - tf.gather(probs, labels, axis=1, batch_dims=1)
    if objective == "margin":
        own = tf.gather(logits, labels, axis=1, batch_dims=1)
        others = logits + tf.float32.min * tf.one_hot(labels, tf.shape(logits)[1])
        return tf.reduce_max(others, axis=1) - own
    return tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def _run(
    make_images: Callable[[tf.Tensor], tf.Tensor],
    variable: tf.Variable,
    critic: tf.keras.Model | None,
    target: tf.keras.Model,
    labels: np.ndarray,
    n_ids: int,
    *,
    iterations: int,
    optimizer: tf.keras.optimizers.Optimizer,
    lam: float,
    clip: tuple[float, float],
    progress: bool,
    desc: str,
    objective: str = "ce",
    views: Views | None = None,
    seed: int = 0,
) -> tuple[list[float], list[float]]:
    """The optimisation loop shared by every attack: minimise prior + lam * identity loss over ``variable``.

    With ``views``, the identity loss of an image is its mean over ``views.copies`` random views, drawn afresh at
    every step from (``seed``, step).
    """
    labels_t = tf.constant(labels)

    @tf.function
    def step(k):
        with tf.GradientTape() as tape:
            images = make_images(variable)
            if views is None:
                ce = _identity_loss(target, images, labels_t, objective)
            else:
                seen = random_views(images, views, tf.stack([tf.constant(seed, tf.int64), k]))
                ce = _identity_loss(target, seen, tf.tile(labels_t, [views.copies]), objective)
                ce = tf.reduce_mean(tf.reshape(ce, [views.copies, -1]), axis=0)
            prior = -tf.reshape(critic(images, training=False), [-1]) if critic is not None else tf.zeros_like(ce)
            # Mean over the identities of one run, summed over restarts: each restart moves exactly as it would
            # in a run of its own (the official code averages its loss over the batch of identities).
            loss = tf.reduce_sum(prior + lam * ce) / n_ids
        optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
        variable.assign(tf.clip_by_value(variable, clip[0], clip[1]))
        return tf.reduce_mean(ce), tf.reduce_mean(prior)

    identity, prior = [], []
    for k in bar(range(iterations), desc=desc, disable=not progress):
        ce, pr = step(tf.constant(k, tf.int64))
        identity.append(float(ce))
        prior.append(float(pr))
    return identity, prior


def _finish(make_images, variable, target, labels, n_ids, restarts, identity, prior, started, iterations, method):
    images = make_images(variable).numpy()
    probs = tf.nn.softmax(target(images, training=False)).numpy()[np.arange(len(labels)), labels]
    shape = images.shape[1:]
    return InversionResult(
        labels=labels[::restarts].copy(),
        images=images.reshape(n_ids, restarts, *shape),
        target_prob=probs.reshape(n_ids, restarts),
        identity_loss=identity,
        prior_loss=prior,
        seconds=time.perf_counter() - started,
        iterations=iterations,
        method=method,
    )


def _check(labels, restarts, iterations, lr):
    labels = np.asarray(labels, np.int64).reshape(-1)
    if labels.size == 0:
        raise ValueError("give at least one identity (label) to attack")
    config.require_positive("restarts", restarts, integer=True)
    config.require_positive("iterations", iterations, integer=True)
    config.require_positive("lr", lr)
    return labels


def select_starts(make_images: Callable[[tf.Tensor], tf.Tensor], target: tf.keras.Model, labels: np.ndarray,
                  restarts: int, candidates: int, z_dim: int, rng: np.random.Generator,
                  batch_size: int = 512,
                  draw: Callable[[int, np.random.Generator], np.ndarray] | None = None) -> np.ndarray:
    """(len(labels) * restarts, z_dim) starting latents, identity-major like the attack's batch: restart r of each
    identity is the best, by the target's log-probability of that identity, of the r-th pool of ``candidates``
    standard normal latents (or of ``draw(n, rng)``'s). One pool serves every identity (a forward pass scores all
    names at once), and the restarts' pools are disjoint, so restarts stay independent starts."""
    config.require_positive("candidates", candidates, integer=True)
    if draw is None:
        pool = rng.standard_normal((restarts * candidates, z_dim)).astype(np.float32)
    else:
        pool = np.asarray(draw(restarts * candidates, rng), np.float32)
    scores = np.concatenate([
        tf.nn.log_softmax(target(make_images(tf.constant(pool[i:i + batch_size])), training=False)).numpy()
        for i in range(0, len(pool), batch_size)])[:, labels]  # (restarts * candidates, n_ids)
    best = scores.reshape(restarts, candidates, len(labels)).argmax(axis=1)  # (restarts, n_ids)
    chosen = best + (np.arange(restarts) * candidates)[:, None]
    return pool[chosen.T.reshape(-1)]


def gmi_attack(
    generator: tf.keras.Model,
    critic: tf.keras.Model,
    target: tf.keras.Model,
    labels: np.ndarray,
    *,
    restarts: int,
    iterations: int,
    seed: int,
    lr: float = 0.02,
    momentum: float = 0.9,
    lam: float = 100.0,
    clip: float = 1.0,
    aux: AuxKnowledge | None = None,
    views: Views | None = None,
    candidates: int = 0,
    objective: str = "ce",
    condition_sizes: tuple[int, ...] | None = None,
    progress: bool = True,
) -> InversionResult:
    """GMI against ``target`` for every identity in ``labels`` x ``restarts`` random starts, in one batch.

    With ``aux``, ``generator`` must be the inpainting generator (inputs corrupted image, hole, z). With ``views``,
    the identity loss is averaged over random reframings (``Views``); the kept restart is still the one the target
    is most sure of on the reconstruction itself. With ``candidates`` > 0, each start is the target's favourite of
    that many latents (``select_starts``) instead of the first one drawn. ``objective``: the identity loss, the
    paper's cross-entropy ``"ce"`` or ``"margin"`` (``_identity_loss``; lambda then weighs logits, not a
    cross-entropy). With a conditional generator (inputs [conditions, z], ``gan.build_generator``'s
    ``n_conditions``), ``condition_sizes`` gives its one-hot groups (the trait sizes): the search moves z and one
    logit per trait value together (a softmax per group, ``CONDITION_SCALE``), and the final reconstruction is drawn
    with each group's largest value, the traits the search settled on. Same seed -> same starts -> same
    reconstructions.
    """
    labels = _check(labels, restarts, iterations, lr)
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown GMI objective {objective!r}: choose {' or '.join(OBJECTIVES)}")
    config.require_positive("clip", clip)
    config.require_non_negative("lam", lam)
    n_ids = len(labels)
    z_dim = int(generator.inputs[-1].shape[-1])
    rng = np.random.default_rng(seed)
    batch_labels = np.repeat(labels, restarts)
    if candidates and aux is not None:
        raise ValueError("candidates selects starts of the plain generator; the inpainting generator's depend on the "
                         "auxiliary photo")
    from course_lib.models import gan

    n_cond = gan.n_conditions(generator)
    if n_cond and (condition_sizes is None or sum(condition_sizes) != n_cond):
        raise ValueError(f"the generator is conditional on {n_cond} values: give condition_sizes that add up to it")
    if n_cond and aux is not None:
        raise ValueError("auxiliary knowledge needs the inpainting generator, not a conditional one")
    make_final = None
    if len(critic.inputs) == 2 and not n_cond:
        raise ValueError("a projection critic (inputs [image, conditions]) scores a conditional generator's images")
    if n_cond:
        sizes = tuple(int(k) for k in condition_sizes)
        if len(critic.inputs) == 2:  # the projection critic also reads the traits the image is drawn with
            projection_critic = critic

            def critic(images, training=False):
                told = gan.group_softmax(CONDITION_SCALE * z[:, z_dim:], sizes)
                return projection_critic([images, told], training=training)

        def draw(n, generator_rng):
            return conditional_latents(n, sizes, z_dim, generator_rng)

        def make_images(v):
            soft = gan.group_softmax(CONDITION_SCALE * v[:, z_dim:], sizes)
            return generator([soft, v[:, :z_dim]], training=False)

        def make_final(v):  # drawn with each trait's leading value: the prior was trained on one-hot traits only
            hard = gan.one_hot_groups(gan.group_argmax(v[:, z_dim:].numpy(), sizes), sizes)
            return generator([tf.constant(hard), v[:, :z_dim]], training=False)

        z = tf.Variable(draw(n_ids * restarts, rng), name="z")
        if candidates:
            z.assign(select_starts(make_images, target, labels, restarts, candidates, z_dim, rng, draw=draw))
    elif aux is None:
        z = tf.Variable(rng.standard_normal((n_ids * restarts, z_dim)).astype(np.float32), name="z")

        def make_images(v):
            return generator(v, training=False)

        if candidates:
            z.assign(select_starts(make_images, target, labels, restarts, candidates, z_dim, rng))
    else:
        z = tf.Variable(rng.standard_normal((n_ids * restarts, z_dim)).astype(np.float32), name="z")
        if len(aux.corrupted) != n_ids:
            raise ValueError(f"aux knowledge holds {len(aux.corrupted)} photos for {n_ids} identities")
        corrupted = tf.constant(np.repeat(np.asarray(aux.corrupted, np.float32), restarts, axis=0))
        hole = tf.constant(np.repeat(np.asarray(aux.hole, np.float32), restarts, axis=0))

        def make_images(v):
            return generator([corrupted, hole, v], training=False)

    optimizer = tf.keras.optimizers.SGD(lr, momentum=momentum, nesterov=True)
    started = time.perf_counter()
    identity, prior = _run(make_images, z, critic, target, batch_labels, n_ids, iterations=iterations,
                           optimizer=optimizer, lam=lam, clip=(-clip, clip), progress=progress,
                           desc=("GMI" if aux is None else f"GMI + {aux.kind}") + (" (views)" if views else ""),
                           views=views, seed=seed, objective=objective)
    result = _finish(make_final or make_images, z, target, batch_labels, n_ids, restarts, identity, prior, started,
                     iterations, ("gmi" if aux is None else f"gmi_{aux.kind}") + ("_views" if views else "")
                     + ("_selected" if candidates else "") + ("_margin" if objective == "margin" else "")
                     + ("_traits" if n_cond else ""))
    if n_cond:  # the traits each reconstruction was drawn with: what the search settled on
        hard = gan.one_hot_groups(gan.group_argmax(z.numpy()[:, z_dim:], sizes), sizes)
        result.conditions = hard.reshape(n_ids, restarts, -1)
    return result


def course_gmi(generator: tf.keras.Model, critic: tf.keras.Model, target: tf.keras.Model, labels: np.ndarray,
               settings: config.Section, *, seed: int, progress: bool = True) -> InversionResult:
    """GMI as the course runs it, with a profile's ``cfg.revealer`` settings: its seeds x restarts, steps, views,
    chosen starts and identity loss (``attack_objective``, weighed by ``attack_margin_lambda`` for the margin and
    ``attack_lambda`` for the cross-entropy). A trait-conditioned prior searches the Datamon traits too.
    Notebook 03's main attack and the casts bench both run this."""
    from course_lib.data import datamons
    from course_lib.models import gan

    r = settings
    lam = r.attack_margin_lambda if r.attack_objective == "margin" else r.attack_lambda
    sizes = tuple(len(values) for values in datamons.TRAITS.values()) if gan.n_conditions(generator) else None
    return gmi_attack(generator, critic, target, labels, restarts=r.attack_seeds * r.attack_restarts,
                      iterations=r.attack_iterations, seed=seed, lr=r.attack_lr, momentum=r.attack_momentum, lam=lam,
                      views=Views(r.attack_views, r.attack_view_shift, r.attack_view_zoom),
                      candidates=r.attack_candidates, objective=r.attack_objective, condition_sizes=sizes,
                      progress=progress)


def pixel_attack(
    target: tf.keras.Model,
    labels: np.ndarray,
    *,
    image_shape: tuple[int, int, int],
    restarts: int,
    iterations: int,
    seed: int,
    lr: float = 0.1,
    recipe: str = "fredrikson",
    progress: bool = True,
) -> InversionResult:
    """The baseline: optimise the pixels themselves (kept in [0, 1]) so the target says the name; no prior.

    ``recipe="fredrikson"`` is MI-FACE (Fredrikson et al., 2015): plain gradient descent on the cost
    1 - p(label | x) from a grey image; the cost flattens once the target is convinced, so it stops at the first
    image that fools the target. ``recipe="adam_ce"`` is a stronger optimiser (Adam on the cross-entropy) that keeps
    pushing long after. Written here because no library offers either.
    """
    labels = _check(labels, restarts, iterations, lr)
    recipes = {"fredrikson": ("one_minus_p", tf.keras.optimizers.SGD), "adam_ce": ("ce", tf.keras.optimizers.Adam)}
    if recipe not in recipes:
        raise ValueError(f"unknown pixel-attack recipe '{recipe}': choose {' or '.join(recipes)}")
    objective, optimizer_class = recipes[recipe]
    n_ids = len(labels)
    rng = np.random.default_rng(seed)
    batch_labels = np.repeat(labels, restarts)
    start = 0.5 + 0.05 * rng.standard_normal((n_ids * restarts, *image_shape))
    x = tf.Variable(np.clip(start, 0, 1).astype(np.float32), name="pixels")
    started = time.perf_counter()
    identity, prior = _run(lambda v: v, x, None, target, batch_labels, n_ids, iterations=iterations,
                           optimizer=optimizer_class(lr), lam=1.0, clip=(0.0, 1.0), progress=progress,
                           desc=f"pixel attack ({recipe})", objective=objective)
    return _finish(lambda v: v, x, target, batch_labels, n_ids, restarts, identity, prior, started, iterations,
                   f"pixel_{recipe}")


def aux_knowledge(images: np.ndarray, kind: str, fill_value: np.ndarray) -> AuxKnowledge:
    """Corrupt one private photo per identity as the attacker would hold it (``course_lib.data.corruptions``).

    The hole is filled with the public mean pixel exactly as during the inpainting generator's training.
    """
    from course_lib.data import corruptions

    images = np.asarray(images, np.float32)
    size = images.shape[1]
    if kind == "blur":
        corrupted = np.asarray(corruptions.corrupt(images, "blur")[0], np.float32)
        hole = np.ones((len(images), size, size, 1), np.float32)
    elif kind in ("square", "t_mask"):
        mask = np.asarray(corruptions.square_mask(size) if kind == "square" else corruptions.t_mask(size), np.float32)
        hole = np.broadcast_to(mask[None, :, :, None], (len(images), size, size, 1)).astype(np.float32)
        fill = np.asarray(fill_value, np.float32).reshape(1, 1, 1, -1)
        corrupted = images * (1 - hole) + fill * hole
    else:
        raise ValueError(f"unknown auxiliary knowledge '{kind}': choose blur, square or t_mask")
    return AuxKnowledge(kind=kind, corrupted=corrupted, hole=hole, original=images)


def stack_aux(parts: list[AuxKnowledge]) -> AuxKnowledge:
    """Several kinds of auxiliary knowledge as one batch (part 0's identities, then part 1's, ...): one attack."""
    if not parts:
        raise ValueError("stack_aux needs at least one AuxKnowledge")
    originals = [p.original for p in parts]
    return AuxKnowledge(
        kind="+".join(p.kind for p in parts),
        corrupted=np.concatenate([p.corrupted for p in parts]),
        hole=np.concatenate([p.hole for p in parts]),
        original=None if any(o is None for o in originals) else np.concatenate(originals),
    )
