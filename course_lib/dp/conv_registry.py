"""Per-example gradient norms of Conv2D layers without per-example gradients, for TF Privacy's layer registry.

TF Privacy 0.9.0 knows fast ("ghost") gradient norms for Dense and Embedding only; a CNN silently drops to its slow
path (per-example gradients in ``tf.vectorized_map``). This module adds the missing Conv2D registry function, written
by hand because no library ships one for TensorFlow.

The idea: a convolution is a matrix product on image patches. With ``a_t`` the input patch at output position ``t``
(``image_patches``; a constant 1 appended accounts for the bias) and ``g_t`` the loss gradient there,
one example's weight gradient is ``sum_t a_t g_t^T``. Its squared norm can be computed two ways:

* ghost:  ``sum_{t,t'} (a_t . a_t') (g_t . g_t')``  -- about ``T^2 (K + C)`` multiply-adds per example;
* direct: form ``A^T G`` (a ``K x C`` matrix) per example, then its norm  -- about ``T K C``.

(``T`` positions, ``K = kh * kw * c_in (+1)`` patch length, ``C`` output channels.) ``"auto"`` picks the cheaper one
from the layer's static shape, so a large early layer (many positions, few channels) uses the direct product and a
small late layer (few positions, many channels) the ghost identity. A layer that uses the direct product builds its
patches once, in the forward pass, and runs there as one matrix product on them (``conv2d_from_patches``) instead of
its convolution: where TensorFlow runs without oneDNN (CPUs with AVX2 only) the tutorial CNN's first layer then costs
less than its plain forward and weight-gradient passes. Where oneDNN's convolutions run (``onednn_convolutions``:
AVX-512 and newer) they are several times faster, so there the layer keeps its own convolution and its patches come
from one-hot convolutions rather than stride blocks (both measured faster there; the README's benchmark paragraph).

With strides that divide the kernel (the tutorial CNN's second layer: 4x4, stride 2) the ghost product needs no
patches: cut the input into stride blocks (``stride_blocks``), take one Gram matrix of the blocks per example, and
every ``a_t . a_t'`` is a sum of ``(kh / sh) * (kw / sw)`` of its entries (``block_gram_squared_norms``): about half
the multiply-adds of the patch Gram and no patch tensor. The ghost method uses it where it is the cheaper of the two.

The registry function contract (TF Privacy 0.9.0, ``type_aliases.RegistryFunction``): called as
``fn(layer, input_args, input_kwargs, tape, num_microbatches)``, it returns ``(base_vars, outputs, sqr_norm_fn)``:
the pre-activation tensor the tape watches, the layer's real output, and a function mapping the gradient of the summed
loss w.r.t. ``base_vars`` to per-example (or per-microbatch) squared gradient norms of the layer's weights.

The course engine (``training.clipped_noisy_gradients``) also reads an optional attribute of ``sqr_norm_fn``,
``CLIPPED_SUM``: a function of the same gradient returning ``(squared_norms, weighted_sum)``, where
``weighted_sum(row_weights)`` gives ``sum_i row_weights[i] * grad_i`` for each of the layer's trainable weights, in
``layer.trainable_weights`` order. Where the norms come from per-example gradients (the direct product) that sum is
one matrix-vector product instead of the layer's weight-gradient pass; for Dense and ghost-norm Conv2D it is that
pass, called directly on the row-weighted output gradient. TF Privacy ignores the attribute.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Literal, Optional, Sequence

import tensorflow as tf
from tensorflow_privacy.privacy.fast_gradient_clipping import layer_registry as tfp_registry
from tensorflow_privacy.privacy.fast_gradient_clipping.registry_functions import dense as tfp_dense

Method = Literal["auto", "ghost", "direct"]
METHODS: tuple[str, ...] = ("auto", "ghost", "direct")
CLIPPED_SUM = "clipped_sum"  # the optional attribute of a sqr_norm_fn read by the course engine (module docstring)
WeightedSum = Callable[[tf.Tensor], list]


@functools.lru_cache(maxsize=None)
def onednn_convolutions() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process: by default on x86 CPUs with AVX-512 and newer, not
    on CPUs with AVX2 only, nor with ``TF_ENABLE_ONEDNN_OPTS=0``. They make convolutions several times faster, which
    changes what is cheapest here (``patches_from_blocks``, the forward pass on patches).

    TensorFlow has no public query for it; ``_pywrap_util_port.IsMklEnabled`` is what its own test utilities read
    (``test_util.IsMklEnabled``), on TensorFlow 2.15 and 2.21 alike. Without it, the registry makes the choices for a
    CPU without oneDNN.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return False
    return bool(getattr(_pywrap_util_port, "IsMklEnabled", lambda: False)())


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


def equal_strides(layer: tf.keras.layers.Conv2D) -> bool:
    """Whether the layer strides rows and columns alike. TensorFlow's depthwise ops, forward and filter gradient, refuse
    unequal strides on CPUs where oneDNN is off (those without AVX-512, e.g. an AMD EPYC with AVX2: "Current
    implementation only supports equal length strides"), so the functions below avoid them there and everywhere."""
    return layer.strides[0] == layer.strides[1]


def image_patches(inputs: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """The input patch under the kernel at every output position of ``layer``: (n, h_out, w_out, kh * kw * c_in).

    Where ``patches_from_blocks`` the patches are slices of the stride blocks (``block_patches``): memory moves only,
    2-3x faster than the alternative where oneDNN is off, and slower where it is on. Otherwise they are read with
    one-hot convolutions, so padding, strides and dilation are exactly the layer's own (``tf.image.extract_patches``
    measured 3-5x slower on CPU). The order of the patch entries differs from the kernel's, which norms do not see;
    ``kernel_in_patch_order`` and ``kernel_from_patch_order`` translate.
    """
    if patches_from_blocks(layer):
        return block_patches(inputs, layer)
    kh, kw = layer.kernel_size
    c_in = int(inputs.shape[-1])
    strides = [1, *layer.strides, 1]
    padding = layer.padding.upper()
    if c_in == 1 or not equal_strides(layer):
        # a dense one-hot kernel: output channel c * kh * kw + i * kw + j reads input channel c at (i, j), the order
        # of the depthwise filters below. Used for unequal strides too, which the depthwise op lacks without oneDNN.
        kernel = tf.reshape(tf.eye(c_in * kh * kw, dtype=inputs.dtype), [c_in, kh, kw, c_in * kh * kw])
        kernel = tf.transpose(kernel, [1, 2, 0, 3])
        # tf.nn.convolution, as Keras: with dilation its input gradient avoids Conv2DBackpropInput's dilated form,
        # which CPUs without oneDNN lack (the forward pass runs the layer on these patches)
        return tf.nn.convolution(inputs, kernel, strides=layer.strides, padding=padding,
                                 dilations=layer.dilation_rate)
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


def flat_patches(inputs: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """``image_patches`` with the positions flattened: (n, h, w, c_in) -> (n, h_out * w_out, kh * kw * c_in)."""
    patches = image_patches(inputs, layer)
    return tf.reshape(patches, [tf.shape(patches)[0], -1, int(patches.shape[-1])])


def per_example_kernel_grads(inputs: tf.Tensor, grads: tf.Tensor, layer: tf.keras.layers.Conv2D,
                             patches: tf.Tensor | None = None) -> tf.Tensor:
    """Every example's kernel gradient, (n, h, w, c_in), (n, h', w', C) -> (n, C * kh * kw * c_in), in patch order.

    One batched product ``G_i^T A_i`` on the image patches (``flat_patches``, or the ``patches`` the forward pass
    already built); this (C, K) orientation ran as fast as one large matrix product here, (K, C) twice as slow.
    ``kernel_from_patch_order`` turns a weighted sum of rows into the kernel.
    """
    n = tf.shape(grads)[0]
    patches = flat_patches(inputs, layer) if patches is None else patches
    channels = int(grads.shape[-1])
    products = tf.matmul(tf.reshape(grads, [n, -1, channels]), patches, transpose_a=True)
    return tf.reshape(products, [n, channels * int(patches.shape[-1])])


def _kernel_view(layer: tf.keras.layers.Conv2D) -> tuple[list[int], list[int]]:
    """How a patch orders a kernel: the (kh, kw, c_in, C) kernel reshaped to the first list and transposed by the
    second is (patch entries..., C). Stride-block patches run (di, dj, si, sj, c) with row i = di * sh + si;
    one-hot patches run (c, i, j)."""
    kh, kw, c_in, channels = (int(d) for d in layer.kernel.shape)
    if patches_from_blocks(layer):
        (sh, sw) = layer.strides
        return [kh // sh, sh, kw // sw, sw, c_in, channels], [0, 2, 1, 3, 4, 5]
    return [kh, kw, c_in, channels], [2, 0, 1, 3]


def kernel_in_patch_order(layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """The layer's (kh, kw, c_in, C) kernel as a (kh * kw * c_in, C) matrix whose rows follow ``image_patches``."""
    shape, perm = _kernel_view(layer)
    return tf.reshape(tf.transpose(tf.reshape(layer.kernel, shape), perm), [-1, layer.filters])


def conv2d_from_patches(patches: tf.Tensor, layer: tf.keras.layers.Conv2D, out_shape: Sequence[int]) -> tf.Tensor:
    """The layer's pre-activation output as one matrix product on its flat patches (n, T, K) -> (n, h', w', C).

    The same numbers as the layer's convolution (up to float rounding). Where the registry needs the patches anyway
    (the direct product), this replaces the convolution by a product about five times faster on a CPU (the
    tutorial CNN's first layer: 1.4 ms against 7.3 ms at batch 250, AVX2 machine, oneDNN off).
    Where oneDNN's convolutions run (AVX-512) the convolution itself is faster, and the registry keeps it
    (``onednn_convolutions``).
    """
    outputs = tf.matmul(patches, kernel_in_patch_order(layer))
    if layer.use_bias:
        outputs = outputs + layer.bias
    return tf.reshape(outputs, tf.concat([tf.shape(patches)[:1], [int(d) for d in out_shape]], 0))


def kernel_from_patch_order(flat: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """(C * K,) in ``per_example_kernel_grads`` order -> the layer's (kh, kw, c_in, C) kernel layout."""
    shape, perm = _kernel_view(layer)
    patch_shape = [shape[p] for p in perm[:-1]]
    inverse = [perm.index(axis) for axis in range(len(perm))]
    # flat is (C, patch entries...): move C last, undo the view's transpose, then its reshape
    by_patch = tf.transpose(tf.reshape(flat, [layer.filters, *patch_shape]), [*range(1, len(perm)), 0])
    return tf.reshape(tf.transpose(by_patch, inverse), layer.kernel.shape)


def block_gram_applies(layer: tf.keras.layers.Conv2D) -> bool:
    """The stride-block Gram needs no dilation and strides that divide the kernel."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    return tuple(layer.dilation_rate) == (1, 1) and kh % sh == 0 and kw % sw == 0


def patches_from_blocks(layer: tf.keras.layers.Conv2D) -> bool:
    """Whether ``image_patches`` cuts the layer's patches from stride blocks (where the block Gram applies and oneDNN
    is off) rather than reading them with one-hot convolutions (the faster of the two where oneDNN's run)."""
    return block_gram_applies(layer) and not onednn_convolutions()


def _padding_before(size: int, out: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "valid":
        return 0
    return max((out - 1) * stride + kernel - size, 0) // 2  # TensorFlow's 'same': the smaller half before


def stride_blocks(inputs: tf.Tensor, layer: tf.keras.layers.Conv2D, out_h: int, out_w: int) -> tf.Tensor:
    """The padded input cut into stride blocks: (n, out_h + kh/sh - 1, out_w + kw/sw - 1, sh * sw * c_in).

    Block ``(r, c)`` holds the ``sh x sw`` pixels from ``(r * sh, c * sw)`` on, ordered (si, sj, channel) like
    ``space_to_depth``; a reshape and a transpose (``space_to_depth`` itself measured 3x slower here on CPU).
    """
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    height, width, c_in = (int(d) for d in inputs.shape[1:])
    blocks_h, blocks_w = out_h + kh // sh - 1, out_w + kw // sw - 1
    top = _padding_before(height, out_h, kh, sh, layer.padding)
    left = _padding_before(width, out_w, kw, sw, layer.padding)
    bottom, right = blocks_h * sh - top - height, blocks_w * sw - left - width
    x = inputs
    if top or left or bottom > 0 or right > 0:
        x = tf.pad(x, [[0, 0], [top, max(bottom, 0)], [left, max(right, 0)], [0, 0]])
    if bottom < 0 or right < 0:  # rows/columns no window reaches
        x = x[:, :blocks_h * sh, :blocks_w * sw, :]
    if sh == sw == 1:
        return x
    x = tf.transpose(tf.reshape(x, [-1, blocks_h, sh, blocks_w, sw, c_in]), [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, blocks_h, blocks_w, sh * sw * c_in])


def block_patches(inputs: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """Image patches of a layer whose strides divide its kernel: (n, h_out, w_out, kh * kw * c_in).

    The patch at output position ``t`` is the ``kh/sh x kw/sw`` stride blocks from ``t`` on: their concatenation,
    ordered (di, dj, si, sj, channel) (``_kernel_view``).
    """
    out_h, out_w = (int(d) for d in layer.compute_output_shape(inputs.shape)[1:3])
    blocks = stride_blocks(inputs, layer, out_h, out_w)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    shifted = [blocks[:, i:i + out_h, j:j + out_w, :] for i in range(kh // sh) for j in range(kw // sw)]
    return shifted[0] if len(shifted) == 1 else tf.concat(shifted, axis=-1)


def block_gram_squared_norms(inputs: tf.Tensor, grads: tf.Tensor, layer: tf.keras.layers.Conv2D) -> tf.Tensor:
    """Ghost squared norms of a Conv2D whose strides divide its kernel, without image patches: (n,) per example.

    With stride blocks ``b`` (``stride_blocks``), the patch at output position ``t`` is the ``dh x dw`` blocks from
    ``t`` on (``dh = kh / sh``), so ``a_t . a_t' = sum_d B[t + d, t' + d]`` with ``B`` the Gram matrix of one
    example's blocks. Then ``||A^T G||^2 = sum_{t,t'} (a_t . a_t') (g_t . g_t')`` as in the ghost method, plus
    ``||sum_t g_t||^2`` for the bias.
    """
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    n = tf.shape(grads)[0]
    out_h, out_w, channels = (int(d) for d in grads.shape[1:])
    dh, dw = kh // sh, kw // sw
    blocks_h, blocks_w = out_h + dh - 1, out_w + dw - 1
    blocks = tf.reshape(stride_blocks(inputs, layer, out_h, out_w), [n, blocks_h * blocks_w, -1])
    gram = tf.reshape(tf.matmul(blocks, blocks, transpose_b=True), [n, blocks_h, blocks_w, blocks_h, blocks_w])
    aat = tf.add_n([gram[:, i:i + out_h, j:j + out_w, i:i + out_h, j:j + out_w] for i in range(dh) for j in range(dw)])
    g = tf.reshape(grads, [n, out_h * out_w, channels])
    ggt = tf.matmul(g, g, transpose_b=True)
    norms = tf.reduce_sum(tf.reshape(aat, [n, out_h * out_w, out_h * out_w]) * ggt, axis=[1, 2])
    if layer.use_bias:
        norms = norms + tf.reduce_sum(ggt, axis=[1, 2])  # ||sum_t g_t||^2
    return norms


def conv2d_weighted_sum(inputs: tf.Tensor, grads: tf.Tensor, layer: tf.keras.layers.Conv2D) -> WeightedSum:
    """``sum_i w_i * grad_i`` of the layer's weights: its weight-gradient pass on the row-weighted output gradient."""

    x, strides = inputs, [1, *layer.strides, 1]
    if tuple(layer.kernel_size) == (1, 1) and tuple(layer.strides) != (1, 1):
        # a strided 1x1 kernel reads every s-th pixel (no padding either way): take those, then stride 1. oneDNN's
        # weight gradient of a strided 1x1 convolution with few input channels writes past its buffer (oneDNN
        # issue 6035; see targets._residual_block).
        x, strides = inputs[:, ::layer.strides[0], ::layer.strides[1], :], [1, 1, 1, 1]

    dilated = tuple(layer.dilation_rate) != (1, 1)

    def weighted_sum(row_weights: tf.Tensor) -> list:
        scaled = grads * row_weights[:, None, None, None]
        if dilated:
            # the filter-gradient op refuses dilations on CPUs without oneDNN ("Current CPU implementations do not
            # yet support dilation rates larger than 1"): differentiate the forward convolution instead, which
            # tf.nn.convolution (Keras's own op) computes by space-to-batch, as Keras's training does.
            kernel = tf.identity(layer.kernel)
            with tf.GradientTape() as tape:
                tape.watch(kernel)
                outputs = tf.nn.convolution(x, kernel, strides=layer.strides, padding=layer.padding.upper(),
                                            dilations=layer.dilation_rate)
            kernel = tape.gradient(outputs, kernel, output_gradients=scaled)
        else:
            kernel = tf.compat.v1.nn.conv2d_backprop_filter(x, tf.shape(layer.kernel), scaled, strides,
                                                            layer.padding.upper())
        return [kernel, tf.reduce_sum(scaled, axis=[0, 1, 2])] if layer.use_bias else [kernel]

    return weighted_sum


def ghost_costs(positions: int, patch_length: int, channels: int, layer: tf.keras.layers.Conv2D,
                block_positions: int) -> tuple[float, float]:
    """Multiply-add estimates of the patch ghost and the block-Gram ghost (inf where the latter does not apply)."""
    patch = positions * patch_length + positions * positions * (patch_length + channels)
    if not block_gram_applies(layer):
        return patch, float("inf")
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    shifts = (kh // sh) * (kw // sw)
    # a strided slice costs several multiply-adds per element here: the shift sum is weighted by 8
    block = block_positions ** 2 * sh * sw * (patch_length // (kh * kw)) + (8 * shifts + channels) * positions ** 2
    return patch, block


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
        out_shape = [int(d) for d in layer_instance.compute_output_shape(inputs.shape)[1:]]
        kh, kw = layer_instance.kernel_size
        channels = layer_instance.filters
        bias = 1 if layer_instance.use_bias else 0
        patch_length = kh * kw * int(inputs.shape[-1]) + bias
        positions = out_shape[0] * out_shape[1]
        if method != "auto":
            chosen = method
        elif num_microbatches is not None:
            chosen = "direct"  # microbatches multiply the positions per row, which only favours the direct product
        else:
            chosen = choose_method(positions, patch_length, channels)

        forward_patches = None
        if chosen == "direct" and num_microbatches is None and not onednn_convolutions():
            # the direct product needs the patches: build them once and run the layer as a product on them (where
            # oneDNN's convolutions run, the layer's own convolution is faster, and the patches are built below)
            forward_patches = flat_patches(inputs, layer_instance)
            base_vars = conv2d_from_patches(forward_patches, layer_instance, out_shape)
        else:
            activation = layer_instance.activation
            layer_instance.activation = None  # the tape must watch the pre-activation output
            try:
                base_vars = layer_instance(inputs)
            finally:
                layer_instance.activation = activation
        tape.watch(base_vars)
        activation = layer_instance.activation
        outputs = activation(base_vars) if activation is not None else base_vars

        c_in = int(inputs.shape[-1])
        single_channel = c_in == 1 and tuple(layer_instance.dilation_rate) == (1, 1) and equal_strides(layer_instance)
        block_positions = (int(base_vars.shape[1]) + kh // layer_instance.strides[0] - 1) * (
            int(base_vars.shape[2]) + kw // layer_instance.strides[1] - 1)
        patch_cost, block_cost = ghost_costs(positions, patch_length - bias, channels, layer_instance, block_positions)
        block_ghost = chosen == "ghost" and num_microbatches is None and block_cost < patch_cost

        def sqr_norm_fn(base_vars_grads: tf.Tensor) -> tf.Tensor:
            if block_ghost:
                return block_gram_squared_norms(inputs, base_vars_grads, layer_instance)
            if chosen == "direct" and single_channel and forward_patches is None:
                kernel_grads = single_channel_kernel_grads(inputs, base_vars_grads, layer_instance)
                bias_grads = tf.reduce_sum(base_vars_grads, axis=[1, 2])  # (n, C)
                if num_microbatches is not None:
                    kernel_grads = tf.reduce_sum(tf.reshape(kernel_grads, [kh * kw, num_microbatches, -1, channels]), 2)
                    bias_grads = tf.reduce_sum(tf.reshape(bias_grads, [num_microbatches, -1, channels]), 1)
                norms = tf.reduce_sum(tf.square(kernel_grads), axis=[0, 2])
                return norms + tf.reduce_sum(tf.square(bias_grads), axis=1) if bias else norms
            patches = flat_patches(inputs, layer_instance) if forward_patches is None else forward_patches
            batch = tf.shape(patches)[0]
            grads = tf.reshape(base_vars_grads, [batch, positions, channels])
            if num_microbatches is not None:
                # a microbatch's gradient sums over its examples' positions too: merge them into one row
                patches = tf.reshape(patches, [num_microbatches, -1, patch_length - bias])
                grads = tf.reshape(grads, [num_microbatches, -1, channels])
            return squared_norms_from_patches(patches, grads, chosen, bias=bool(bias))

        def clipped_sum(base_vars_grads: tf.Tensor) -> tuple[tf.Tensor, WeightedSum]:
            """Norms and the clipped sum from one set of products (the course engine, no microbatches)."""
            if chosen == "ghost":
                return sqr_norm_fn(base_vars_grads), conv2d_weighted_sum(inputs, base_vars_grads, layer_instance)
            # direct: every example's kernel gradient, so the clipped sum is one matrix-vector product. (For a grey
            # first layer this is also faster per step than the depthwise filter gradient of sqr_norm_fn, whose
            # oneDNN primitive is rebuilt for every new Poisson batch size: about 10 ms each time.)
            kernel_grads = per_example_kernel_grads(inputs, base_vars_grads, layer_instance, forward_patches)
            norms = tf.reduce_sum(tf.square(kernel_grads), axis=1)
            bias_grads = tf.reduce_sum(base_vars_grads, axis=[1, 2]) if bias else None  # (n, C)
            if bias:
                norms = norms + tf.reduce_sum(tf.square(bias_grads), axis=1)

            def weighted_sum(row_weights: tf.Tensor) -> list:
                kernel = kernel_from_patch_order(tf.linalg.matvec(kernel_grads, row_weights, transpose_a=True),
                                                 layer_instance)
                return [kernel, tf.linalg.matvec(bias_grads, row_weights, transpose_a=True)] if bias else [kernel]

            return norms, weighted_sum

        if num_microbatches is None:
            setattr(sqr_norm_fn, CLIPPED_SUM, clipped_sum)
        return base_vars, outputs, sqr_norm_fn

    return conv2d_layer_computation


def dense_layer_computation(
    layer_instance: tf.keras.layers.Dense,
    input_args: Sequence[Any],
    input_kwargs: dict,
    tape: tf.GradientTape,
    num_microbatches: Optional[tf.Tensor] = None,
):
    """TF Privacy's Dense registry function, plus the course engine's ``CLIPPED_SUM`` for a batch of vectors.

    For an input of rank 2 (one vector per example) the squared norm is ``|a_i|^2 |g_i|^2`` (+ ``|g_i|^2`` for the
    bias) and the clipped sum ``a^T (w * g)``: two small products, no tape.
    """
    base_vars, outputs, sqr_norm_fn = tfp_dense.dense_layer_computation(
        layer_instance, input_args, input_kwargs, tape, num_microbatches)
    inputs = input_args[0]
    if num_microbatches is None and inputs.shape.rank == 2:
        use_bias = layer_instance.use_bias

        def clipped_sum(base_vars_grads: tf.Tensor) -> tuple[tf.Tensor, WeightedSum]:
            grad_norms = tf.reduce_sum(tf.square(base_vars_grads), axis=1)
            norms = tf.reduce_sum(tf.square(inputs), axis=1) * grad_norms
            if use_bias:
                norms = norms + grad_norms

            def weighted_sum(row_weights: tf.Tensor) -> list:
                scaled = base_vars_grads * row_weights[:, None]
                kernel = tf.matmul(tf.cast(inputs, scaled.dtype), scaled, transpose_a=True)
                return [kernel, tf.reduce_sum(scaled, axis=0)] if use_bias else [kernel]

            return norms, weighted_sum

        setattr(sqr_norm_fn, CLIPPED_SUM, clipped_sum)
    return base_vars, outputs, sqr_norm_fn


def make_registry(conv_method: Method = "auto") -> tfp_registry.LayerRegistry:
    """TF Privacy's default registry (Dense, Embedding) extended with Conv2D; Dense carries ``CLIPPED_SUM``."""
    registry = tfp_registry.make_default_layer_registry()
    registry.insert(tf.keras.layers.Dense, dense_layer_computation)
    registry.insert(tf.keras.layers.Conv2D, make_conv2d_computation(conv_method))
    return registry


def unregistered_layers(model: tf.keras.Model, registry: tfp_registry.LayerRegistry) -> list[str]:
    """Names (and classes) of the model's trainable layers the registry has no fast function for."""
    return [
        f"{layer.name} ({layer.__class__.__name__})"
        for layer in model.layers
        if layer.trainable_variables and not registry.is_elem(layer)
    ]
