"""Fast DP-SGD on TensorFlow Privacy: ``DPModel`` + a layer registry that covers every trainable layer.

TF Privacy's ``DPModel`` clips per example with "ghost" norms when every trainable layer is in its layer registry,
and otherwise falls back, silently, to per-example gradients (``tf.vectorized_map``), 4-13x slower on a CNN. Here
``make_dp_model`` hands it the registry of ``conv_registry`` (Dense, Embedding, Conv2D) and refuses any model with a
layer the registry does not cover, naming it, so the slow path never sneaks in.

Two engines share that registry:

* ``"tf_privacy"``: TF Privacy's own ``DPModel.train_step`` (norm pass, then a second forward and backward pass on the
  re-weighted loss);
* ``"course"`` (default): ``FastDPModel.train_step``, written here because TF Privacy does not offer it: one forward
  pass records every layer's pre-activations, one backward pass gives their gradients, and the registry turns those
  into per-example norms and, where it can from the same products, the clip-weighted sum of the layer's weight
  gradients (Dense, and Conv2D layers whose norms come from per-example kernel gradients); any other layer's weight
  gradient is taken from the same tape with the per-example clip factors folded into its output gradient. One forward
  instead of two.

Both add Gaussian noise of std ``noise_multiplier * l2_norm_clip`` to the sum of clipped gradients and divide by the
batch size (or the number of microbatches). The optimizer is any plain Keras optimizer: SGD gives DP-SGD, Adam DP-Adam.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow_privacy.privacy.fast_gradient_clipping import clip_grads, gradient_clipping_utils
from tensorflow_privacy.privacy.keras_models.dp_keras_model import DPModel

from course_lib import config
from course_lib.config import ConfigError
from course_lib.dp import accounting, scope
from course_lib.dp.conv_registry import CLIPPED_SUM, Method, make_registry
from course_lib.dp.sampling import Sampling, check_sampling
from course_lib.dp.sampling import fit as sampling_fit

ENGINES: tuple[str, ...] = ("course", "tf_privacy")
OPTIMIZERS: dict[str, Callable[..., tf.keras.optimizers.Optimizer]] = {
    "sgd": tf.keras.optimizers.SGD,
    "adam": tf.keras.optimizers.Adam,
    "adagrad": tf.keras.optimizers.Adagrad,
    "rmsprop": tf.keras.optimizers.RMSprop,
}


def validate_dp_params(
    l2_norm_clip: float, noise_multiplier: float, batch_size: int | None = None, num_microbatches: int | None = None
) -> None:
    """Refuse impossible DP-SGD hyperparameters with one clear sentence."""
    if not (isinstance(l2_norm_clip, (int, float, np.floating)) and math.isfinite(l2_norm_clip) and l2_norm_clip > 0):
        raise ConfigError(f"l2_norm_clip must be a finite positive number (the per-example gradient bound), "
                          f"got {l2_norm_clip!r}")
    if not (isinstance(noise_multiplier, (int, float, np.floating)) and math.isfinite(noise_multiplier)
            and noise_multiplier >= 0):
        raise ConfigError(f"noise_multiplier must be a finite number, zero or positive, got {noise_multiplier!r}")
    if batch_size is not None:
        config.require_positive("batch_size", batch_size, integer=True)
    if num_microbatches is not None:
        config.require_positive("num_microbatches", num_microbatches, integer=True)
        if batch_size is not None and batch_size % num_microbatches:
            raise ConfigError(
                f"batch_size {batch_size} is not divisible by num_microbatches {num_microbatches}: "
                "choose a batch size that is a multiple of it"
            )


def clipped_noisy_gradients(
    model: tf.keras.Model,
    registry: Any,
    x: tf.Tensor,
    y: tf.Tensor,
    per_example_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    *,
    l2_norm_clip: float,
    noise_multiplier: float,
    num_microbatches: int | None = None,
    expected_batch_size: float | None = None,
    mask: tf.Tensor | None = None,
) -> tuple[list[tf.Tensor], tf.Tensor]:
    """One forward, one backward: the DP gradient of ``model`` on a batch (mean of clipped + noise) and the logits.

    With Poisson sampling the noisy sum is divided by ``expected_batch_size`` (q*n): the drawn batch size depends on
    who is in the data, so dividing by it would leak (``course_lib.dp.sampling``). ``mask`` (1 = drawn, 0 = padding)
    zeroes a row's clip weight, so a padding row adds exactly nothing to the clipped sum.

    Written by hand (TF Privacy's ``compute_clipped_gradients_and_outputs`` runs the model twice); it reuses TF
    Privacy's forward traversal, registry contract and clip weights. One forward pass records every layer's
    pre-activations; one backward pass gives their gradients ``g``; each layer then turns ``g`` into per-example
    squared norms and, from the same products, the clip-weighted sum of its weight gradients (the registry's
    ``CLIPPED_SUM``; a layer without it, or with microbatches, gets that sum from the tape with the clip factors folded
    into ``g``). The division by the batch size is folded into the clip factors and the noise's standard deviation,
    and the noise of all weights is drawn at once.
    """
    tape = tf.GradientTape(persistent=True, watch_accessed_variables=False)
    generator = clip_grads.get_registry_generator_fn(tape, registry, num_microbatches)
    with tape:
        tape.watch(model.trainable_variables)  # for weight gradients taken from this same tape below
        y_pred, generated = gradient_clipping_utils.model_forward_pass(model, x, generator_fn=generator)
        losses = per_example_loss(y, y_pred)
        if num_microbatches is not None:
            losses = tf.reduce_mean(tf.reshape(losses, [num_microbatches, -1]), axis=1)
        summed_loss = tf.reduce_sum(losses)
    layers = [item for item in generated if item is not None]
    base_vars = [item[0] for item in layers]
    base_grads = tape.gradient(summed_loss, base_vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    squared, weighted_sums = [], []
    for (_, sqr_norm_fn, _), g in zip(layers, base_grads):
        one_pass = getattr(sqr_norm_fn, CLIPPED_SUM, None)
        if one_pass is not None and num_microbatches is None and not isinstance(g, tf.IndexedSlices):
            norms, weighted_sum = one_pass(g)
        else:
            norms, weighted_sum = sqr_norm_fn(g), None
        squared.append(norms)
        weighted_sums.append(weighted_sum)
    clip_weights = clip_grads.compute_clip_weights(l2_norm_clip, tf.sqrt(tf.add_n(squared)))
    if mask is not None:
        clip_weights = clip_weights * tf.cast(tf.reshape(mask, [-1]), clip_weights.dtype)
    if expected_batch_size is not None:
        count = tf.constant(float(expected_batch_size))
    else:
        count = tf.cast(num_microbatches if num_microbatches is not None else tf.shape(y)[0], tf.float32)
    row_weights = clip_weights / count  # the mean's 1/count folded into each row's weight
    if num_microbatches is not None:
        row_weights = tf.repeat(row_weights, tf.shape(y)[0] // num_microbatches)
    by_variable: dict[Any, tf.Tensor] = {}
    for (base, _, weights), g, weighted_sum in zip(layers, base_grads, weighted_sums):
        if weighted_sum is not None:
            grads = weighted_sum(row_weights)
        elif isinstance(g, tf.IndexedSlices):
            # Embedding: TF Privacy's registry watches the table itself; its gradient has one row per looked-up id,
            # in the order of the (batch-major) input ids, so example i owns a contiguous block of rows.
            rows = tf.reshape(g.values, tf.concat([[tf.shape(row_weights)[0], -1], tf.shape(g.values)[1:]], 0))
            values = tf.reshape(rows * row_weights[:, None, None], tf.shape(g.values))
            by_variable[base.ref()] = tf.convert_to_tensor(tf.IndexedSlices(values, g.indices, g.dense_shape))
            continue
        else:
            # The loss of example i depends on its own row of every activation only, so scaling row i of the
            # pre-activation gradient by its weight scales example i's weight gradient: sum_i w_i grad_i.
            scale = tf.reshape(row_weights, tf.concat([[-1], tf.ones([tf.rank(g) - 1], tf.int32)], axis=0))
            grads = tape.gradient(base, weights, output_gradients=scale * g, unconnected_gradients="zero")
        for variable, grad in zip(weights, grads):
            by_variable[variable.ref()] = grad
    del tape
    variables = model.trainable_variables
    summed = [by_variable[v.ref()] for v in variables]
    if noise_multiplier > 0:
        summed = add_gaussian_noise(summed, variables, noise_multiplier * l2_norm_clip / count)
    return summed, y_pred


def add_gaussian_noise(grads: list[tf.Tensor], variables: list[tf.Variable], stddev: Any) -> list[tf.Tensor]:
    """``grads`` plus independent N(0, stddev^2) noise in every coordinate, drawn in one call for all variables.

    TensorFlow's stateless normal sampler (Philox, the same generator as ``tf.random.normal``) runs in parallel and
    took 0.03 ms for the tutorial CNN's 26,474 weights against 0.4 ms for the stateful one here; its seed, two fresh
    integers per step, comes from a stateful op, so the stream follows ``tf.random.set_seed`` as before.
    """
    sizes = [v.shape.num_elements() for v in variables]
    seed = tf.random.uniform([2], minval=-(2**31), maxval=2**31 - 1, dtype=tf.int32)
    noise = tf.random.stateless_normal([sum(sizes)], seed=seed, stddev=stddev)
    return [g + tf.reshape(z, v.shape) for g, z, v in zip(grads, tf.split(noise, sizes), variables)]


class FastDPModel(DPModel):
    """TF Privacy's ``DPModel`` whose train step runs the model once (see ``clipped_noisy_gradients``).

    ``expected_batch_size`` is set by ``train_dp`` for Poisson sampling (None: divide by the drawn batch size).
    """

    expected_batch_size: float | None = None

    def train_step(self, data):
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None and self.expected_batch_size is None:
            raise ConfigError("FastDPModel does not support sample weights: they would change each example's bound")
        per_example = _per_example_loss(self.loss)
        grads, y_pred = clipped_noisy_gradients(
            self,
            self._layer_registry,
            x,
            y,
            per_example,
            l2_norm_clip=self._l2_norm_clip,
            noise_multiplier=self._noise_multiplier,
            num_microbatches=self._num_microbatches,
            expected_batch_size=self.expected_batch_size,
            mask=sample_weight,  # Poisson batches: the 0/1 inclusion mask of course_lib.dp.sampling
        )
        if self.losses:  # weight regularisers do not depend on the data: their gradient needs no clipping or noise
            with tf.GradientTape() as tape:
                regularization = tf.add_n(self.losses)
            extra = tape.gradient(regularization, self.trainable_variables,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [g + r for g, r in zip(grads, extra)]
        self.compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics}


def _per_example_loss(loss: tf.keras.losses.Loss) -> tf.keras.losses.Loss:
    if not isinstance(loss, tf.keras.losses.Loss):
        raise ConfigError("compile a DP model with a tf.keras.losses.Loss object (not a string), e.g. "
                          "SparseCategoricalCrossentropy(from_logits=True)")
    settings = loss.get_config()
    settings["reduction"] = tf.keras.losses.Reduction.NONE
    return loss.__class__.from_config(settings)


def make_dp_model(
    model_or_builder: tf.keras.Model | Callable[[], tf.keras.Model],
    *,
    l2_norm_clip: float,
    noise_multiplier: float,
    num_microbatches: int | None = None,
    engine: str = "course",
    conv_method: Method = "auto",
    registry: Any = None,
) -> DPModel:
    """Wrap a built Keras model (or a builder returning one) as a fast DP model sharing its layers.

    Raises ConfigError, before any training, when fast clipping of the model would not be exact (a shared layer,
    batch statistics, a layer configuration the registry functions do not cover: ``scope``) or a trainable layer has
    no registry function, instead of letting TF Privacy fall back to its slow per-example path.
    """
    validate_dp_params(l2_norm_clip, noise_multiplier, None, num_microbatches)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    base = model_or_builder() if callable(model_or_builder) and not isinstance(model_or_builder, tf.keras.Model) \
        else model_or_builder
    if not isinstance(base, tf.keras.Model):
        raise ConfigError(f"make_dp_model needs a Keras model or a function returning one, got {type(base).__name__}")
    if not base.built or not getattr(base, "inputs", None):
        raise ConfigError(f"model {base.name} has no defined input shape: start it with an InputLayer / Input")
    registry = registry if registry is not None else make_registry(conv_method)
    scope.check_supported(base, registry)  # shared layers, batch mixing, inexact or missing registry functions
    cls = FastDPModel if engine == "course" else DPModel
    dp_model = cls(
        l2_norm_clip=float(l2_norm_clip),
        noise_multiplier=float(noise_multiplier),
        num_microbatches=num_microbatches,
        use_xla=False,  # XLA made the CPU path slower (REFERENCE.md)
        layer_registry=registry,
        inputs=base.inputs,
        outputs=base.outputs,
        name=f"dp_{base.name}",
    )
    if not dp_model._enable_fast_peg_computation:  # pylint: disable=protected-access
        raise ConfigError(f"TF Privacy would use its slow path for {base.name}; build it as a Sequential/functional model")
    return dp_model


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.0) -> tf.keras.optimizers.Optimizer:
    """A plain Keras optimizer; with a DP model, "sgd" is DP-SGD and "adam" DP-Adam."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    config.require_positive("learning_rate", learning_rate)
    if name == "sgd":
        return tf.keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    return OPTIMIZERS[name](learning_rate=learning_rate)


def compile_classifier(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> tf.keras.Model:
    model.compile(
        optimizer=optimizer,
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def make_classifier(
    builder: Callable[[], tf.keras.Model],
    *,
    noise_multiplier: float,
    l2_norm_clip: float,
    batch_size: int,
    learning_rate: float,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    num_microbatches: int | None = None,
    engine: str = "course",
    sampling: Sampling = "poisson",
) -> tf.keras.Model:
    """The compiled model ``train_dp`` trains: DP when ``noise_multiplier`` > 0 (with Poisson sampling its noisy sum
    is divided by the expected batch size), plain otherwise. ``bench/dp_speed.py`` times these very models."""
    private = noise_multiplier > 0
    base = builder()
    model = (
        make_dp_model(base, l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier,
                      num_microbatches=num_microbatches, engine=engine)
        if private else base
    )
    if private and sampling == "poisson":
        model.expected_batch_size = float(batch_size)
    return compile_classifier(model, make_optimizer(optimizer, learning_rate, momentum))


def train_dp(
    builder: Callable[[], tf.keras.Model],
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    noise_multiplier: float,
    l2_norm_clip: float,
    batch_size: int,
    epochs: int,
    learning_rate: float,
    seed: int,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    num_microbatches: int | None = None,
    delta: float = 1e-5,
    engine: str = "course",
    sampling: Sampling = "poisson",
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``builder()`` with DP (or without when ``noise_multiplier`` is 0) and report accuracy, time and epsilon.

    ``noise_multiplier=0`` trains the plain model with the same optimizer and sampling (the non-private baseline,
    epsilon None). ``sampling="poisson"`` (default) draws each example with probability batch_size / n at every step,
    the sampling the tight epsilon assumes; ``"shuffle"`` (fixed shuffled batches) gets the weaker bound that holds
    for it. The epsilon is computed from the steps the optimizer really took.
    """
    validate_dp_params(l2_norm_clip, noise_multiplier, batch_size, num_microbatches)
    check_sampling(sampling)
    if noise_multiplier > 0 and sampling == "poisson" and (engine != "course" or num_microbatches is not None):
        raise ConfigError("Poisson sampling needs the course engine without microbatches: the others divide by the "
                          "drawn batch size, which depends on the data; use sampling='shuffle' with them")
    config.require_positive("epochs", epochs, integer=True)
    x, x_test = _as_images(x), _as_images(x_test)
    y, y_test = np.asarray(y), np.asarray(y_test)
    if len(x) != len(y):
        raise ConfigError(f"x has {len(x)} examples but y has {len(y)} labels")
    if batch_size > len(x):
        raise ConfigError(f"batch_size {batch_size} is larger than the {len(x)} training examples")
    private = noise_multiplier > 0
    if private and not 0 < delta < 1.0 / len(x):
        raise ConfigError(f"delta must be positive and below 1/n = {1.0 / len(x):.2g}, got {delta!r}")
    config.seed_everything(seed)
    model = make_classifier(builder, noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip,
                            batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer, momentum=momentum,
                            num_microbatches=num_microbatches, engine=engine, sampling=sampling)
    callbacks = []
    if progress:
        from course_lib.progress import keras_progress

        label = f"DP sigma={noise_multiplier:g}" if private else "non-private"
        callbacks.append(keras_progress(epochs, label))
    start = time.perf_counter()
    history, steps = sampling_fit(model, x, y, sampling=sampling, batch_size=batch_size, epochs=epochs, seed=seed,
                                  callbacks=callbacks)
    seconds = time.perf_counter() - start
    _, test_acc = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    # several examples per microbatch double the sensitivity under add/remove-one adjacency (TF Privacy's rule)
    grouped = num_microbatches is not None and num_microbatches < batch_size
    eps = accounting.epsilons(noise_multiplier, batch_size, len(x), steps=steps, delta=delta,
                              used_microbatching=grouped, sampling=sampling) if private else None
    return {
        "model": model,
        "test_acc": float(test_acc),
        "train_acc": float(history.history["accuracy"][-1]),
        "seconds": seconds,
        "epsilon_rdp": eps["rdp"] if eps else None,
        "epsilon_pld": eps["pld"] if eps else None,
        "delta": delta if private else None,
        "noise_multiplier": float(noise_multiplier),
        "l2_norm_clip": float(l2_norm_clip),
        "batch_size": batch_size,
        "epochs": epochs,
        "steps": steps,
        "sampling": sampling,
        "optimizer": optimizer,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }


def train_mnist(
    *,
    noise_multiplier: float,
    l2_norm_clip: float = 1.0,
    batch_size: int = 256,
    epochs: int = 1,
    learning_rate: float = 0.25,
    seed: int = 0,
    activation: str = "relu",
    optimizer: str = "sgd",
    momentum: float = 0.0,
    n_train: int | None = None,
    n_test: int | None = None,
    delta: float = 1e-5,
    engine: str = "course",
    sampling: Sampling = "poisson",
    progress: bool = True,
) -> dict[str, Any]:
    """DP (or plain, at noise 0) training of the TF Privacy tutorial CNN on MNIST; one row of the trade-off."""
    from course_lib.data.mnist import load_mnist
    from course_lib.models.classifiers import mnist_tutorial_cnn

    (x, y), (x_test, y_test) = load_mnist()
    if n_train is not None:
        x, y = x[:n_train], y[:n_train]
    if n_test is not None:
        x_test, y_test = x_test[:n_test], y_test[:n_test]
    result = train_dp(
        lambda: mnist_tutorial_cnn(activation), x, y, x_test, y_test,
        noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip, batch_size=batch_size, epochs=epochs,
        learning_rate=learning_rate, seed=seed, optimizer=optimizer, momentum=momentum, delta=delta, engine=engine,
        sampling=sampling, progress=progress,
    )
    result["activation"] = activation
    return result


def tradeoff_row(result: dict[str, Any]) -> dict[str, Any]:
    """The ``tradeoff`` entry of RESULTS.md for one training result."""
    keys = ("noise_multiplier", "epsilon_rdp", "epsilon_pld", "delta", "epochs", "steps", "sampling", "optimizer",
            "test_acc", "seconds", "activation")
    return {k: result.get(k) for k in keys}


def _as_images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[..., None] if x.ndim == 3 else x


def fast_vs_loop_error(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, l2_norm_clip: float) -> float:
    """Relative error between the fast clipped mean gradient and the definition (a per-example loop), noise 0.

    The loop is what DP-SGD means; the fast path must give the same numbers (tests check it for many layer shapes,
    the notebook shows it once on real data).
    """
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    x, y = tf.constant(_as_images(x)), tf.constant(np.asarray(y))
    fast, _ = clipped_noisy_gradients(model, make_registry(), x, y, loss, l2_norm_clip=l2_norm_clip,
                                      noise_multiplier=0.0)
    total = [tf.zeros_like(v) for v in model.trainable_variables]
    for i in range(len(y)):
        with tf.GradientTape() as tape:
            example_loss = loss(y[i:i + 1], model(x[i:i + 1]))[0]
        grads = tape.gradient(example_loss, model.trainable_variables)
        factor = tf.minimum(1.0, l2_norm_clip / tf.linalg.global_norm(grads))
        total = [t + factor * g for t, g in zip(total, grads)]
    slow = [t / len(y) for t in total]
    return max(float(tf.norm(a - b) / tf.norm(b)) for a, b in zip(fast, slow))
