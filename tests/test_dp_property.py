"""Randomized property test of the fast DP-SGD engine against the definition (a per-example loop).

Each seed builds a small random model from the supported layers (Conv2D with random kernels, strides, dilations,
paddings, channel counts and norm method; max/average pooling; Flatten or global pooling; Dense, also on 3-d inputs;
Embedding on integer ids; one in four image models has two parallel conv branches) and a random batch, clips at the
median per-example norm (about half the examples clipped) and checks that

* the course engine's clipped mean gradient (noise 0) equals the loop's within 1e-4 relative, variable by variable;
* the registry's per-example norms equal the loop's within 1e-4 relative;
* every clipped per-example gradient, the true gradient times the engine's clip factor, has norm <= clip (1 + 1e-6).

The seeds are fixed, so the test is deterministic; a failure names the seed and the model.
"""
from course_lib.dp import conv_registry, training  # first: course_lib settles the stack before TensorFlow loads

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_privacy.privacy.fast_gradient_clipping import clip_grads  # noqa: E402

L = tf.keras.layers
LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
CLASSES = 3
SEEDS = range(64)
ACTIVATIONS = ("tanh", "relu", "linear")


def conv_layer(rng: np.random.Generator) -> L.Layer:
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2)) if rng.random() < 0.3 else int(rng.integers(1, 4))
    strides = tuple(int(s) for s in rng.integers(1, 3, 2)) if rng.random() < 0.3 else int(rng.integers(1, 3))
    if np.all(np.asarray(kernel) == 1) and np.ndim(strides) and strides[0] != strides[1]:
        strides = strides[0]  # 1x1 with unequal strides crashes TensorFlow itself: make_dp_model refuses it (scope)
    dilation = 1 if np.max(strides) > 1 else int(rng.integers(1, 3))  # Keras refuses strides > 1 with dilation > 1
    return L.Conv2D(int(rng.integers(1, 5)), kernel, strides=strides, dilation_rate=dilation,
                    padding=str(rng.choice(["same", "valid"])), activation=str(rng.choice(ACTIVATIONS)),
                    use_bias=bool(rng.integers(2)))


def pooling_layer(rng: np.random.Generator) -> L.Layer | None:
    kind = rng.integers(3)
    if kind == 0:
        return None
    pool = L.MaxPooling2D if kind == 1 else L.AveragePooling2D
    return pool(2, strides=int(rng.integers(1, 3)), padding=str(rng.choice(["same", "valid"])))


def head(rng: np.random.Generator, global_pool: L.Layer) -> list[L.Layer]:
    layers = [global_pool if rng.random() < 0.4 else L.Flatten()]
    if rng.random() < 0.5:
        layers.append(L.Dense(int(rng.integers(2, 6)), activation="tanh"))
    return [*layers, L.Dense(CLASSES)]


def conv_stack(rng: np.random.Generator) -> list[L.Layer]:
    layers = []
    for _ in range(int(rng.integers(1, 3))):
        layers.append(conv_layer(rng))
        pool = pooling_layer(rng)
        layers += [pool] if pool is not None else []
    return layers


def image_model(rng: np.random.Generator) -> tf.keras.Model:
    size, channels = int(rng.integers(5, 9)), int(rng.integers(1, 4))
    if rng.random() < 0.25:  # two parallel conv branches, concatenated
        inputs = L.Input((size, size, channels))
        branches = [conv_layer(rng)(inputs), conv_layer(rng)(inputs)]
        if branches[0].shape[1:3] != branches[1].shape[1:3]:
            raise ValueError("branches of different sizes")
        x = L.Concatenate()(branches)
        pool = pooling_layer(rng)
        for layer in ([pool] if pool is not None else []) + head(rng, L.GlobalAveragePooling2D()):
            x = layer(x)
        return tf.keras.Model(inputs, x)
    return tf.keras.Sequential([L.InputLayer(input_shape=(size, size, channels)), *conv_stack(rng),
                                *head(rng, L.GlobalAveragePooling2D())])


def embedding_model(rng: np.random.Generator) -> tf.keras.Model:
    length, vocab = int(rng.integers(1, 6)), int(rng.integers(4, 12))
    layers = [L.InputLayer(input_shape=(length,), dtype="int32"), L.Embedding(vocab, int(rng.integers(2, 5)))]
    if rng.random() < 0.5:
        layers.append(L.Dense(int(rng.integers(2, 5)), activation=str(rng.choice(ACTIVATIONS))))  # per token
    return tf.keras.Sequential([*layers, *head(rng, L.GlobalAveragePooling1D())])


def random_case(seed: int) -> tuple[tf.keras.Model, tf.Tensor, tf.Tensor, str]:
    """A model that builds (random shapes can shrink an image to nothing: draw again), a batch and a conv method."""
    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    build = embedding_model if seed % 4 == 3 else image_model
    for _ in range(50):
        try:
            model = build(rng)
            break
        except ValueError:
            continue
    n = int(rng.integers(4, 7))
    shape = (n, *model.input_shape[1:])
    if model.input.dtype.is_integer:
        x = rng.integers(0, model.layers[0].input_dim, shape).astype(np.int32)
    else:
        x = rng.normal(size=shape).astype(np.float32)
    return model, tf.constant(x), tf.constant(rng.integers(0, CLASSES, n)), str(rng.choice(conv_registry.METHODS))


def per_example_gradients(model, x, y):
    grads = []
    for i in range(len(y)):
        with tf.GradientTape() as tape:
            loss = LOSS(y[i:i + 1], model(x[i:i + 1]))[0]
        grads.append([tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)])
    norms = np.array([float(tf.linalg.global_norm(g)) for g in grads])
    return grads, norms


def describe(model: tf.keras.Model) -> str:
    return " -> ".join(f"{layer.__class__.__name__}{_settings(layer)}" for layer in model.layers)


def _settings(layer: L.Layer) -> str:
    if isinstance(layer, L.Conv2D):
        return (f"(filters={layer.filters}, kernel={layer.kernel_size}, strides={layer.strides}, "
                f"dilation={layer.dilation_rate}, {layer.padding}, bias={layer.use_bias})")
    return ""


@pytest.mark.parametrize("seed", SEEDS)
def test_random_model_clips_like_the_per_example_loop(seed):
    model, x, y, method = random_case(seed)
    registry = conv_registry.make_registry(method)
    grads, norms = per_example_gradients(model, x, y)
    clip = float(np.median(norms))
    factors = np.minimum(1.0, clip / np.maximum(norms, 1e-30))
    want = [sum(f * g[k] for f, g in zip(factors, grads)) / len(y) for k in range(len(grads[0]))]
    got, _ = training.clipped_noisy_gradients(model, registry, x, y, LOSS, l2_norm_clip=clip, noise_multiplier=0.0)
    scale = float(tf.linalg.global_norm(want))
    errors = [float(tf.norm(a - b)) / max(float(tf.norm(b)), 1e-3 * scale) for a, b in zip(got, want)]
    where = f"seed {seed}, method {method}: {describe(model)}"
    assert max(errors) < 1e-4, where

    fast = clip_grads.compute_gradient_norms(model, registry, x, y, per_example_loss_fn=LOSS).numpy()
    assert np.max(np.abs(fast - norms) / np.maximum(norms, 1e-12)) < 1e-4, where
    clipped = norms * np.minimum(1.0, clip / fast)  # the true gradient times the engine's clip factor
    assert np.all(clipped <= clip * (1 + 1e-6)), where
