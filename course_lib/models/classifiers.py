"""Classifiers shared by the notebooks: the TF Privacy tutorial CNN for MNIST and a small CNN for the Datamons.

Every model returns logits (no softmax layer): losses use ``from_logits=True`` and attacks read raw scores.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.progress import keras_progress


def mnist_tutorial_cnn(activation: str = "relu") -> tf.keras.Sequential:
    """The CNN of TF Privacy's MNIST tutorial (REFERENCE.md), input (28, 28, 1), 10 logits.

    ``activation="tanh"`` gives the "tempered sigmoid" variant of Papernot et al. (2020), kinder to DP-SGD.
    """
    if activation not in ("relu", "tanh"):
        raise config.ConfigError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
            tf.keras.layers.Conv2D(16, 8, strides=2, padding="same", activation=activation),
            tf.keras.layers.MaxPool2D(2, 1),
            tf.keras.layers.Conv2D(32, 4, strides=2, padding="valid", activation=activation),
            tf.keras.layers.MaxPool2D(2, 1),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation=activation),
            tf.keras.layers.Dense(10),
        ],
        name=f"mnist_tutorial_cnn_{activation}",
    )


def datamons_cnn(input_shape: tuple[int, int, int], n_classes: int, width: int = 32) -> tf.keras.Sequential:
    """A small CNN (three conv blocks, global pooling) for Datamons portraits; ``width`` scales every layer."""
    config.require_positive("n_classes", n_classes, integer=True)
    config.require_positive("width", width, integer=True)
    layers = [tf.keras.layers.InputLayer(input_shape=input_shape)]
    for multiplier in (1, 2, 4):
        layers += [
            tf.keras.layers.Conv2D(width * multiplier, 3, padding="same", activation="relu"),
            tf.keras.layers.MaxPool2D(2),
        ]
    layers += [
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(width * 4, activation="relu"),
        tf.keras.layers.Dense(n_classes),
    ]
    return tf.keras.Sequential(layers, name="datamons_cnn")


def _optimizer(name: str, learning_rate: float) -> tf.keras.optimizers.Optimizer:
    optimizers = {
        "adam": tf.keras.optimizers.Adam,
        "sgd": tf.keras.optimizers.SGD,
        "rmsprop": tf.keras.optimizers.RMSprop,
    }
    if name not in optimizers:
        raise config.ConfigError(f"optimizer must be one of {', '.join(optimizers)}, got {name!r}")
    return optimizers[name](learning_rate=learning_rate)


def as_images(x: np.ndarray) -> np.ndarray:
    """Add the channel axis to grey images (n, h, w) -> (n, h, w, 1); leave colour images as they are."""
    x = np.asarray(x, dtype=np.float32)
    return x[..., None] if x.ndim == 3 else x


def train_classifier(
    model: tf.keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    optimizer: str = "adam",
    cosine: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Compile and fit ``model`` on integer labels with a cross-entropy on logits; returns the Keras history.

    Seeding here (not only in the notebook) makes each training call reproducible on its own. With ``cosine``, the
    learning rate falls on a cosine to 1 % of ``learning_rate`` by the last step: at a constant rate a ResNet target
    ended its 30th epoch on a loss spike that left it at 54 % test accuracy (100 % two epochs before).
    """
    config.require_positive("epochs", epochs, integer=True)
    config.require_positive("batch_size", batch_size, integer=True)
    config.require_positive("learning_rate", learning_rate)
    x = as_images(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
    config.seed_everything(seed)
    if cosine:
        steps = epochs * -(-len(x) // batch_size)
        learning_rate = tf.keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
    model.compile(
        optimizer=_optimizer(optimizer, learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if validation_data is not None:
        validation_data = (as_images(validation_data[0]), np.asarray(validation_data[1]))
    callbacks = [keras_progress(epochs, model.name)] if progress else []
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def accuracy(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Top-1 accuracy of a logits model."""
    logits = model.predict(as_images(x), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
