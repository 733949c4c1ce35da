"""Fast DP-SGD is right: same clipped sum as a per-example loop, the promised noise, loud failures, seeded training."""
from course_lib.config import ConfigError  # first: course_lib settles the stack before TensorFlow loads
from course_lib.dp import conv_registry, training

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_privacy.privacy.fast_gradient_clipping import clip_grads  # noqa: E402

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
BATCH, CLASSES = 6, 3


def conv_model(kernel, stride, padding, c_in, c_out, use_bias=True, size=9):
    tf.keras.utils.set_random_seed(1)
    return tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(size, size, c_in)),
        tf.keras.layers.Conv2D(c_out, kernel, strides=stride, padding=padding, activation="tanh", use_bias=use_bias),
        tf.keras.layers.Conv2D(2, 2, activation="relu"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(CLASSES),
    ])


def batch(model, n=BATCH, seed=2):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(n, *model.input_shape[1:])).astype(np.float32))
    y = tf.constant(rng.integers(0, CLASSES, n))
    return x, y


def per_example_reference(model, x, y, clip=None, microbatches=None):
    """The slow definition: each example's (or microbatch's) gradient clipped to ``clip``, summed, then averaged."""
    groups = np.split(np.arange(len(y)), microbatches or len(y))
    grads, norms = [], []
    for idx in groups:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(LOSS(tf.gather(y, idx), model(tf.gather(x, idx))))
        g = [tf.convert_to_tensor(t) for t in tape.gradient(loss, model.trainable_variables)]  # Embedding: sparse
        grads.append(g)
        norms.append(float(tf.linalg.global_norm(g)))
    clip = clip if clip is not None else float(np.median(norms))  # about half the examples get clipped
    total = [sum(g[i] * min(1.0, clip / n) for g, n in zip(grads, norms)) for i in range(len(grads[0]))]
    return [t / len(groups) for t in total], clip, norms


def relative_error(got, want):
    return max(float(tf.norm(a - b) / tf.norm(b)) for a, b in zip(got, want))


@pytest.fixture(params=[False, True], ids=["choices-without-onednn", "choices-with-onednn"])
def onednn_choices(request, monkeypatch):
    """The registry's choices for a CPU without oneDNN, then for one with it (patch layout, forward pass on patches).
    Both run on any CPU, so both are checked wherever the tests run, whatever this CPU would choose."""
    monkeypatch.setattr(conv_registry, "onednn_convolutions", lambda: request.param)
    return request.param


@pytest.mark.parametrize("method", ["ghost", "direct"])
@pytest.mark.parametrize("stride, padding", [(1, "same"), (1, "valid"), (2, "same"), (2, "valid")])
@pytest.mark.parametrize("kernel, c_in, c_out", [(1, 1, 2), (3, 3, 4), (5, 2, 3)])
def test_conv2d_fast_clipping_equals_per_example_loop(method, stride, padding, kernel, c_in, c_out, onednn_choices):
    model = conv_model(kernel, stride, padding, c_in, c_out)
    x, y = batch(model)
    want, clip, norms = per_example_reference(model, x, y)
    assert min(norms) < clip < max(norms)
    got, _ = training.clipped_noisy_gradients(
        model, conv_registry.make_registry(method), x, y, LOSS, l2_norm_clip=clip, noise_multiplier=0.0
    )
    assert relative_error(got, want) < 1e-4


@pytest.mark.parametrize("method", ["ghost", "direct"])
def test_conv2d_without_bias_and_dense_only_models(method):
    for model in (conv_model(3, 2, "same", 2, 3, use_bias=False), tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(7,)), tf.keras.layers.Dense(5, activation="relu"),
        tf.keras.layers.Dense(CLASSES)])):
        x, y = batch(model)
        want, clip, _ = per_example_reference(model, x, y)
        got, _ = training.clipped_noisy_gradients(
            model, conv_registry.make_registry(method), x, y, LOSS, l2_norm_clip=clip, noise_multiplier=0.0
        )
        assert relative_error(got, want) < 1e-4


@pytest.mark.parametrize("c_in", [1, 2])
def test_microbatches_clip_each_microbatch(c_in):
    model = conv_model(3, 2, "same", c_in, 3)
    x, y = batch(model)
    want, clip, _ = per_example_reference(model, x, y, microbatches=3)
    got, _ = training.clipped_noisy_gradients(
        model, conv_registry.make_registry(), x, y, LOSS, l2_norm_clip=clip, noise_multiplier=0.0, num_microbatches=3
    )
    assert relative_error(got, want) < 1e-4


def test_tf_privacy_engine_with_course_registry_agrees():
    model = conv_model(5, 2, "same", 1, 4)
    model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch(model)
    want, clip, _ = per_example_reference(model, x, y)
    got, _, _ = clip_grads.compute_clipped_gradients_and_outputs(
        model, clip, conv_registry.make_registry(), x, y, clipping_loss=tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)
    )
    assert relative_error(got, want) < 1e-4


def test_auto_method_picks_the_cheaper_product():
    assert conv_registry.choose_method(positions=196, patch_length=65, channels=16) == "direct"  # tutorial conv 1
    assert conv_registry.choose_method(positions=4, patch_length=257, channels=64) == "ghost"


def test_noise_has_std_noise_multiplier_times_clip():
    """Noisy minus noiseless gradient, times the batch size, is N(0, (sigma C)^2) in every coordinate."""
    model = conv_model(3, 1, "same", 2, 8, size=12)
    x, y = batch(model)
    registry = conv_registry.make_registry()
    sigma, clip = 1.7, 0.3
    tf.random.set_seed(3)
    clean, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=clip, noise_multiplier=0.0)
    noisy, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=clip, noise_multiplier=sigma)
    noise = np.concatenate([((n - c) * BATCH).numpy().ravel() for n, c in zip(noisy, clean)])
    n = noise.size
    assert n > 500
    # n s^2 / sigma^2 is chi-square with n degrees of freedom: mean n, std sqrt(2n); allow 5 std
    statistic = float(np.sum(noise**2) / (sigma * clip) ** 2)
    assert abs(statistic - n) < 5 * np.sqrt(2 * n)
    assert abs(noise.mean()) < 5 * sigma * clip / np.sqrt(n)


def test_unregistered_trainable_layer_fails_loudly():
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(8, 3)),
        tf.keras.layers.Conv1D(4, 3, name="my_conv1d"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(2),
    ])
    with pytest.raises(ConfigError, match=r"my_conv1d \(Conv1D\)"):
        training.make_dp_model(model, l2_norm_clip=1.0, noise_multiplier=1.0)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(noise_multiplier=-0.5), "noise_multiplier"),
        (dict(l2_norm_clip=0.0), "l2_norm_clip"),
        (dict(l2_norm_clip=-1.0), "l2_norm_clip"),
        (dict(num_microbatches=4), "not divisible"),
        (dict(batch_size=0), "batch_size"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(delta=0.5), "delta"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, words):
    x = np.zeros((12, 9, 9, 1), np.float32)
    y = np.zeros(12, np.int64)
    args = dict(noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=6, epochs=1, learning_rate=0.1, seed=0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=words):
        training.train_dp(lambda: conv_model(3, 1, "same", 1, 2), x, y, x, y, **args, progress=False)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_trains_and_same_seed_gives_same_numbers(optimizer):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 9, 9, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)

    def run():
        return training.train_dp(
            lambda: conv_model(3, 2, "same", 1, 4), x, y, x, y, noise_multiplier=2.0, l2_norm_clip=1.0,
            batch_size=16, epochs=2, learning_rate=0.05 if optimizer == "sgd" else 0.01, seed=7,
            optimizer=optimizer, delta=1e-3, progress=False,
        )

    first, second = run(), run()
    assert isinstance(first["model"], training.FastDPModel)
    assert np.isfinite(first["history"]["loss"]).all()
    assert first["epsilon_pld"] < first["epsilon_rdp"]
    for a, b in zip(first["model"].get_weights(), second["model"].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weight_regularisers_still_reach_the_gradient():
    tf.keras.utils.set_random_seed(0)
    base = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(4,)),
        tf.keras.layers.Dense(CLASSES, kernel_regularizer=tf.keras.regularizers.L2(10.0)),
    ])
    model = training.make_dp_model(base, l2_norm_clip=1.0, noise_multiplier=0.0)
    training.compile_classifier(model, tf.keras.optimizers.SGD(0.01))
    before = tf.norm(model.layers[-1].kernel).numpy()
    model.fit(np.zeros((8, 4), np.float32), np.zeros(8, np.int64), batch_size=8, epochs=1, verbose=0)
    # zero inputs: the data gradient of the kernel is 0, so only the L2 penalty can shrink it
    assert tf.norm(model.layers[-1].kernel).numpy() < 0.9 * before


@pytest.mark.parametrize("microbatches", [None, 3])
def test_embedding_models_clip_like_the_loop(microbatches):
    tf.keras.utils.set_random_seed(4)
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=(5,), dtype="int32"),
        tf.keras.layers.Embedding(12, 4),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(CLASSES),
    ])
    rng = np.random.default_rng(5)
    x = tf.constant(rng.integers(0, 12, (BATCH, 5)), tf.int32)
    y = tf.constant(rng.integers(0, CLASSES, BATCH))
    want, clip, _ = per_example_reference(model, x, y, microbatches=microbatches)
    got, _ = training.clipped_noisy_gradients(model, conv_registry.make_registry(), x, y, LOSS, l2_norm_clip=clip,
                                              noise_multiplier=0.0, num_microbatches=microbatches)
    assert relative_error(got, want) < 1e-4


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel, strides, size", [((4, 4), (2, 2), 13), ((2, 4), (2, 2), 9), ((4, 2), (2, 1), 8),
                                                    ((3, 3), (1, 1), 6), ((6, 6), (3, 3), 11)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_block_gram_norms_equal_the_patch_products_and_the_loop(padding, kernel, strides, size, use_bias):
    """The stride-block Gram (no patches) gives the same per-example norms as the patch products and the loop."""
    layer = tf.keras.layers.Conv2D(5, kernel, strides=strides, padding=padding, use_bias=use_bias)
    layer.build((None, size, size, 3))
    assert conv_registry.block_gram_applies(layer)
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(4, size, size, 3)).astype(np.float32))
    out = layer(x)
    g = tf.constant(rng.normal(size=out.shape).astype(np.float32))
    positions = int(out.shape[1]) * int(out.shape[2])
    patches = tf.reshape(conv_registry.image_patches(x, layer), [4, positions, -1])
    want = conv_registry.squared_norms_from_patches(patches, tf.reshape(g, [4, positions, 5]), "direct", bias=use_bias)
    got = conv_registry.block_gram_squared_norms(x, g, layer)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    loop = []
    for i in range(4):
        with tf.GradientTape() as tape:
            z = layer(x[i:i + 1])
        grads = tape.gradient(z, layer.trainable_variables, output_gradients=g[i:i + 1])
        loop.append(sum(float(tf.reduce_sum(t ** 2)) for t in grads))
    np.testing.assert_allclose(got.numpy(), loop, rtol=1e-5)


def test_block_gram_needs_strides_that_divide_the_kernel():
    for kernel, strides, dilation, applies in [(4, 2, 1, True), (3, 2, 1, False), (3, 1, 2, False), (1, 1, 1, True)]:
        layer = tf.keras.layers.Conv2D(2, kernel, strides=strides, dilation_rate=dilation)
        assert conv_registry.block_gram_applies(layer) is applies


def test_tutorial_cnn_runs_every_layer_in_one_pass_and_clips_like_the_loop(onednn_choices):
    """The CNN the course trains: every layer brings its clipped sum (no tape pass), and the result is the loop's."""
    from tensorflow_privacy.privacy.fast_gradient_clipping import gradient_clipping_utils

    from course_lib.models.classifiers import mnist_tutorial_cnn

    tf.keras.utils.set_random_seed(0)
    model = mnist_tutorial_cnn()
    tape = tf.GradientTape(persistent=True)
    generator = clip_grads.get_registry_generator_fn(tape, conv_registry.make_registry(), None)
    with tape:
        _, generated = gradient_clipping_utils.model_forward_pass(model, tf.zeros([2, 28, 28, 1]), generator)
    layers = [item for item in generated if item is not None]
    assert len(layers) == 4 and all(hasattr(fn, conv_registry.CLIPPED_SUM) for _, fn, _ in layers)
    rng = np.random.default_rng(1)
    x = rng.random((12, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 12)
    assert training.fast_vs_loop_error(model, x, y, l2_norm_clip=0.5) < 1e-4


@pytest.mark.parametrize("method", ["direct", "ghost"])
def test_one_pass_sum_with_a_mask_divides_by_the_expected_batch_size(method, onednn_choices):
    """The one-pass clipped sum drops masked rows and divides by q*n, like the loop over the drawn examples."""
    model = conv_model(4, 2, "valid", 2, 3, size=10)
    x, y = batch(model, n=7)
    mask = tf.constant([1, 1, 0, 1, 1, 0, 1], tf.float32)
    got, _ = training.clipped_noisy_gradients(model, conv_registry.make_registry(method), x, y, LOSS,
                                              l2_norm_clip=0.05, noise_multiplier=0.0, expected_batch_size=6.0,
                                              mask=mask)
    keep = np.flatnonzero(mask.numpy())
    want, _, _ = per_example_reference(model, tf.gather(x, keep), tf.gather(y, keep), clip=0.05)
    assert relative_error(got, [w * len(keep) / 6.0 for w in want]) < 1e-4


def test_the_clipped_sum_of_a_strided_1x1_convolution_is_exact_and_avoids_onednns_crashing_kernel(fresh_python):
    """oneDNN's weight gradient of a strided 1x1 convolution with 8 input channels corrupts the heap at batch 5
    (oneDNN issue 6035); the registry's clipped sum subsamples first. In a fresh interpreter: a crash would take
    pytest down with it."""
    code = (
        "import numpy as np, tensorflow as tf\n"
        "from course_lib.dp import conv_registry\n"
        "rng = np.random.default_rng(0)\n"
        "layer = tf.keras.layers.Conv2D(16, 1, strides=2, padding='same'); layer.build((None, 32, 32, 8))\n"
        "x = rng.standard_normal((5, 32, 32, 8)).astype(np.float32)\n"
        "g = rng.standard_normal((5, 16, 16, 16)).astype(np.float32)\n"
        "w = rng.random(5).astype(np.float32)\n"
        "kernel, bias = conv_registry.conv2d_weighted_sum(tf.constant(x), tf.constant(g), layer)(tf.constant(w))\n"
        "expected = np.einsum('nhwi,nhwo->io', x[:, ::2, ::2], g * w[:, None, None, None])\n"
        "np.testing.assert_allclose(kernel.numpy()[0, 0], expected, rtol=1e-4, atol=1e-4)\n"
        "np.testing.assert_allclose(bias.numpy(), (g * w[:, None, None, None]).sum((0, 1, 2)), rtol=1e-4, atol=1e-4)\n"
        "print('exact')\n"
    )
    assert "exact" in fresh_python(code).stdout


def _graph_ops(concrete):
    """Every op of a traced function, including those of the functions it calls (gradients, while bodies)."""
    graph = concrete.graph
    ops = list(graph.get_operations())
    for function in graph._functions.values():  # noqa: SLF001 - the library functions the graph calls
        ops += list(function.graph.get_operations()) if hasattr(function, "graph") else []
    return ops


@pytest.mark.parametrize("method", ["ghost", "direct"])
@pytest.mark.parametrize("microbatches", [None, 2])
def test_the_engine_uses_no_op_that_cpus_without_onednn_lack(method, microbatches, onednn_choices):
    # Where oneDNN is off (CPUs without AVX-512, e.g. an AMD EPYC with AVX2), TensorFlow's depthwise ops refuse
    # unequal strides and the filter- and input-gradient ops refuse dilations: CI on such a machine failed with
    # "Current implementation only supports equal length strides". The traced DP step must use none, on any CPU.
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        L.InputLayer(input_shape=(9, 9, 1)),
        L.Conv2D(3, (4, 2), strides=(2, 1), activation="relu"),  # grey input, unequal strides
        L.Conv2D(1, 3, strides=(1, 2), padding="same", activation="relu"),  # several channels, unequal strides
        L.Conv2D(2, 2, dilation_rate=2, padding="same"),  # dilated, one channel in: the gradient flows through it
        L.GlobalAveragePooling2D(), L.Dense(3)])
    registry = conv_registry.make_registry(method)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    x = tf.random.stateless_normal([4, 9, 9, 1], seed=[1, 2])
    y = tf.constant([0, 1, 2, 0])
    kwargs = {"num_microbatches": microbatches} if microbatches else {}

    @tf.function
    def step(x, y):
        return training.clipped_noisy_gradients(model, registry, x, y, loss, l2_norm_clip=1.0,
                                                noise_multiplier=0.0, **kwargs)[0]

    ops = _graph_ops(step.get_concrete_function(x, y))
    unequal = [op.name for op in ops if op.type.startswith("DepthwiseConv2dNative")
               and op.get_attr("strides")[1] != op.get_attr("strides")[2]]
    dilated = [op.name for op in ops if op.type in ("Conv2DBackpropFilter", "Conv2DBackpropInput")
               and list(op.get_attr("dilations")) != [1] * 4]
    assert not unequal and not dilated, (unequal, dilated)
    assert any(op.type.startswith("Conv2D") for op in ops)  # the walk did see the convolutions
    step(x, y)  # and the step runs here


@pytest.mark.parametrize("kernel, strides, dilation, padding, c_in", [
    ((8, 8), (2, 2), (1, 1), "same", 1), ((4, 4), (2, 2), (1, 1), "valid", 16), ((3, 3), (1, 1), (1, 1), "same", 3),
    ((4, 2), (2, 1), (1, 1), "same", 2), ((3, 3), (2, 2), (1, 1), "same", 3), ((3, 2), (1, 1), (2, 1), "valid", 2),
    ((5, 3), (2, 3), (1, 1), "valid", 1), ((6, 6), (3, 3), (1, 1), "same", 2)])
def test_the_layer_run_on_its_patches_is_the_layer(kernel, strides, dilation, padding, c_in, onednn_choices):
    """Both patch layouts (stride blocks, one-hot) give the layer's own output as one product, and a gradient summed in
    patch order maps back onto the layer's own kernel gradient."""
    layer = tf.keras.layers.Conv2D(4, kernel, strides=strides, dilation_rate=dilation, padding=padding)
    layer.build((None, 11, 10, c_in))
    assert conv_registry.block_gram_applies(layer) == (dilation == (1, 1) and kernel[0] % strides[0] == 0
                                                       and kernel[1] % strides[1] == 0)
    assert conv_registry.patches_from_blocks(layer) == (conv_registry.block_gram_applies(layer) and not onednn_choices)
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(size=(3, 11, 10, c_in)).astype(np.float32))
    want = layer(x)
    patches = conv_registry.flat_patches(x, layer)
    got = conv_registry.conv2d_from_patches(patches, layer, want.shape[1:])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    g = tf.constant(rng.normal(size=want.shape).astype(np.float32))
    with tf.GradientTape() as tape:
        out = layer(x)
    kernel_grad = tape.gradient(out, layer.kernel, output_gradients=g)
    per_example = conv_registry.per_example_kernel_grads(x, g, layer, patches)
    summed = conv_registry.kernel_from_patch_order(tf.reduce_sum(per_example, axis=0), layer)
    np.testing.assert_allclose(summed.numpy(), kernel_grad.numpy(), rtol=1e-4, atol=1e-4)


def test_the_registry_knows_when_tensorflow_turns_onednn_off():
    """``TF_ENABLE_ONEDNN_OPTS=0`` (and a CPU with AVX2 only) turns oneDNN off: the registry must then make the choices
    measured fastest without it. In a fresh interpreter, as the switch is read when TensorFlow starts."""
    import os
    import subprocess
    import sys

    code = "from course_lib.dp import conv_registry; print('onednn', conv_registry.onednn_convolutions())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "onednn False" in done.stdout
