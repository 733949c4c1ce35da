"""The Secret Revealer's cast of classifiers: the targets it attacks, the judge that scores it, a trait reader.

The talk's table attacks targets of different depth (VGG16, ResNet-152, face.evoLVe); we echo it with a shallow CNN
(``target_small``, the course's ``datamons_cnn``) and a deeper residual CNN (``target_resnet``). The attack is
judged by an ``evaluation_model`` of a third, different architecture trained on the same private data: a
reconstruction that only fools the target it was optimised against should not count. The trait classifier is
trained on PUBLIC portraits only, so it can read an identity's traits off a reconstruction without ever having seen
the private identities. Every model returns logits; the layer named ``features`` is the embedding used for KNN.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.models.classifiers import datamons_cnn

# The first is the main target (trait recovery, auxiliary knowledge): the deeper, better generalising ResNet.
TARGETS = ("target_resnet", "target_small")


def target_small(input_shape: tuple[int, int, int], n_classes: int, width: int = 32) -> tf.keras.Model:
    """Shallow target: three conv blocks and global pooling (the course's ``datamons_cnn``)."""
    model = datamons_cnn(input_shape, n_classes, width=width)
    model._name = "target_small"
    return model


# Batch-norm momentum 0.9 (Keras default 0.99): with few training steps and near-constant inputs (MNIST's black
# border), the slow default leaves the moving variance far from the truth and the model collapses at inference.


def _residual_block(x: tf.Tensor, filters: int, stride: int) -> tf.Tensor:
    L = tf.keras.layers
    shortcut = x
    y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = L.BatchNormalization(momentum=0.9)(y)
    y = L.ReLU()(y)
    y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = L.BatchNormalization(momentum=0.9)(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        if stride != 1:
            # A 1x1 convolution with stride s reads every s-th pixel: take those pixels (a 1x1 pooling), then a
            # stride-1 1x1 convolution. Same function, same weights; but the weight gradient of a STRIDED 1x1
            # convolution with fewer input channels than oneDNN's vector block (16 here) writes past its buffer in
            # TensorFlow 2.15 and 2.21 (oneDNN issue 6035): heap corruption, a killed process, for some batch sizes.
            shortcut = L.AveragePooling2D(1, strides=stride)(shortcut)
        shortcut = L.Conv2D(filters, 1, use_bias=False)(shortcut)
        shortcut = L.BatchNormalization(momentum=0.9)(shortcut)
    return L.ReLU()(L.Add()([y, shortcut]))


def target_resnet(
    input_shape: tuple[int, int, int], n_classes: int, width: int = 32, blocks_per_stage: int = 2
) -> tf.keras.Model:
    """Deeper target: a small ResNet (stem + 3 stages of residual blocks, 2 blocks each = 14 conv layers)."""
    config.require_positive("n_classes", n_classes, integer=True)
    config.require_positive("width", width, integer=True)
    config.require_positive("blocks_per_stage", blocks_per_stage, integer=True)
    L = tf.keras.layers
    inputs = L.Input(input_shape)
    x = L.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
    for stage, multiplier in enumerate((1, 2, 4)):
        for block in range(blocks_per_stage):
            x = _residual_block(x, width * multiplier, 2 if (block == 0 and stage > 0) else 1)
    x = L.GlobalAveragePooling2D(name="features")(x)
    return tf.keras.Model(inputs, L.Dense(n_classes)(x), name="target_resnet")


def evaluation_model(input_shape: tuple[int, int, int], n_classes: int, width: int = 32) -> tf.keras.Model:
    """The judge: a VGG-style net (paired convs, batch norm, dropout, dense head), unlike either target."""
    config.require_positive("n_classes", n_classes, integer=True)
    config.require_positive("width", width, integer=True)
    L = tf.keras.layers
    inputs = L.Input(input_shape)
    x = inputs
    for multiplier in (1, 2, 4):
        for _ in range(2):
            x = L.Conv2D(width * multiplier, 3, padding="same", use_bias=False)(x)
            x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
        x = L.MaxPool2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dropout(0.3)(x)
    x = L.Dense(width * 4, activation="relu", name="features")(x)
    return tf.keras.Model(inputs, L.Dense(n_classes)(x), name="evaluation_model")


def feature_extractor(model: tf.keras.Model) -> tf.keras.Model:
    """The model cut at its ``features`` layer (or its penultimate layer): the space where KNN distance is measured."""
    try:
        layer = model.get_layer("features")
    except ValueError:
        layer = model.layers[-2]
    return tf.keras.Model(model.inputs, layer.output, name=f"{model.name}_features")


def trait_trunk(trait_model: tf.keras.Model, at: str = "shared") -> tf.keras.Model:
    """The trait classifier without its trait heads: cut at the layer the heads share (``"shared"``) or at the
    flattened convolutions before it (``"convolutions"``). Used to judge GAN samples and as public features."""
    heads = [layer for layer in trait_model.layers if layer.name.startswith("trait_")]
    flat = [layer for layer in trait_model.layers if isinstance(layer, tf.keras.layers.Flatten)]
    if not heads or not flat:
        raise ValueError(f"{trait_model.name} has no Flatten layer and trait_* heads: give notebook 03's trait "
                         "classifier")
    if at not in ("shared", "convolutions"):
        raise ValueError(f"cut the trait classifier at 'shared' or 'convolutions', not {at!r}")
    output = heads[0].input if at == "shared" else flat[-1].output
    return tf.keras.Model(trait_model.inputs, output, name=f"trait_{at}_features")


# The trait judge. Its eyes, mouth and stripes are a few pixels at 32 x 32, so it needs what the targets do not: two
# convolutions and batch norm per stage, each stage's global maximum next to the flattened map (so a head can ask "is
# there a fang anywhere?"), and many identities. Measured: on the public split alone (180 identities, 30 portraits
# each) the nets learnt to recognise identities and then recalled their traits (eyes 83 % and mouth 51 % on identities
# seen in training, 40-56 % and 32-42 % on unseen ones); on freshly drawn identities the gap closed. Trained on the eyes and
# mouth alone, with the flattened map only the two heads stayed at chance for 8 epochs; with the global maxima and
# batch norm on the shared layer they reached 96 % and 65 % in 6.

TRAIT_LOSS_WEIGHTS = {"pattern": 3.0, "mouth": 3.0}  # the few-pixel traits, learnt last; others 1


def trait_classifier(input_shape: tuple[int, int, int], trait_sizes: dict[str, int], width: int = 32) -> tf.keras.Model:
    """A shared CNN trunk with one logits head per trait (body, colour, ...); outputs a dict trait -> logits.

    Three stages of two 3 x 3 convolutions with batch norm (``width``, ``2 * width``, ``4 * width`` channels), each
    followed by 2 x 2 max pooling. The heads share one Dense layer with batch norm (``4 * width`` units, the
    ``"shared"`` cut of ``trait_trunk``) that reads the flattened last feature map (the ``"convolutions"`` cut:
    ``(size / 8)^2 * 4 * width`` numbers, 2,048 at 32 x 32 and width 32) and the global maximum of every stage.
    """
    inputs = _trait_input(input_shape, trait_sizes, width)
    L = tf.keras.layers
    x = inputs
    maxima = []
    for multiplier in (1, 2, 4):
        for _ in range(2):
            x = L.Conv2D(width * multiplier, 3, padding="same", use_bias=False)(x)
            x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
        maxima.append(L.GlobalMaxPooling2D()(x))
        x = L.MaxPool2D(2)(x)
    x = L.Concatenate()([L.Flatten()(x), *maxima])
    x = L.Dense(width * 4, use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization(momentum=0.9)(x))
    return _with_trait_heads(inputs, x, trait_sizes, "trait_classifier")


def frechet_trait_classifier(input_shape: tuple[int, int, int], trait_sizes: dict[str, int],
                             width: int = 32) -> tf.keras.Model:
    """The course's first trait classifier (three convolutions, a shared Dense layer, one head per trait), kept
    unchanged as the feature network of every Fréchet distance (``trait_trunk(..., at="shared")``).

    Why a second network: a GAN's Fréchet distance is only comparable with an earlier one in the same features. The
    trait judge (``trait_classifier``) was rebuilt to read eyes and mouths; measuring the priors in its features too
    would move the yardstick with the judge. Its own Fréchet distances are recorded beside, under ``*_judge`` names.
    """
    inputs = _trait_input(input_shape, trait_sizes, width)
    L = tf.keras.layers
    x = inputs
    for multiplier in (1, 2, 4):
        x = L.Conv2D(width * multiplier, 3, padding="same", activation="relu")(x)
        x = L.MaxPool2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(width * 4, activation="relu")(x)
    return _with_trait_heads(inputs, x, trait_sizes, "frechet_trait_classifier")


def _trait_input(input_shape: tuple[int, int, int], trait_sizes: dict[str, int], width: int) -> tf.Tensor:
    if not trait_sizes:
        raise ValueError("trait_sizes must name at least one trait")
    config.require_positive("width", width, integer=True)
    return tf.keras.layers.Input(input_shape)


def _with_trait_heads(inputs: tf.Tensor, x: tf.Tensor, trait_sizes: dict[str, int], name: str) -> tf.keras.Model:
    """One logits head per trait on the shared features ``x``: the model outputs a dict trait -> logits."""
    outputs = {trait_head(t): tf.keras.layers.Dense(n, name=trait_head(t))(x) for t, n in trait_sizes.items()}
    return tf.keras.Model(inputs, outputs, name=name)


def trait_head(trait: str) -> str:
    return "trait_" + trait.replace(" ", "_")


def held_out_identities(labels: np.ndarray, fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """bool per portrait: does its identity belong to the seeded ``fraction`` of identities kept out of training?

    Whole identities are held out (at least one), so the held-out portraits test what the private test portraits
    test: identities the trait classifier never saw.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    labels = np.asarray(labels)
    identities = np.unique(labels)
    if len(identities) < 2:
        raise ValueError("holding out identities needs at least two of them")
    n = min(len(identities) - 1, max(1, int(round(fraction * len(identities)))))
    held = np.random.default_rng(np.random.SeedSequence([seed, 0x7A17])).choice(identities, n, replace=False)
    return np.isin(labels, held)


def fresh_public_portraits(n: int, size: int, seed: int, avoid: np.ndarray | None = None):
    """``n`` portraits of ``n`` public identities drawn afresh (``datamons.public_identities`` with ``seed``): never a
    named Datamon, and, with ``avoid`` (k, n_traits) trait codes, each at least two traits away from every one of
    them, as the named Datamons are from the public ones. Returns ``datamons.Portraits``."""
    from course_lib.data import datamons

    config.require_positive("n", n, integer=True)
    avoid = None if avoid is None or len(avoid) == 0 else np.asarray(avoid)
    draw = n
    while True:  # the filter drops about 1 % per held-out identity group; draw again, larger, in the rare short case
        identities = datamons.public_identities(draw, seed=seed)
        if avoid is not None:
            far = datamons.trait_distances(datamons.trait_codes(identities), avoid).min(axis=1) >= 2
            identities = [i for i, keep in zip(identities, far) if keep]
        if len(identities) >= n:
            return datamons.render(identities[:n], 1, size=size, seed=seed)
        draw = int(draw * 1.2) + 16


def trait_training_data(x: np.ndarray, traits: np.ndarray, *, epochs: int, fresh_per_epoch: int, seed: int,
                        avoid: np.ndarray | None = None):
    """The trait classifier's training portraits, epoch by epoch: ``data(epoch) -> (images, traits)``.

    Epoch ``e`` holds one of ``epochs`` seeded slices of ``x`` (every public portrait is seen once in all) and
    ``fresh_per_epoch`` portraits of public identities rendered for that epoch alone (``fresh_public_portraits``,
    kept two traits away from ``avoid``). The renderer is free, so no identity is seen often enough to be learnt.
    """
    config.require_positive("epochs", epochs, integer=True)
    x, traits = np.asarray(x), np.asarray(traits)
    slices = np.array_split(np.random.default_rng(np.random.SeedSequence([seed, 0x5115])).permutation(len(x)), epochs)
    size = int(x.shape[1])

    def data(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        part = slices[epoch]
        if fresh_per_epoch <= 0:
            return x[part], traits[part]
        epoch_seed = int(np.random.SeedSequence([seed, 0xF4E5, epoch]).generate_state(1)[0])
        new = fresh_public_portraits(fresh_per_epoch, size, seed=epoch_seed, avoid=avoid)
        return np.concatenate([x[part], new.images]), np.concatenate([traits[part], new.traits])

    return data


def train_trait_classifier(
    model: tf.keras.Model,
    data,
    trait_names: list[str],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool = True,
    loss_weights: dict[str, float] | None = None,
    cosine: bool = True,
) -> dict[str, list[float]]:
    """Fit every trait head at once: a weighted sum of cross-entropies (``TRAIT_LOSS_WEIGHTS``, updated by
    ``loss_weights``), Adam with the learning rate on a cosine from ``learning_rate`` down to 1 % of it (constant
    when ``cosine`` is False, as the first trait classifier was trained).

    ``data``: ``(images, traits)`` with traits (n, n_traits) value indices, the same every epoch, or a function
    ``epoch -> (images, traits)`` (``trait_training_data``), called once per epoch.
    """
    from course_lib.progress import bar

    config.require_positive("epochs", epochs, integer=True)
    config.require_positive("batch_size", batch_size, integer=True)
    epoch_data = data if callable(data) else (lambda epoch, fixed=data: fixed)

    def checked(epoch):
        x, traits = epoch_data(epoch)
        traits = np.asarray(traits)
        if traits.shape != (len(x), len(trait_names)):
            raise ValueError(f"traits must have shape ({len(x)}, {len(trait_names)}), got {traits.shape}")
        return np.asarray(x, np.float32), {trait_head(t): traits[:, k] for k, t in enumerate(trait_names)}

    config.seed_everything(seed)
    x, y = checked(0)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    weights = {**TRAIT_LOSS_WEIGHTS, **(loss_weights or {})}
    schedule = tf.keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01) if cosine else learning_rate
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss={trait_head(t): loss for t in trait_names},
                  loss_weights={trait_head(t): float(weights.get(t, 1.0)) for t in trait_names})
    history: dict[str, list[float]] = {}
    epochs_bar = bar(range(epochs), desc=model.name, unit="epoch") if progress else range(epochs)
    for epoch in epochs_bar:
        if epoch:
            x, y = checked(epoch)
        logs = model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=batch_size, shuffle=True,
                         verbose=0).history
        for k, values in logs.items():
            history.setdefault(k, []).extend(float(v) for v in values)
        if progress:
            epochs_bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
    return history


def predict_traits(model: tf.keras.Model, x: np.ndarray, trait_names: list[str], batch_size: int = 256) -> np.ndarray:
    """Most likely value index of each trait: (n, n_traits) int64."""
    out = model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)
    return np.stack([np.argmax(out[trait_head(t)], axis=1) for t in trait_names], axis=1).astype(np.int64)
