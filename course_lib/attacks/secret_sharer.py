"""The Secret Sharer (Carlini et al., USENIX Security 2019): does a language model memorise a secret it saw a few times?

We plant a fake social-security number in a synthetic corpus, train a small character-level language model on it
with and without DP-SGD, then ask two questions:

* exposure: how much more likely does the model find the planted secret than random secrets of the same format?
  TF Privacy's ``exposures`` module turns the secret's log-perplexity and those of the references into a number of
  bits (0 = no better than chance, log2 of the secret space = the model picks it out of every possibility);
* extraction: given only the prefix ``my social security number is``, does a beam search over the secret's format
  write the secret out?

The model is Embedding + Flatten + Dense only, on purpose: TF Privacy's fast-clipping layer registry covers exactly
these layers, so DP-SGD costs about twice plain training (an LSTM would fall back to the slow per-example path).
The DP model comes from ``course_lib.dp.training.make_dp_model``, the same builder the rest of notebook 02 uses.
"""
from __future__ import annotations

import math
import string
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_privacy.privacy.privacy_tests.secret_sharer import exposures as tfp_exposures
from tensorflow_privacy.privacy.privacy_tests.secret_sharer.generate_secrets import generate_random_sequences

from course_lib import config
from course_lib.data import text
from course_lib.dp import accounting, sampling

DELTA = 1e-5
# Recommended class-profile values, checked on seeds 0, 1, 2 (issue 3): without DP the secret is extracted (exposure
# 25-27 bits of 26.6), with DP it is not (exposure 1.5-2.7 bits, chance level; epsilon 3.6 at delta 1e-5).
# Four repeats, not twenty: at twenty, DP-SGD (which protects one character window, not a sentence seen 20 times)
# leaked the secret partially (exposure about 12 bits at epsilon 1.2).
DEFAULTS: dict[str, Any] = dict(
    n_sentences=3000,
    canary_repeats=4,
    epochs=10,
    batch_size=256,
    noise_multiplier=0.6,
    l2_norm_clip=1.0,
    learning_rate=2e-3,
    n_references=5000,
)


@dataclass(frozen=True)
class CharModelSpec:
    """Shape of the character-level language model: how many previous characters it reads, how wide it is."""

    context: int = 20
    embedding_dim: int = 16
    hidden: int = 256


def char_language_model(spec: CharModelSpec = CharModelSpec(), *, dp: dict[str, float] | None = None,
                        seed: int = 0) -> tf.keras.Model:
    """Embed the last ``spec.context`` characters, flatten, one hidden Dense layer, logits over the alphabet.

    ``dp={"l2_norm_clip": C, "noise_multiplier": sigma}`` wraps it with ``course_lib.dp.training.make_dp_model`` into
    TF Privacy's ``DPModel`` with the fast-clipping layer registry (per-example gradient norms without per-example
    gradients); ``dp=None`` returns the plain Keras model.
    """
    config.require_positive("context", spec.context, integer=True)
    config.require_positive("embedding_dim", spec.embedding_dim, integer=True)
    config.require_positive("hidden", spec.hidden, integer=True)
    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(spec.context,), dtype="int32"),
        tf.keras.layers.Embedding(len(text.ALPHABET), spec.embedding_dim),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(spec.hidden, activation="relu"),
        tf.keras.layers.Dense(len(text.ALPHABET)),
    ], name="char_lm")
    if dp is None:
        return model
    from course_lib.dp.training import make_dp_model

    # The course's one-pass engine: its Embedding rows are regrouped per example (tests compare it with the loop).
    return make_dp_model(model, l2_norm_clip=dp["l2_norm_clip"], noise_multiplier=dp["noise_multiplier"])


def log_perplexities(model: tf.keras.Model, prefix: str, candidates: list[str], context: int,
                     batch_size: int = 8192) -> np.ndarray:
    """Bits the model needs to write each candidate after ``prefix``: sum over its characters of -log2 p(char).

    Each sentence of the corpus starts on a new line, so the prefix is read after a newline, as in training.
    """
    if not candidates:
        return np.zeros(0)
    length = len(candidates[0])
    if any(len(c) != length for c in candidates):
        raise ValueError("all candidates must have the same length (the same secret format)")
    start = text.encode(text.SEPARATOR + prefix)
    ids = np.stack([np.concatenate([start, text.encode(c)]) for c in candidates])  # (n, len(start) + length)
    pad = np.full((len(candidates), context), text.ALPHABET.index(text.SEPARATOR), dtype=np.int32)
    padded = np.concatenate([pad, ids], axis=1)
    first = context + len(start)  # column of the candidate's first character in ``padded``
    x = np.stack([padded[:, first + j - context:first + j] for j in range(length)], axis=1).reshape(-1, context)
    y = padded[:, first:first + length].reshape(-1)
    log_probs = _log_probs(model, x, batch_size)
    nats = -log_probs[np.arange(len(y)), y].reshape(len(candidates), length).sum(axis=1)
    return nats / math.log(2)


def reference_secrets(canary: text.Canary, n: int, seed: int = 0) -> list[str]:
    """``n`` random secrets of the canary's format, never the canary itself (TF Privacy's generator)."""
    config.require_positive("n_references", n, integer=True)
    space = len(canary.vocab) ** text.placeholder_count(canary.pattern)
    if n >= space:
        raise config.ConfigError(f"n_references ({n}) must be smaller than the secret space ({space})")
    drawn = generate_random_sequences(list(canary.vocab), canary.pattern, n + 1, seed=seed + 1)
    return [s for s in drawn if s != canary.secret][:n]


def exposure(canary_bits: float, reference_bits: np.ndarray, secret_space: int) -> dict[str, float]:
    """Exposure in bits, both ways TF Privacy computes it.

    ``interpolation`` ranks the canary among the references (at most log2 of their number); ``extrapolation`` fits a
    skew-normal to the references and reads the canary's tail probability, so it can rank the canary in the whole
    secret space. We cap it at log2(secret space): rank 1 of every possible secret is the most a secret can be exposed.
    """
    interp = tfp_exposures.compute_exposure_interpolation({"canary": [canary_bits]}, list(reference_bits))
    extra = tfp_exposures.compute_exposure_extrapolation({"canary": [canary_bits]}, list(reference_bits))
    cap = math.log2(secret_space)
    extrapolated = float(np.asarray(extra["canary"]).ravel()[0])
    return {
        "interpolation": float(np.asarray(interp["canary"]).ravel()[0]),
        "extrapolation": min(extrapolated, cap) if math.isfinite(extrapolated) else cap,
        "max": cap,
    }


def beam_decode(model: tf.keras.Model, canary: text.Canary, context: int, beam_width: int = 5) -> str:
    """The most likely secret after the canary's prefix, searched over the secret's format (digits in the slots).

    The attacker knows the format (it is a social-security number) but not the digits, as in the Secret Sharer's
    extraction attack; a beam search keeps the ``beam_width`` best partial secrets at every slot.
    """
    config.require_positive("beam_width", beam_width, integer=True)
    # Which characters each position of the secret may take: its fixed character, or any of the vocabulary.
    choices: list[tuple[str, ...]] = []
    for literal, field, _, _ in string.Formatter().parse(canary.pattern):
        choices.extend((ch,) for ch in literal)
        if field is not None:
            choices.append(tuple(canary.vocab))
    beams: list[tuple[str, float]] = [("", 0.0)]
    start = text.SEPARATOR + canary.prefix
    for options in choices:
        histories = [(start + partial)[-context:].rjust(context, text.SEPARATOR) for partial, _ in beams]
        log_probs = _log_probs(model, np.stack([text.encode(h) for h in histories]))
        idx = [text.ALPHABET.index(ch) for ch in options]
        candidates = [
            (partial + ch, score + float(log_probs[b, i]))
            for b, (partial, score) in enumerate(beams)
            for ch, i in zip(options, idx)
        ]
        beams = sorted(candidates, key=lambda item: -item[1])[:beam_width]
    return beams[0][0]


def train_language_model(
    sentences: list[str],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    dp: dict[str, float] | None = None,
    spec: CharModelSpec = CharModelSpec(),
    optimizer: str = "adam",
    progress: bool = True,
) -> tf.keras.Model:
    """Train the character-level model on ``sentences`` (DP-SGD when ``dp`` holds l2_norm_clip and noise_multiplier)."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        config.require_positive(name, value, integer=True)
    config.require_positive("learning_rate", learning_rate)
    if dp is not None and set(dp) != {"l2_norm_clip", "noise_multiplier"}:
        raise config.ConfigError(f"dp must hold exactly l2_norm_clip and noise_multiplier, got {sorted(dp)}")
    x, y = text.windows(text.encode(text.join(sentences)), spec.context)
    if batch_size > len(y):
        raise config.ConfigError(f"batch_size ({batch_size}) exceeds the {len(y)} training characters")
    model = char_language_model(spec, dp=dp, seed=seed)
    if dp is not None:
        model.expected_batch_size = float(batch_size)  # Poisson sampling: divide by q*n (course_lib.dp.sampling)
    model.compile(
        optimizer=_optimizer(optimizer, learning_rate),
        # A Loss object (not a string): TF Privacy reads its reduction to scale the noise.
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callbacks = []
    if progress:
        from course_lib.progress import keras_progress

        callbacks.append(keras_progress(epochs, "language model, DP-SGD" if dp else "language model, no DP"))
    # Poisson sampling, with or without DP, so the two runs differ only in clipping and noise.
    sampling.fit(model, x, y, sampling="poisson", batch_size=batch_size, epochs=epochs, seed=seed, callbacks=callbacks)
    return model


def secret_windows(sentences: list[str], canary: text.Canary, context: int) -> int:
    """How many training windows (one character and the ``context`` before it) see a character of the secret.

    That is the group the secret's privacy depends on: DP's epsilon is per window, and every window that reads or
    predicts a secret character can carry it.
    """
    corpus = text.join(sentences)
    marked = np.zeros(len(corpus) + context, dtype=bool)
    offset = len(canary.prefix)
    start = corpus.find(canary.sentence)
    while start != -1:
        marked[start + offset:start + offset + len(canary.secret)] = True
        start = corpus.find(canary.sentence, start + 1)
    # window i predicts character i from characters i-context..i-1: it sees the secret if any of i-context..i is marked
    seen = np.convolve(marked[:len(corpus)].astype(int), np.ones(context + 1, dtype=int))[:len(corpus)]
    return int(np.count_nonzero(seen))


def _optimizer(name: str, learning_rate: float) -> tf.keras.optimizers.Optimizer:
    if name == "adam":
        return tf.keras.optimizers.Adam(learning_rate)
    if name == "sgd":
        return tf.keras.optimizers.SGD(learning_rate, momentum=0.9)
    raise config.ConfigError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def perplexity(model: tf.keras.Model, sentences: list[str], context: int) -> float:
    """Per-character perplexity of ``sentences``, exp(mean negative log-likelihood in nats); 1 is perfect."""
    x, y = text.windows(text.encode(text.join(sentences)), context)
    nll = -_log_probs(model, x)[np.arange(len(y)), y]
    return float(np.exp(nll.mean()))


def _log_probs(model: tf.keras.Model, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Log-probabilities of the next character, in chunks (direct calls: ``predict`` costs more on small inputs)."""
    chunks = [tf.nn.log_softmax(model(x[i:i + batch_size], training=False)).numpy()
              for i in range(0, len(x), batch_size)]
    return np.concatenate(chunks).astype(np.float64)


def run_secret_sharer(
    *,
    dp: bool,
    n_sentences: int = DEFAULTS["n_sentences"],
    canary_repeats: int = DEFAULTS["canary_repeats"],
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    noise_multiplier: float = DEFAULTS["noise_multiplier"],
    l2_norm_clip: float = DEFAULTS["l2_norm_clip"],
    learning_rate: float = DEFAULTS["learning_rate"],
    n_references: int = DEFAULTS["n_references"],
    seed: int = 0,
    model_spec: CharModelSpec = CharModelSpec(),
    beam_width: int = 5,
    optimizer: str = "adam",
    progress: bool = True,
) -> dict[str, Any]:
    """Plant a canary, train the language model (DP-SGD when ``dp``), measure exposure and try to extract the secret.

    The same seed gives the same corpus, canary, model and numbers. ``noise_multiplier`` and ``l2_norm_clip`` are
    used only when ``dp``. Returns exposure (extrapolated, bits), exposure_interpolation, exposure_max, extracted,
    decoded, secret, epsilon (per text window, Poisson sampling; None without DP), epsilon_per_secret (the group of
    ``secret_windows`` windows that see the secret, all ``canary_repeats`` copies), steps, delta, train/test
    perplexity, n_train_chars, train_seconds and seconds (the whole run: corpus, training, exposure, extraction).
    """
    config.validate_seed(seed)
    for name, value in (("n_sentences", n_sentences), ("epochs", epochs), ("batch_size", batch_size),
                        ("n_references", n_references)):
        config.require_positive(name, value, integer=True)
    config.require_positive("learning_rate", learning_rate)
    _optimizer(optimizer, learning_rate)  # refuse an unknown optimizer before any training
    if isinstance(canary_repeats, bool) or not isinstance(canary_repeats, (int, np.integer)) or canary_repeats < 1:
        raise config.ConfigError(f"canary_repeats must be a positive integer, got {canary_repeats!r}")
    space = len(text.CANARY_VOCAB) ** text.placeholder_count(text.CANARY_PATTERN)
    if n_references >= space:
        raise config.ConfigError(f"n_references ({n_references}) must be smaller than the secret space ({space})")
    if dp:
        config.require_positive("noise_multiplier", noise_multiplier)
        config.require_positive("l2_norm_clip", l2_norm_clip)
    started = time.perf_counter()

    canary = text.make_canary(seed)
    corpus = text.insert_canary(text.make_corpus(n_sentences, seed), canary, canary_repeats, seed)
    held_out = text.make_corpus(max(n_sentences // 10, 50), seed + 10_000)
    dp_params = {"l2_norm_clip": l2_norm_clip, "noise_multiplier": noise_multiplier} if dp else None
    train_started = time.perf_counter()
    model = train_language_model(corpus, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                 seed=seed, dp=dp_params, spec=model_spec, optimizer=optimizer, progress=progress)
    train_seconds = time.perf_counter() - train_started
    n_train = len(text.join(corpus))  # one training example per character

    references = reference_secrets(canary, n_references, seed)
    bits = log_perplexities(model, canary.prefix, [canary.secret] + references, model_spec.context)
    exp = exposure(float(bits[0]), bits[1:], space)
    decoded = beam_decode(model, canary, model_spec.context, beam_width)
    steps = int(model.optimizer.iterations.numpy())
    group = secret_windows(corpus, canary, model_spec.context)
    eps = (accounting.epsilon(noise_multiplier, batch_size, n_train, steps=steps, delta=DELTA, accountant="pld")
           if dp else None)
    eps_secret = (accounting.group_epsilon(noise_multiplier, batch_size, n_train, group, steps=steps, delta=DELTA)
                  if dp else None)
    return {
        "dp": bool(dp),
        "exposure": exp["extrapolation"],
        "exposure_interpolation": exp["interpolation"],
        "exposure_max": exp["max"],
        "canary_log_perplexity": float(bits[0]),
        "reference_log_perplexity_median": float(np.median(bits[1:])),
        "extracted": decoded == canary.secret,
        "decoded": decoded,
        "secret": canary.secret,
        "epsilon": eps,
        "epsilon_per_secret": eps_secret,
        "secret_windows": group,
        "canary_repeats": int(canary_repeats),
        "steps": steps,
        "sampling": "poisson",
        "delta": DELTA if dp else None,
        "train_perplexity": perplexity(model, corpus, model_spec.context),
        "test_perplexity": perplexity(model, held_out, model_spec.context),
        "n_train_chars": n_train,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - started,
    }
