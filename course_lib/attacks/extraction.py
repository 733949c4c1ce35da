"""Model extraction: copy a model you can only query (Tramèr et al. 2016; "knockoff" / distillation attacks).

The attacker holds a pool of unlabelled inputs (data it already has: public digits, say), sends some of them to the
victim's prediction API and trains its own model on the answers. Its success is *fidelity*: how often the copy
agrees with the victim on inputs neither has seen. The query function is an argument, so the same code runs against
a model in memory or against an HTTP service (notebook 04). The training loop is plain Keras ``fit``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from course_lib import config
from course_lib.models import classifiers
from course_lib.progress import bar

OUTPUTS = ("probs", "labels")


def _logits(model: tf.keras.Model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Call the model eagerly in batches: ``predict`` retraces (and warns) for every new query size an API sees."""
    x = classifiers.as_images(x)
    return np.concatenate([model(x[i : i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)])


def model_api(model: tf.keras.Model, output: str = "probs") -> Callable[[np.ndarray], np.ndarray]:
    """The victim seen through a prediction API: x -> class probabilities (n, classes) or top-1 labels (n,)."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")

    def query(x: np.ndarray) -> np.ndarray:
        logits = _logits(model, x)
        probs = tf.nn.softmax(logits).numpy()
        return probs if output == "probs" else np.argmax(probs, axis=1)

    return query


def default_student(input_shape: Sequence[int], n_classes: int) -> tf.keras.Model:
    """The attacker's own architecture, deliberately not the victim's (the attacker does not know it); strided
    convolutions keep it cheap, since the attack trains one copy per query budget."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=tuple(input_shape)),
            tf.keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu"),
            tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(n_classes),
        ],
        name="student",
    )


def collect_answers(
    query: Callable[[np.ndarray], np.ndarray], pool: np.ndarray, n_queries: int, *, chunk: int = 500
) -> np.ndarray:
    """Send the first ``n_queries`` inputs of ``pool`` to ``query`` in chunks (as a client of an API would)."""
    config.require_positive("n_queries", n_queries, integer=True)
    if n_queries > len(pool):
        raise ValueError(f"asked for {n_queries} queries but the attacker's pool holds only {len(pool)} inputs")
    answers = [np.asarray(query(pool[start : min(start + chunk, n_queries)])) for start in range(0, n_queries, chunk)]
    return np.concatenate(answers)


def train_copy(
    x: np.ndarray,
    answers: np.ndarray,
    n_classes: int,
    *,
    steps: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    make_student: Callable[[Sequence[int], int], tf.keras.Model] = default_student,
) -> tf.keras.Model:
    """Fit a fresh student on the victim's answers for a fixed number of optimiser steps (so a small query budget
    is not also a small training budget): soft cross-entropy on probabilities, plain cross-entropy on labels."""
    config.require_positive("steps", steps, integer=True)
    config.require_positive("batch_size", batch_size, integer=True)
    x = classifiers.as_images(x)
    answers = np.asarray(answers)
    soft = answers.ndim == 2
    if soft and answers.shape[1] != n_classes:
        raise ValueError(f"answers have {answers.shape[1]} classes, expected {n_classes}")
    config.seed_everything(seed)
    student = make_student(x.shape[1:], n_classes)
    loss = (
        tf.keras.losses.CategoricalCrossentropy(from_logits=True)
        if soft
        else tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    student.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss)
    targets = answers.astype(np.float32) if soft else answers.astype(np.int64)
    data = (
        tf.data.Dataset.from_tensor_slices((x, targets))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size)
    )
    student.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return student


def fidelity(student: tf.keras.Model, x: np.ndarray, victim_labels: np.ndarray) -> float:
    """Share of inputs on which the copy's top-1 answer equals the victim's."""
    predictions = np.argmax(student.predict(classifiers.as_images(x), batch_size=512, verbose=0), axis=1)
    return float(np.mean(predictions == np.asarray(victim_labels)))


@dataclass
class ExtractionResult:
    """Fidelity of the copy against the number of queries, for one kind of API output."""

    output: str
    points: list[dict[str, float]]  # [{"queries": ..., "fidelity": ...}] as RESULTS.md records them
    student: tf.keras.Model  # the copy trained on the largest budget
    access: dict[str, Any] = field(default_factory=dict)


def extraction_curve(
    query: Callable[[np.ndarray], np.ndarray],
    pool: np.ndarray,
    budgets: Sequence[int],
    *,
    eval_x: np.ndarray,
    eval_victim_labels: np.ndarray,
    n_classes: int = 10,
    steps: int = 500,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    make_student: Callable[[Sequence[int], int], tf.keras.Model] = default_student,
    progress: bool = True,
) -> ExtractionResult:
    """Query the victim on the attacker's ``pool`` once, up to the largest budget, then for each budget train a copy on
    the first ``budget`` answers and measure its fidelity on ``eval_x`` against ``eval_victim_labels`` (the victim's
    top-1 answers there, measured by the course, not paid for by the attacker).

    Whether the API returns probabilities or labels is read from the answers' shape.
    """
    budgets = sorted(int(b) for b in budgets)
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive query counts, got {budgets}")
    if len(eval_x) != len(eval_victim_labels):
        raise ValueError("eval_x and eval_victim_labels must have the same length")
    answers = collect_answers(query, pool, budgets[-1])
    if answers.ndim == 2 and answers.shape[1] == n_classes:
        output = "probs"
    elif answers.ndim == 1:
        output = "labels"
    else:
        raise ValueError(f"the query function must return (n, {n_classes}) probabilities or (n,) labels, "
                         f"got shape {answers.shape}")
    points, student = [], None
    iterator = bar(budgets, desc=f"extraction ({output})") if progress else budgets
    for budget in iterator:
        student = train_copy(
            pool[:budget],
            answers[:budget],
            n_classes,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            make_student=make_student,
        )
        points.append({"queries": budget, "fidelity": fidelity(student, eval_x, eval_victim_labels)})
    access = {
        "architecture": False,
        "weights": False,
        "gradients": False,
        "queries": budgets[-1],
        "data": "unlabelled inputs from the same domain",
    }
    return ExtractionResult(output, points, student, access)
