"""Per-example gradient norms of Conv2D layers without per-example gradients, for TF Privacy's layer registry.

TF Privacy 0.9.0 knows fast ("ghost") gradient norms for Dense and Embedding only; a CNN silently drops to its slow
path (per-example gradients in ``tf.vectorized_map``). This module adds the missing Conv2D registry function, written
by hand because no library ships one for TensorFlow.

The idea: a convolution is a matrix product on image patches. With ``a_t`` the input patch at output position ``t``
(read with one-hot convolutions; a constant 1 appended accounts for the bias) and ``g_t`` the loss gradient there,
one example's weight gradient is ``sum_t a_t g_t^T``. Its squared norm can be computed two ways:

* ghost:  ``sum_{t,t'} (a_t . a_t') (g_t . g_t')``  -- about ``T^2 (K + C)`` multiply-adds per example;
* direct: form ``A^T G`` (a ``K x C`` matrix) per example, then its norm  -- about ``T K C``.

(``T`` positions, ``K = kh * kw * c_in (+1)`` patch length, ``C`` output channels.) ``"auto"`` picks the cheaper one
from the layer's static shape, so a large early layer (many positions, few channels) uses the direct product and a
small late layer (few positions, many channels) the ghost identity. For a one-channel input (a grey image's first
layer) the direct product skips the patches: one depthwise filter-gradient op gives every example's kernel gradient.

The registry function contract (TF Privacy 0.9.0, ``type_aliases.RegistryFunction``): called as
``fn(layer, input_args, input_kwargs, tape, num_microbatches)``, it returns ``(base_vars, outputs, sqr_norm_fn)``:
the pre-activation tensor the tape watches, the layer's real output, and a function mapping the gradient of the summed
loss w.r.t. ``base_vars`` to per-example (or per-microbatch) squared gradient norms of the layer's weights.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional, Sequence

import tensorflow as tf
from tensorflow_privacy.privacy.fast_gradient_clipping import layer_registry as tfp_registry

Method = Literal["auto", "ghost", "direct"]
METHODS: tuple[str, ...] = ("auto", "ghost", "direct")


def choose_method(positions: int, patch_length: int, channels: int) -> str:
    """The cheaper of the two norm computations by a multiply-add estimate (see the module docstring)."""
    ghost = positions * positions * (patch_length + channels)
    direct = positions * patch_length * channels
    return "ghost" if ghost < direct else "direct"


def squared_norms_from_patches(patches: tf.Tensor, grads: tf.Tensor, method: str, bias: bool = False) -> tf.Tensor:
    """Squared Frobenius norms of ``[patches[i], 1]^T grads[i]`` per row ``i``: (n, T, K), (n, T, C) -> (n,).

    With ``bias`` the patches are read as extended by a constant 1 (the bias gradient is ``sum_t g_t``), without
    building the extended tensor.
    """
    if method == "ghost":
        aat = tf.matmul(patches, patches, transpose_b=True)
        if bias:
            aat = aat + 1.0
        ggt = tf.matmul(grads, grads, transpose_b=True)
        return tf.reduce_sum(aat * ggt, axis=[1, 2])
    if method == "direct":
        per_example = tf.matmul(patches, grads, transpose_a=True)
        norms = tf.reduce_sum(tf.square(per_example), axis=[1, 2])
        if bias:
            norms = norms + tf.reduce_sum(tf.square(tf.reduce_sum(grads, axis=1)), axis=1)
        return norms
    raise ValueError(f"method must be 'ghost' or 'direct', got {method!r}")


def image_patches(inputs: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """The input patch under the kernel at every output position of ``layer``: (n, h_out, w_out, kh * kw * c_in).

    Extracted as a convolution with one-hot kernels, so padding and strides are exactly the layer's own and the work
    runs in the fast convolution kernels (``tf.image.extract_patches`` measured 3-5x slower here on CPU). The order
    of the patch entries differs from the kernel's, which norms do not see.
    """
    kh, kw = layer.kernel_size
    c_in = int(inputs.shape[-1])
    strides = [1, *layer.strides, 1]
    padding = layer.padding.upper()
    if c_in == 1:
        kernel = tf.reshape(tf.eye(kh * kw, dtype=inputs.dtype), [kh, kw, 1, kh * kw])
        return tf.nn.conv2d(inputs, kernel, strides, padding, dilations=[1, *layer.dilation_rate, 1])
    # depthwise: each input channel gets its own kh*kw one-hot filters (a dense one-hot kernel would cost c_in x more)
    kernel = tf.tile(tf.reshape(tf.eye(kh * kw, dtype=inputs.dtype), [kh, kw, 1, kh * kw]), [1, 1, c_in, 1])
    return tf.nn.depthwise_conv2d(inputs, kernel, strides, padding, dilations=layer.dilation_rate)


def single_channel_kernel_grads(inputs: tf.Tensor, grads: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """Each example's kernel gradient for a one-channel input: (n, h, w, 1), (n, h', w', C) -> (kh * kw, n, C).

    The direct product without patches: one depthwise filter-gradient op that reads the batch as channels
    (example b's input is channel b, its output gradients channels b*C .. b*C + C - 1). For the first layer of an
    image model (grey input, many positions) this measured about twice as fast as building the patches.
    """
    kh, kw = layer.kernel_size
    channels = int(grads.shape[-1])
    n = tf.shape(inputs)[0]
    as_channels = tf.transpose(inputs, [3, 1, 2, 0])  # (1, h, w, n)
    out_grads = tf.transpose(grads, [1, 2, 0, 3])  # (h', w', n, C)
    out_grads = tf.reshape(out_grads, tf.stack([1, tf.shape(grads)[1], tf.shape(grads)[2], n * channels]))
    kernel_grads = tf.nn.depthwise_conv2d_backprop_filter(
        as_channels, tf.stack([kh, kw, n, channels]), out_grads, [1, *layer.strides, 1], layer.padding.upper()
    )
    return tf.reshape(kernel_grads, tf.stack([kh * kw, n, channels]))


def _check_conv2d(layer: tf.keras.layers.Conv2D) -> None:
    if layer.data_format != "channels_last":
        raise ValueError(f"fast clipping of {layer.name} needs data_format='channels_last', got {layer.data_format!r}")
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"fast clipping of {layer.name} does not support grouped convolutions (groups={layer.groups})")
    if layer.padding not in ("same", "valid"):
        raise ValueError(f"fast clipping of {layer.name} supports padding 'same' or 'valid', got {layer.padding!r}")


def make_conv2d_computation(method: Method = "auto") -> Callable[..., Any]:
    """A TF Privacy registry function for ``tf.keras.layers.Conv2D`` using ``method`` for the norms."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")

    def conv2d_layer_computation(
        layer_instance: tf.keras.layers.Conv2D,
        input_args: Sequence[Any],
        input_kwargs: dict,
        tape: tf.GradientTape,
        num_microbatches: Optional[tf.Tensor] = None,
    ):
        if input_kwargs:
            raise ValueError("Conv2D layer calls should not receive kwargs.")
        if len(input_args) != 1:
            raise ValueError("Only Conv2D inputs of length 1 are permitted.")
        _check_conv2d(layer_instance)
        inputs = input_args[0]
        activation = layer_instance.activation
        layer_instance.activation = None  # the tape must watch the pre-activation output
        try:
            base_vars = layer_instance(inputs)
        finally:
            layer_instance.activation = activation
        tape.watch(base_vars)
        outputs = activation(base_vars) if activation is not None else base_vars

        kh, kw = layer_instance.kernel_size
        channels = layer_instance.filters
        bias = 1 if layer_instance.use_bias else 0
        patch_length = kh * kw * int(inputs.shape[-1]) + bias
        positions = int(base_vars.shape[1]) * int(base_vars.shape[2])
        if method != "auto":
            chosen = method
        elif num_microbatches is not None:
            chosen = "direct"  # microbatches multiply the positions per row, which only favours the direct product
        else:
            chosen = choose_method(positions, patch_length, channels)

        single_channel = int(inputs.shape[-1]) == 1 and tuple(layer_instance.dilation_rate) == (1, 1)

        def sqr_norm_fn(base_vars_grads: tf.Tensor) -> tf.Tensor:
            if chosen == "direct" and single_channel:
                kernel_grads = single_channel_kernel_grads(inputs, base_vars_grads, layer_instance)
                bias_grads = tf.reduce_sum(base_vars_grads, axis=[1, 2])  # (n, C)
                if num_microbatches is not None:
                    kernel_grads = tf.reduce_sum(tf.reshape(kernel_grads, [kh * kw, num_microbatches, -1, channels]), 2)
                    bias_grads = tf.reduce_sum(tf.reshape(bias_grads, [num_microbatches, -1, channels]), 1)
                norms = tf.reduce_sum(tf.square(kernel_grads), axis=[0, 2])
                return norms + tf.reduce_sum(tf.square(bias_grads), axis=1) if bias else norms
            patches = image_patches(inputs, layer_instance)
            batch = tf.shape(patches)[0]
            patches = tf.reshape(patches, [batch, positions, patch_length - bias])
            grads = tf.reshape(base_vars_grads, [batch, positions, channels])
            if num_microbatches is not None:
                # a microbatch's gradient sums over its examples' positions too: merge them into one row
                patches = tf.reshape(patches, [num_microbatches, -1, patch_length - bias])
                grads = tf.reshape(grads, [num_microbatches, -1, channels])
            return squared_norms_from_patches(patches, grads, chosen, bias=bool(bias))

        return base_vars, outputs, sqr_norm_fn

    return conv2d_layer_computation


def make_registry(conv_method: Method = "auto") -> tfp_registry.LayerRegistry:
    """TF Privacy's default registry (Dense, Embedding) extended with Conv2D."""
    registry = tfp_registry.make_default_layer_registry()
    registry.insert(tf.keras.layers.Conv2D, make_conv2d_computation(conv_method))
    return registry


def unregistered_layers(model: tf.keras.Model, registry: tfp_registry.LayerRegistry) -> list[str]:
    """Names (and classes) of the model's trainable layers the registry has no fast function for."""
    return [
        f"{layer.name} ({layer.__class__.__name__})"
        for layer in model.layers
        if layer.trainable_variables and not registry.is_elem(layer)
    ]
