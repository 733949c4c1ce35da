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
        shortcut = L.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = L.BatchNormalization(momentum=0.9)(shortcut)
    return L.ReLU()(L.Add()([y, shortcut]))


def target_resnet(
    input_shape: tuple[int, int, int], n_classes: int, width: int = 32, blocks_per_stage: int = 2
) -> tf.keras.Model:
    """Deeper target: a small ResNet (stem + 3 stages of residual blocks, 2 blocks each = 14 conv layers)."""
    config.require_positive("n_classes", n_classes, integer=True)
    config.require_positive("width", width, integer=True)
    config.require_positive("blocks_per_stage", blocks_per_stage, integer=True)
    if input_shape[0] >= 64 and width < 12:
        # Measured: training this network on 64 x 64 inputs with 4 or 8 channels kills the Python process inside
        # TensorFlow 2.15's oneDNN kernels ("double free or corruption"); 12 channels and more train fine.
        raise config.ConfigError(f"target_resnet width {width} on {input_shape[0]} x {input_shape[1]} inputs "
                                 "crashes TensorFlow 2.15's oneDNN kernels; use a width of 12 or more")
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


def trait_classifier(input_shape: tuple[int, int, int], trait_sizes: dict[str, int], width: int = 32) -> tf.keras.Model:
    """A shared CNN trunk with one logits head per trait (body, colour, ...); outputs a dict trait -> logits."""
    if not trait_sizes:
        raise ValueError("trait_sizes must name at least one trait")
    config.require_positive("width", width, integer=True)
    L = tf.keras.layers
    inputs = L.Input(input_shape)
    x = inputs
    for multiplier in (1, 2, 4):
        x = L.Conv2D(width * multiplier, 3, padding="same", activation="relu")(x)
        x = L.MaxPool2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(width * 4, activation="relu")(x)
    outputs = {_head(name): L.Dense(n, name=_head(name))(x) for name, n in trait_sizes.items()}
    return tf.keras.Model(inputs, outputs, name="trait_classifier")


def _head(trait: str) -> str:
    return "trait_" + trait.replace(" ", "_")


def train_trait_classifier(
    model: tf.keras.Model,
    x: np.ndarray,
    traits: np.ndarray,
    trait_names: list[str],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Fit every trait head at once (sum of cross-entropies); ``traits`` (n, n_traits) value indices."""
    from course_lib.progress import keras_progress

    config.require_positive("epochs", epochs, integer=True)
    traits = np.asarray(traits)
    if traits.shape != (len(x), len(trait_names)):
        raise ValueError(f"traits must have shape ({len(x)}, {len(trait_names)}), got {traits.shape}")
    config.seed_everything(seed)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss={_head(t): loss for t in trait_names})
    y = {_head(t): traits[:, k] for k, t in enumerate(trait_names)}
    callbacks = [keras_progress(epochs, model.name)] if progress else []
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def predict_traits(model: tf.keras.Model, x: np.ndarray, trait_names: list[str], batch_size: int = 256) -> np.ndarray:
    """Most likely value index of each trait: (n, n_traits) int64."""
    out = model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)
    return np.stack([np.argmax(out[_head(t)], axis=1) for t in trait_names], axis=1).astype(np.int64)
