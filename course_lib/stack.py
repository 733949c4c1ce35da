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

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

# Lines TensorFlow's native code writes to stderr on a machine without an NVIDIA GPU, none of them a fault: CUDA
# plug-ins registered twice, missing TensorRT and CUDA drivers, oneDNN and CPU-instruction notes, absl's note on early
# logging. A newcomer reads them as errors. They are dropped only while TensorFlow loads; anything else passes.
HARMLESS_ALWAYS = tuple(re.compile(p) for p in (
    rb"oneDNN custom operations are on",
    rb"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    rb"This TensorFlow binary is optimized to use available CPU instructions",
    rb"To enable the following instructions: .* rebuild TensorFlow",
))
HARMLESS_WITHOUT_GPU = HARMLESS_ALWAYS + tuple(re.compile(p) for p in (
    rb"Unable to register cu(DNN|FFT|BLAS) factory",
    rb"TF-TRT Warning: Could not find TensorRT",
    rb"Could not find cuda drivers on your machine",
    rb"failed call to cuInit",
))


def configure() -> None:
    """Choose Keras 2 (tf-keras) on TensorFlow >= 2.16 and skip TF Privacy's TF1 imports; harmless on TF 2.15.

    Also quiets what is harmless at its source: TensorFlow's C++ log lines (``native_log_level``),
    the native lines listed above while TensorFlow loads (``quiet_tensorflow_import``), and google-api-core's notice
    about Python versions (a dependency of TF Privacy's tools, not of anything the course runs).
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", native_log_level())
    sys.skip_tf_privacy_import = True
    warnings.filterwarnings("ignore", message=r"You are using a Python version .* Google will stop supporting",
                            category=FutureWarning)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def native_log_level() -> str:
    """TensorFlow's C++ log threshold: "2" (errors only) on TF 2.15; "3" (none) from TF 2.16, whose tf-keras input
    pipelines log a spurious ERROR line per training call ("NodeDef mentions attribute use_unbounded_threadpool which
    is not in the op definition ... Unknown attributes will be ignored"). Real failures still raise Python errors;
    setting TF_CPP_MIN_LOG_LEVEL yourself wins."""
    from importlib import metadata

    try:
        major, minor = (int(p) for p in metadata.version("tensorflow").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return "2"
    return "3" if (major, minor) >= (2, 16) else "2"


def nvidia_device_present() -> bool:
    """An NVIDIA driver or device node: then CUDA messages may be real faults and stay visible."""
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()


@contextlib.contextmanager
def filtered_native_stderr(drop: tuple[re.Pattern, ...]) -> Iterator[None]:
    """Send file descriptor 2 (native code writes there directly) to a temporary file, then pass on every line that
    matches none of ``drop``. A file, not a pipe: nothing can block while the importing thread holds the GIL."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = b"".join(line for line in caught if not any(p.search(line) for p in drop))
            if kept:
                os.write(2, kept)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """On the first ``import tensorflow``, load it (and discover its devices) inside ``filtered_native_stderr``."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders do the finding
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module
        drop = HARMLESS_ALWAYS if nvidia_device_present() else HARMLESS_WITHOUT_GPU

        def quiet_exec_module(module):
            with filtered_native_stderr(drop):
                execute(module)
                module.config.list_physical_devices()  # device discovery logs now, not at the first operation
                getattr(module, "keras", None)  # tf-keras loads lazily and logs once more
            _autograph_skips()

        spec.loader.exec_module = quiet_exec_module
        return spec


AUTOGRAPH_SKIPS: tuple[str, ...] = ("genericpath", "posixpath", "ntpath", "tf_keras")


def _autograph_skips() -> None:
    """Let AutoGraph call ``os.path`` helpers and tf-keras's own code as they are instead of converting them.

    TF Privacy's Dense registry calls ``os.path.commonprefix`` inside the traced train step. Python 3.11+ freezes
    ``genericpath``/``posixpath``, so AutoGraph finds no source, prints a multi-line warning into the notebook and runs
    the function as is anyway. Marking those modules "do not convert" is the same outcome without the warning.

    TensorFlow 2.15 knows ``keras`` as a package not to convert but not ``tf_keras`` (TensorFlow 2.16+ lists both),
    so on the 3.11 stack the first Keras train step of every process converted about 800 tf-keras functions: 10.6 s
    against 0.35 s on the 3.12 stack, measured here. The step function Keras hands to ``tf.function`` (and a model's
    own ``train_step``) are still converted, as on the newer stack.
    """
    from tensorflow.python.autograph.core import config, config_lib

    skips = tuple(config_lib.DoNotConvert(name) for name in AUTOGRAPH_SKIPS)
    if not any(isinstance(rule, config_lib.DoNotConvert) and getattr(rule, "_prefix", None) == "genericpath"
               for rule in config.CONVERSION_RULES):
        config.CONVERSION_RULES = skips + tuple(config.CONVERSION_RULES)


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
