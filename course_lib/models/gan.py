"""The image prior of the Secret Revealer: a DCGAN-style generator trained against a WGAN-GP critic.

GMI (Zhang et al., CVPR 2020) never inverts the target directly in pixel space: it first learns, on PUBLIC images,
what a credible image looks like (the generator) and how credible an image is (the critic), then searches the
generator's latent space. The auxiliary-knowledge variant uses an inpainting generator that receives a corrupted
image and its hole mask and lets the latent vector fill only the hole.

Architectures follow the official code (transposed 5x5 convolutions with batch norm; a critic with instance norm and
no sigmoid), with every width scaled by ``width`` so a laptop CPU can train them. The training loop is written by
hand because Keras has no WGAN-GP: n_critic critic steps with gradient penalty, then one generator step.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.progress import bar

Z_DIM = 100
KINDS = ("blur", "square", "t_mask")  # corruption kinds the inpainting generator learns, in this order


def _n_blocks(size: int) -> int:
    """Number of stride-2 stages between 4x4 and ``size`` (32 -> 3, 64 -> 4)."""
    blocks = int(round(math.log2(size / 4))) if size >= 8 else 0
    if size < 8 or 4 * 2**blocks != size:
        raise config.ConfigError(f"image size must be 4 times a power of two and at least 8, got {size}")
    return blocks


def _check_shape(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    if len(image_shape) != 3 or image_shape[0] != image_shape[1]:
        raise config.ConfigError(f"image_shape must be (size, size, channels), got {image_shape}")
    return int(image_shape[0]), int(image_shape[2])


def build_generator(
    image_shape: tuple[int, int, int], *, z_dim: int = Z_DIM, width: int = 64, n_conditions: int = 0,
    name: str = "generator",
) -> tf.keras.Model:
    """z (z_dim,) -> image in [0, 1]: dense to 4x4, then one transposed conv (with batch norm) per doubling.

    With ``n_conditions`` > 0 the generator is conditional: its inputs are [conditions, z], the conditions (one-hot
    groups, see ``one_hot_groups``) joining z before the first layer, so it draws what it is told to draw.
    """
    size, channels = _check_shape(image_shape)
    config.require_positive("width", width, integer=True)
    config.require_non_negative("n_conditions", n_conditions)
    blocks = _n_blocks(size)
    L = tf.keras.layers
    z = L.Input((z_dim,), name="z")
    inputs = z
    x = z
    if n_conditions:
        conditions = L.Input((int(n_conditions),), name="conditions")
        inputs = [conditions, z]
        x = L.Concatenate()([z, conditions])  # z first: the rows of an unconditional generator come first
    top = width * 2 ** (blocks - 1)
    x = L.Dense(4 * 4 * top, use_bias=False)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU()(x)
    x = L.Reshape((4, 4, top))(x)
    for i in range(blocks - 1):
        x = L.Conv2DTranspose(top // 2 ** (i + 1), 5, strides=2, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.ReLU()(x)
    out = L.Conv2DTranspose(channels, 5, strides=2, padding="same", activation="sigmoid")(x)
    return tf.keras.Model(inputs, out, name=name)


def n_conditions(generator: tf.keras.Model) -> int:
    """Width of a conditional generator's conditions input, 0 for an unconditional one."""
    return int(generator.inputs[0].shape[-1]) if len(generator.inputs) == 2 and not _is_inpainting(generator) else 0


def _is_inpainting(generator: tf.keras.Model) -> bool:
    return len(generator.inputs) == 3


def widen_to_conditional(conditional: tf.keras.Model, unconditional: tf.keras.Model) -> None:
    """Start a conditional generator or critic from a trained unconditional one of the same width: every weight is
    copied; the generator's first-layer rows for the conditions and the critic's projection start at zero, so it
    draws (scores) exactly what the unconditional one drew (scored) until training teaches it to use them."""
    def weighted(model):
        return [layer for layer in model.layers if layer.weights and layer.name != "projection"]

    pairs = list(zip(weighted(conditional), weighted(unconditional)))
    if len(weighted(conditional)) != len(weighted(unconditional)):
        raise ValueError("the conditional and unconditional networks do not have the same layers")
    for new_layer, old_layer in pairs:
        weights = []
        for new, old in zip(new_layer.get_weights(), old_layer.get_weights()):
            if new.shape == old.shape:
                weights.append(old)
            elif new.ndim == 2 and new.shape[1] == old.shape[1] and new.shape[0] > old.shape[0]:
                widened = np.zeros_like(new)
                widened[: old.shape[0]] = old
                weights.append(widened)
            else:
                raise ValueError(f"cannot widen weights of shape {old.shape} to {new.shape}: not the same network")
        new_layer.set_weights(weights)
    for layer in conditional.layers:
        if layer.name == "projection":
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def one_hot_groups(codes: np.ndarray, sizes: tuple[int, ...] | list[int]) -> np.ndarray:
    """(n, sum(sizes)) float32: each column k of ``codes`` (n, len(sizes)) as a one-hot block of ``sizes[k]``."""
    codes = np.asarray(codes, np.int64)
    if codes.ndim != 2 or codes.shape[1] != len(sizes):
        raise ValueError(f"codes must be (n, {len(sizes)}), got shape {codes.shape}")
    if (codes < 0).any() or (codes >= np.asarray(sizes)).any():
        raise ValueError("a code is outside its group's size")
    return np.concatenate([np.eye(n, dtype=np.float32)[codes[:, k]] for k, n in enumerate(sizes)], axis=1)


def group_softmax(logits: tf.Tensor, sizes: tuple[int, ...] | list[int]) -> tf.Tensor:
    """Softmax within each block of ``sizes`` columns: relaxed one-hot groups a search can move smoothly."""
    return tf.concat([tf.nn.softmax(part) for part in tf.split(logits, list(sizes), axis=-1)], axis=-1)


def group_argmax(values: np.ndarray, sizes: tuple[int, ...] | list[int]) -> np.ndarray:
    """(n, len(sizes)) the largest column of each block: ``one_hot_groups``' inverse."""
    bounds = np.cumsum([0, *sizes])
    return np.stack([np.argmax(values[:, a:b], axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)


def build_critic(image_shape: tuple[int, int, int], *, width: int = 64, n_conditions: int = 0,
                 name: str = "critic") -> tf.keras.Model:
    """image -> one unbounded score (higher = more credible); instance norm, as WGAN-GP forbids batch norm.

    With ``n_conditions`` > 0 the critic is a projection critic (Miyato & Koyama, ICLR 2018): its inputs are
    [image, conditions] and the score gains the inner product of the image's last features with a learnt embedding
    of the conditions, so an image that does not show what its conditions say scores lower. The embedding starts
    at zero: a critic widened from an unconditional one (``widen_to_conditional``) scores as it did.
    """
    size, channels = _check_shape(image_shape)
    config.require_positive("width", width, integer=True)
    config.require_non_negative("n_conditions", n_conditions)
    blocks = _n_blocks(size)
    L = tf.keras.layers
    image = L.Input((size, size, channels), name="image")
    x = L.Conv2D(width, 5, strides=2, padding="same")(image)
    x = L.LeakyReLU(0.2)(x)
    for i in range(1, blocks):
        filters = width * 2**i
        x = L.Conv2D(filters, 5, strides=2, padding="same")(x)
        x = L.GroupNormalization(groups=filters)(x)  # one group per channel = instance norm
        x = L.LeakyReLU(0.2)(x)
    score = L.Flatten()(L.Conv2D(1, 4, padding="valid")(x))
    if not n_conditions:
        return tf.keras.Model(image, score, name=name)
    conditions = L.Input((int(n_conditions),), name="conditions")
    features = L.Flatten()(x)
    embedded = L.Dense(features.shape[-1], use_bias=False, kernel_initializer="zeros", name="projection")(conditions)
    match = L.Dot(axes=1)([features, embedded])
    return tf.keras.Model([image, conditions], L.Add()([score, match]), name=name)


def build_inpainting_generator(
    image_shape: tuple[int, int, int], *, z_dim: int = Z_DIM, width: int = 64, name: str = "inpainting_generator"
) -> tf.keras.Model:
    """(corrupted image, hole mask, z) -> completed image; known pixels are copied, z and context fill the hole.

    An encoder reads the corrupted image and its mask down to 4x4, z joins there, and a decoder with skip
    connections (a small U-Net) paints the image. For blur the hole is the whole image (nothing is known exactly).
    """
    size, channels = _check_shape(image_shape)
    config.require_positive("width", width, integer=True)
    blocks = _n_blocks(size)
    L = tf.keras.layers
    corrupted = L.Input((size, size, channels), name="corrupted")
    hole = L.Input((size, size, 1), name="hole")
    z = L.Input((z_dim,), name="z")
    x = L.Concatenate()([corrupted, hole])
    skips = []
    for i in range(blocks):
        x = L.Conv2D(width * 2 ** min(i, 3), 4, strides=2, padding="same")(x)
        x = L.LeakyReLU(0.2)(x)
        skips.append(x)
    top = width * 2 ** (blocks - 1)
    zz = L.Dense(4 * 4 * top, use_bias=False)(z)
    zz = L.BatchNormalization(momentum=0.9)(zz)
    zz = L.ReLU()(L.Reshape((4, 4, top))(zz))
    x = L.Concatenate()([skips[-1], zz])
    for i in range(blocks - 1):
        x = L.Conv2DTranspose(top // 2 ** (i + 1), 5, strides=2, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.ReLU()(x)
        x = L.Concatenate()([x, skips[-2 - i]])
    painted = L.Conv2DTranspose(channels, 5, strides=2, padding="same", activation="sigmoid")(x)
    # Keep what is known, paint only the hole.
    completed = L.Lambda(lambda t: t[0] * (1.0 - t[1]) + t[2] * t[1], name="composite")([corrupted, hole, painted])
    return tf.keras.Model([corrupted, hole, z], completed, name=name)


@dataclass
class InpaintingData:
    """Everything the inpainting GAN needs besides the clean images: the blurred copies, both masks, the fill value.

    ``blurred`` comes from ``course_lib.data.corruptions.blur`` on the same images, so the generator learns exactly
    the corruption the attacker will hold.
    """

    blurred: np.ndarray
    square: np.ndarray  # bool (size, size), True = hidden
    t_mask: np.ndarray
    fill_value: np.ndarray  # mean pixel of the public data, written into the hole (as the official code does)


def corrupt_batch(
    images: tf.Tensor, blurred: tf.Tensor, kinds: tf.Tensor, data: InpaintingData
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per example, corrupt by ``KINDS[kind]``: returns (corrupted, hole) with hole (n, size, size, 1) in {0, 1}."""
    size = images.shape[1]
    masks = np.stack([np.ones((size, size)), data.square, data.t_mask]).astype(np.float32)[..., None]
    hole = tf.gather(tf.constant(masks), kinds)
    fill = tf.constant(np.asarray(data.fill_value, np.float32).reshape(1, 1, 1, -1))
    masked = images * (1.0 - hole) + fill * hole
    is_blur = tf.reshape(tf.equal(kinds, 0), (-1, 1, 1, 1))
    return tf.where(is_blur, blurred, masked), hole


def image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile (n, h, w, c) images into one (rows*h, columns*w, c) picture with a 1-pixel white border."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    rows = int(math.ceil(n / columns))
    grid = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1, c), np.float32)
    for k in range(n):
        r, q = divmod(k, columns)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = images[k]
    return grid


@dataclass
class GanHistory:
    """Per-epoch means of the losses and the sample grid drawn after each epoch (fixed latent vectors)."""

    critic_loss: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)
    wasserstein: list[float] = field(default_factory=list)  # critic(real) - critic(fake): falls as G improves
    samples: list[np.ndarray] = field(default_factory=list)
    epochs_done: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "critic_loss": self.critic_loss,
            "generator_loss": self.generator_loss,
            "wasserstein": self.wasserstein,
            "epochs_done": self.epochs_done,
            "seconds": self.seconds,
        }


def _gradient_penalty(critic: Callable[..., tf.Tensor], real: tf.Tensor, fake: tf.Tensor,
                      eps: tf.Tensor) -> tf.Tensor:
    """(||grad critic(x_hat)|| - 1)^2 on random interpolates between real and fake (Gulrajani et al., 2017)."""
    mixed = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic(mixed, training=True)
    grads = tape.gradient(scores, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def decayed_learning_rate(base: float, epoch: int, epochs: int, decay_epochs: int) -> float:
    """``base`` until the last ``decay_epochs`` (d) epochs, then a linear fall to 0 at the end of training.

    Each epoch runs at the rate of its middle: epoch ``epochs - k`` (k <= d) at base * (k - 1/2) / d.
    """
    remaining = epochs - epoch
    if decay_epochs <= 0 or remaining > decay_epochs:
        return float(base)
    return float(base) * (remaining - 0.5) / decay_epochs


def train_wgan_gp(
    generator: tf.keras.Model,
    critic: tf.keras.Model,
    images: np.ndarray,
    *,
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    batch_size: int = 64,
    n_critic: int = 5,
    gp_weight: float = 10.0,
    learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    beta_2: float = 0.999,
    inpainting: InpaintingData | None = None,
    consistency_weight: float = 100.0,
    checkpoint_dir: str | Path | None = None,
    ema_decay: float = 0.0,
    lr_decay_epochs: int = 0,
    conditions: np.ndarray | None = None,
    n_samples: int = 16,
    progress: bool = True,
    desc: str = "GAN",
) -> GanHistory:
    """Train ``generator`` against ``critic`` with WGAN-GP for ``epochs`` x ``steps_per_epoch`` generator steps.

    Each generator step follows ``n_critic`` critic steps on fresh real batches. With ``inpainting`` the generator
    is an inpainting generator: every example is corrupted by a random kind (blur / square / T mask) and, for blur,
    a consistency term keeps the coarse content of the completion equal to the blurred input.
    With ``checkpoint_dir``, the state is saved after every epoch and an interrupted run resumes where it stopped;
    a PNG sample grid per epoch lands in ``checkpoint_dir/samples``. Same seed -> same numbers.
    With ``ema_decay`` in (0, 1), an exponential moving average of the generator's weights is kept after every
    generator step (Karras et al. 2018; Yazici et al. 2019): WGAN-GP's generator oscillates around a good solution and
    the average sits closer to it. The sample grids show the average, and the generator returned holds it.
    With ``lr_decay_epochs`` > 0, both learning rates fall linearly towards 0 over the last ``lr_decay_epochs``
    epochs (see ``decayed_learning_rate``), so the generator settles instead of oscillating; a run resumed with more
    epochs continues from its saved state into the decay.
    With ``conditions`` ((n, k), one row per image, e.g. ``one_hot_groups`` of its traits), the generator is
    conditional (inputs [conditions, z]) and every fake is drawn with the conditions of a real image of the batch;
    the critic must be a projection critic (``build_critic``'s ``n_conditions``), which sees each image with its
    conditions, so a drawing that does not show what it was told looks fake (Miyato & Koyama, ICLR 2018).
    (A fixed classifier's cross-entropy on the fakes instead, AC-GAN style, was tried: the generator learnt patterns
    only that classifier reads, and the trait judge read its traits at chance.)
    """
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch), ("batch_size", batch_size),
                        ("n_critic", n_critic)):
        config.require_positive(name, value, integer=True)
    config.require_positive("learning_rate", learning_rate)
    config.require_non_negative("gp_weight", gp_weight)
    config.require_non_negative("lr_decay_epochs", lr_decay_epochs)
    if lr_decay_epochs > epochs:
        raise config.ConfigError(f"lr_decay_epochs ({lr_decay_epochs}) cannot exceed epochs ({epochs})")
    if not (ema_decay == 0 or 0 < ema_decay < 1):
        raise config.ConfigError(f"ema_decay must be 0 (no average) or between 0 and 1, got {ema_decay!r}")
    images = np.asarray(images, np.float32)
    conditional_critic = len(critic.inputs) == 2
    if conditional_critic != (conditions is not None):
        raise ValueError("a conditional generator trains with a projection critic and conditions, and only then")
    if conditions is not None:
        if inpainting is not None:
            raise ValueError("the inpainting generator is not conditional")
        conditions = np.asarray(conditions, np.float32)
        if len(conditions) != len(images) or n_conditions(generator) != conditions.shape[-1]:
            raise ValueError(f"conditions {conditions.shape} do not match {len(images)} images and a generator "
                             f"with {n_conditions(generator)} conditions")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, size, size, channels), got {images.shape}")
    if len(images) < batch_size:
        raise config.ConfigError(f"batch_size {batch_size} is larger than the {len(images)} training images")
    config.seed_everything(seed)
    z_dim = int(generator.inputs[-1].shape[-1])
    g_opt = tf.keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
    c_opt = tf.keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    elapsed_var = tf.Variable(0.0, dtype=tf.float64, trainable=False)  # training seconds, summed over resumes
    average = tf.Module()  # the generator's weight average, saved with the state so a resumed run keeps it
    average.weights = [tf.Variable(w, trainable=False) for w in generator.weights] if ema_decay else []
    manager = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        ckpt = tf.train.Checkpoint(generator=generator, critic=critic, g_opt=g_opt, c_opt=c_opt, epoch=epoch_var,
                                   elapsed=elapsed_var, average=average)
        manager = tf.train.CheckpointManager(ckpt, str(checkpoint_dir / "state"), max_to_keep=1)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint).expect_partial()
    blurred_all = None if inpainting is None else np.asarray(inpainting.blurred, np.float32)

    def fake_batch(real, blurred, kinds, z, cond, training):
        if conditions is not None:
            return generator([cond, z], training=training)
        if inpainting is None:
            return generator(z, training=training)
        corrupted, hole = corrupt_batch(real, blurred, kinds, inpainting)
        return generator([corrupted, hole, z], training=training)

    @tf.function
    def judge(images, cond, training):  # a projection critic also reads what the images should show
        return critic([images, cond], training=training) if conditional_critic else critic(images, training=training)

    def critic_step(real, blur, kind, z, cond, eps):
        fake = fake_batch(real, blur, kind, z, cond, True)
        with tf.GradientTape() as tape:
            real_score = tf.reduce_mean(judge(real, cond, True))
            fake_score = tf.reduce_mean(judge(fake, cond, True))
            gp = _gradient_penalty(lambda x, training: judge(x, cond, training), real, fake, eps)
            c_loss = fake_score - real_score + gp_weight * gp
        c_opt.apply_gradients(zip(tape.gradient(c_loss, critic.trainable_variables), critic.trainable_variables))
        return c_loss, real_score - fake_score

    @tf.function
    def generator_step(real, blur, kind, z, cond):
        with tf.GradientTape() as tape:
            fake = fake_batch(real, blur, kind, z, cond, True)
            g_loss = -tf.reduce_mean(judge(fake, cond, True))
            if inpainting is not None:
                # Hand-written: coarse (8x8-pooled) agreement with the truth for blurred inputs only.
                pool = max(1, real.shape[1] // 8)
                diff = tf.nn.avg_pool2d(fake, pool, pool, "VALID") - tf.nn.avg_pool2d(real, pool, pool, "VALID")
                per_example = tf.reduce_mean(tf.square(diff), axis=[1, 2, 3])
                g_loss += consistency_weight * tf.reduce_mean(per_example * tf.cast(tf.equal(kind, 0), tf.float32))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
        for mean, weight in zip(average.weights, generator.weights):
            mean.assign(ema_decay * mean + (1.0 - ema_decay) * weight)
        return g_loss

    def with_average(draw):
        """Run ``draw`` with the averaged weights in the generator, then put the trained ones back."""
        if not average.weights:
            return draw()
        trained = [w.numpy() for w in generator.weights]
        generator.set_weights([m.numpy() for m in average.weights])
        try:
            return draw()
        finally:
            generator.set_weights(trained)

    def step(reals, blurs, kinds, zs, conds, eps):
        c_losses, gaps = [], []
        for k in range(n_critic):
            c_loss, gap = critic_step(reals[k], blurs[k], kinds[k], zs[k], conds[k], eps[k])
            c_losses.append(float(c_loss))
            gaps.append(float(gap))
        g_loss = generator_step(reals[n_critic], blurs[n_critic], kinds[n_critic], zs[n_critic], conds[n_critic])
        return float(np.mean(c_losses)), float(g_loss), float(np.mean(gaps))

    sample_rng = np.random.default_rng(seed + 10_000)
    sample_z = sample_rng.standard_normal((n_samples, z_dim)).astype(np.float32)
    sample_idx = sample_rng.choice(len(images), n_samples, replace=False)
    sample_kinds = np.arange(n_samples) % len(KINDS)

    def sample_grid() -> np.ndarray:
        if conditions is not None:
            out = with_average(lambda: generator([conditions[sample_idx], sample_z], training=False).numpy())
        elif inpainting is None:
            out = with_average(lambda: generator(sample_z, training=False).numpy())
        else:
            out = with_average(lambda: fake_batch(tf.constant(images[sample_idx]), tf.constant(blurred_all[sample_idx]),
                                                  tf.constant(sample_kinds), sample_z, None, False).numpy())
        return image_grid(out, columns=8)

    history = GanHistory()
    start_epoch = int(epoch_var.numpy())
    elapsed_before = float(elapsed_var.numpy())
    history.epochs_done = start_epoch
    started = time.perf_counter()
    n_batches = n_critic + 1
    total = (epochs - start_epoch) * steps_per_epoch if epochs > start_epoch else 0
    ticker = bar(range(total), desc=desc, disable=not progress) if total else []
    ticks = iter(ticker)
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, epoch])  # per-epoch stream: a resumed run draws what it would have
        rate = decayed_learning_rate(learning_rate, epoch, epochs, lr_decay_epochs)
        g_opt.learning_rate.assign(rate)  # a variable the compiled steps read: no retracing
        c_opt.learning_rate.assign(rate)
        sums = np.zeros(3)
        for _ in range(steps_per_epoch):
            idx = rng.integers(0, len(images), (n_batches, batch_size))
            reals = images[idx]
            blurs = blurred_all[idx] if blurred_all is not None else reals
            kinds = rng.integers(0, len(KINDS), (n_batches, batch_size))
            zs = rng.standard_normal((n_batches, batch_size, z_dim)).astype(np.float32)
            eps = rng.uniform(size=(n_batches, batch_size, 1, 1, 1)).astype(np.float32)
            conds = conditions[idx] if conditions is not None else np.zeros((n_batches, batch_size, 1), np.float32)
            sums += step(reals, blurs, kinds, zs, conds, eps)
            next(ticks, None)
        means = sums / steps_per_epoch
        history.critic_loss.append(float(means[0]))
        history.generator_loss.append(float(means[1]))
        history.wasserstein.append(float(means[2]))
        grid = sample_grid()
        history.samples.append(grid)
        epoch_var.assign(epoch + 1)
        elapsed_var.assign(elapsed_before + time.perf_counter() - started)
        history.epochs_done = epoch + 1
        if manager is not None:
            manager.save()
            _save_png(checkpoint_dir / "samples" / f"epoch_{epoch + 1:03d}.png", grid)
    if hasattr(ticker, "close"):
        ticker.close()
    if not history.samples:  # nothing left to train (resumed a finished run): still show what the generator draws
        history.samples.append(sample_grid())
    history.seconds = elapsed_before + time.perf_counter() - started  # includes earlier runs that were resumed
    if average.weights:  # hand back the average: it is what gets shipped and attacked
        generator.set_weights([m.numpy() for m in average.weights])
    return history


def _save_png(path: Path, grid: np.ndarray) -> None:
    from matplotlib import image as mpimg  # no pyplot: never touches the notebook's backend

    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, np.clip(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, 0, 1), cmap="gray")


def generate(generator: tf.keras.Model, n: int, seed: int, batch_size: int = 256,
             conditions: np.ndarray | None = None) -> np.ndarray:
    """Draw ``n`` images with latent vectors from ``seed``; a conditional generator needs ``conditions`` (n, k)."""
    z_dim = int(generator.inputs[-1].shape[-1])
    z = np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)
    if (conditions is None) != (n_conditions(generator) == 0):
        raise ValueError("give conditions exactly when the generator is conditional")
    if conditions is None:
        batches = (z[i : i + batch_size] for i in range(0, n, batch_size))
    else:
        conditions = np.asarray(conditions, np.float32)
        if len(conditions) != n:
            raise ValueError(f"{len(conditions)} conditions for {n} images")
        batches = ([conditions[i : i + batch_size], z[i : i + batch_size]] for i in range(0, n, batch_size))
    return np.concatenate([generator(b, training=False).numpy() for b in batches])


def frechet_distance(features: tf.keras.Model, real: np.ndarray, fake: np.ndarray, batch_size: int = 256) -> float:
    """Fréchet distance between real and generated images in ``features``' space (FID's formula, another network).

    FID proper uses an ImageNet Inception network, meaningless on 32 x 32 cartoons; the course measures the same
    distance between Gaussians fitted to the features of a network trained on the same kind of images. Written by
    hand (five lines of linear algebra) because no maintained TensorFlow package computes it for a custom network.
    Lower is better; compare with the distance between two halves of the real images, the floor sampling leaves.
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("frechet_distance needs at least two real and two generated images")
    f_real = features.predict(np.asarray(real, np.float32), batch_size=batch_size, verbose=0).reshape(len(real), -1)
    f_fake = features.predict(np.asarray(fake, np.float32), batch_size=batch_size, verbose=0).reshape(len(fake), -1)
    mu_r, mu_f = f_real.mean(axis=0), f_fake.mean(axis=0)
    cov_r, cov_f = np.cov(f_real, rowvar=False), np.cov(f_fake, rowvar=False)
    # trace(sqrtm(C_r C_f)) = sum of the square roots of the eigenvalues of C_r C_f, which are real and >= 0 (the
    # product of two PSD matrices is similar to a PSD one). Eigenvalues stay finite on the rank-deficient covariances
    # of few samples, where scipy's sqrtm returns NaN (scipy >= 1.18) or warns.
    eigenvalues = np.linalg.eigvals(cov_r @ cov_f).real
    trace_root = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    return float(np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f) - 2.0 * trace_root)
