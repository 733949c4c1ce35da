"""What differs between the two supported stacks, settled in one place before TensorFlow loads.

The course runs on Python 3.11 + TensorFlow 2.15 (Keras 2 built in) and on Python 3.12 + TensorFlow 2.21, whose
``tf.keras`` is Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` selects the tf-keras package (Keras 2), which TF Privacy
needs. TF Privacy's package ``__init__`` imports its TF1 estimator modules, which fail on TensorFlow >= 2.16; the
flag ``sys.skip_tf_privacy_import`` skips them (and the top-level re-exports with them), so the course imports every
TF Privacy name from its own submodule, on both stacks: one code path. ``course_lib/__init__`` calls ``configure``,
so importing anything from ``course_lib`` first is enough; a notebook that imports TensorFlow before ``course_lib``
on the current stack gets Keras 3, and ``check`` says so in one sentence.
"""
from __future__ import annotations

import os
import sys


def configure() -> None:
    """Choose Keras 2 (tf-keras) on TensorFlow >= 2.16 and skip TF Privacy's TF1 imports; harmless on TF 2.15."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines are noise to a learner
    sys.skip_tf_privacy_import = True


def check() -> None:
    """Stop with one sentence when TensorFlow was imported before ``course_lib`` and chose Keras 3."""
    if not keras_2():
        raise ImportError(
            "tf.keras is Keras 3, but the course needs Keras 2 (tf-keras): import course_lib before TensorFlow "
            "(or set TF_USE_LEGACY_KERAS=1 before Python starts) and restart the kernel"
        )


def keras_2() -> bool:
    """True when ``tf.keras`` is Keras 2 (TF 2.15's own, or tf-keras); Keras 3 has no ``engine`` package."""
    import tensorflow as tf

    return ".engine." in tf.keras.Model.__module__
