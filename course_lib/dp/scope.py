"""Which Keras models the fast DP-SGD engines clip exactly, refused up front (before any training) otherwise.

Both engines of ``training`` walk the model's graph the way TF Privacy does (one registry function per layer call)
and add up per-layer squared norms into each example's gradient norm. That equals the norm of the example's gradient,
and clipping then bounds each example's influence, only when every trainable weight is used by exactly one call, no
layer mixes examples of a batch, and every registry function is exact for the layer as configured. Each rule below
was measured against the per-example loop (the definition of DP-SGD) on a 6-example batch:

* a layer called twice (tied weights): gradient 6-22 % off, clipped norms above the clip (the course engine keeps
  one call's weight gradient, both engines sum squared norms per call instead of the norm of the sum);
* BatchNormalization in training mode: normalises with batch statistics, so one example moves the others' gradients;
  frozen (``trainable=False``, moving statistics) it matched to 2e-7;
* Embedding with ``mask_zero=True``: TF Privacy's Embedding function returns the output without its mask, so the
  layers after it compute another model (57 % off with a masked average);
* Conv2D with ``groups > 1`` or channels-first: the course's Conv2D function does not cover them (it failed inside
  ``fit`` with a long traceback);
* a model nested in the model: TF Privacy checks top-level layers only and would fall back to its slow path.

One more refusal is not about DP: a Conv2D with a 1x1 kernel and unequal strides, e.g. (1, 2), made TensorFlow 2.15
and 2.21 abort on a CPU where oneDNN is on, one with AVX-512 (heap corruption in the oneDNN convolution gradient,
plain Keras training too; fine with TF_ENABLE_ONEDNN_OPTS=0). ``tests/test_dp_property.py`` found it; a refusal
beats a dead notebook kernel. It is one face of oneDNN issue 6035 (the weight gradient of a strided 1x1 convolution
with fewer input channels than the kernel's vector block writes past its buffer); with equal strides the course's
clipped sum avoids that kernel (``conv_registry.conv2d_weighted_sum``) and ``targets.target_resnet`` builds its shortcut without it.

Exact and accepted (measured within 1e-6): Dense on inputs of any rank (TF Privacy's einsum form), Embedding ids of
rank 1 to 3, parallel branches, frozen BatchNormalization, LayerNormalization without weights; Conv2D strides,
dilations, paddings and poolings are covered by ``tests/test_dp_property.py``. A custom layer (``Lambda``) that
averages over the batch cannot be recognised from outside and stays the user's responsibility.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import tensorflow as tf

from course_lib.config import ConfigError
from course_lib.dp.conv_registry import unregistered_layers


def check_supported(model: tf.keras.Model, registry: Any) -> None:
    """Raise ConfigError (one sentence naming the layer and what to do) unless fast clipping of ``model`` is exact."""
    calls = _layer_calls(model)
    for check in (_nested_model, _shared_layer, _shared_weight):
        message = check(model, calls)
        if message:
            raise ConfigError(message)
    for layer in dict.fromkeys(calls):  # each layer once, in graph order
        for rule in _LAYER_RULES:
            message = rule(layer)
            if message:
                raise ConfigError(message)
    missing = unregistered_layers(model, registry)
    if missing:
        raise ConfigError(
            f"no fast-clipping registry function for trainable layer(s) {', '.join(missing)}: TF Privacy would "
            "silently fall back to slow per-example gradients; add one to course_lib.dp.conv_registry"
        )


def _layer_calls(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The layer of every call in the model's graph, one entry per call (TF Privacy's traversal visits the same)."""
    nodes = getattr(model, "_nodes_by_depth", {})  # pylint: disable=protected-access
    return [node.layer for depth in sorted(nodes, reverse=True) for node in nodes[depth] if not node.is_input]


def _describe(layer: tf.keras.layers.Layer) -> str:
    return f"layer {layer.name} ({layer.__class__.__name__})"


def _nested_model(model: tf.keras.Model, calls: list[tf.keras.layers.Layer]) -> str | None:
    for layer in calls:
        if isinstance(layer, tf.keras.Model) and layer.trainable_variables:
            return (f"{_describe(layer)} is a model inside {model.name}: TF Privacy's fast path checks only top-level "
                    "layers and would fall back to slow per-example gradients, so build one flat model of its layers")
    return None


def _shared_layer(model: tf.keras.Model, calls: list[tf.keras.layers.Layer]) -> str | None:
    counts = Counter(id(layer) for layer in calls)
    for layer in calls:
        if layer.trainable_variables and counts[id(layer)] > 1:
            return (f"{_describe(layer)} is called {counts[id(layer)]} times in {model.name} (shared weights): "
                    "fast clipping would bound each call's gradient separately instead of their sum, which breaks "
                    "the per-example bound, so give each call its own layer")
    return None


def _shared_weight(model: tf.keras.Model, calls: list[tf.keras.layers.Layer]) -> str | None:
    owner: dict[Any, tf.keras.layers.Layer] = {}
    for layer in dict.fromkeys(calls):
        for variable in layer.trainable_variables:
            first = owner.setdefault(variable.ref(), layer)
            if first is not layer:
                return (f"{_describe(first)} and {_describe(layer)} share the weight {variable.name} in {model.name}: "
                        "fast clipping would bound each layer's gradient separately instead of their sum, so give "
                        "each layer its own weights")
    return None


def _batch_normalization(layer: tf.keras.layers.Layer) -> str | None:
    if isinstance(layer, tf.keras.layers.BatchNormalization) and layer.trainable:
        return (f"{_describe(layer)} normalises with the statistics of the whole batch during training, so one "
                "example changes the others' gradients and per-example clipping no longer bounds its influence: "
                "freeze it (layer.trainable = False uses its moving statistics) or remove it")
    return None


def _conv2d(layer: tf.keras.layers.Layer) -> str | None:
    if not isinstance(layer, tf.keras.layers.Conv2D):
        return None
    if getattr(layer, "groups", 1) != 1:
        return (f"{_describe(layer)} has groups={layer.groups}, but the fast Conv2D clipping covers groups=1 only: "
                "build it with groups=1 (or one Conv2D per group)")
    if layer.data_format != "channels_last":
        return (f"{_describe(layer)} has data_format={layer.data_format!r}, but the fast Conv2D clipping reads "
                "channels last: build it with data_format='channels_last'")
    if tuple(layer.kernel_size) == (1, 1) and layer.strides[0] != layer.strides[1]:
        return (f"{_describe(layer)} has a 1x1 kernel with unequal strides {tuple(layer.strides)}, whose gradient "
                "corrupts memory in TensorFlow's CPU (oneDNN) convolution and kills the process (TF 2.15 and 2.21, "
                "with or without DP): use equal strides or a larger kernel")
    return None


def _embedding(layer: tf.keras.layers.Layer) -> str | None:
    if not isinstance(layer, tf.keras.layers.Embedding):
        return None
    if getattr(layer, "mask_zero", False):
        return (f"{_describe(layer)} has mask_zero=True, but TF Privacy's fast Embedding clipping returns its output "
                "without the mask, so the layers after it would train a different model: build it without mask_zero")
    if getattr(layer, "sparse", False):
        return f"{_describe(layer)} has sparse=True, which TF Privacy's fast Embedding clipping refuses: build it dense"
    return None


_LAYER_RULES: tuple[Callable[[tf.keras.layers.Layer], str | None], ...] = (_batch_normalization, _conv2d, _embedding)

