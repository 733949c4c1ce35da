"""One code path on both stacks, and a console that shows only what matters."""
import os
import subprocess
import sys

from course_lib import stack


def test_tf_keras_is_keras_2_and_tf_privacy_names_come_from_their_submodules():
    stack.check()
    assert stack.keras_2()
    from tensorflow_privacy.privacy.optimizers.dp_optimizer_keras import DPKerasSGDOptimizer  # noqa: F401
    assert sys.skip_tf_privacy_import is True


def test_the_filter_drops_known_harmless_lines_and_keeps_everything_else(capfd):
    with stack.filtered_native_stderr(stack.HARMLESS_WITHOUT_GPU):
        os.write(2, b"E external/xla/cuda_fft.cc:607] Unable to register cuFFT factory: twice\n")
        os.write(2, b"E0000 something real went wrong\n")
        print("python-level warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cuFFT" not in err
    assert "something real went wrong" in err and "python-level warning" in err


def test_importing_the_course_and_tensorflow_prints_nothing_on_a_machine_without_a_gpu():
    if stack.nvidia_device_present():
        return  # CUDA lines may be real there; the filter keeps them on purpose
    code = ("import course_lib, tensorflow as tf, course_lib.dp.training, course_lib.attacks.membership;"
            "print(float(tf.reduce_sum(tf.ones(3))))")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3.0"
    assert done.stderr.strip() == "", done.stderr


def test_a_dp_training_step_logs_no_autograph_conversion_warning(fresh_python):
    """TF Privacy's Dense registry calls os.path.commonprefix in the step; AutoGraph must not warn about it."""
    code = (
        "import course_lib.config, numpy as np, tensorflow as tf\n"
        "from course_lib.dp import training\n"
        "x = np.zeros((16, 4), np.float32); y = np.arange(16) % 2\n"
        "build = lambda: tf.keras.Sequential([tf.keras.layers.InputLayer(input_shape=(4,)), tf.keras.layers.Dense(2)])\n"
        "training.train_dp(build, x, y, x, y, noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=4, epochs=1,\n"
        "                  learning_rate=0.1, seed=0, delta=1e-3, progress=False)\n"
    )
    done = fresh_python(code)
    assert "AutoGraph could not transform" not in done.stdout + done.stderr


def test_autograph_leaves_tf_keras_internals_unconverted(fresh_python):
    """TF 2.15 converted ~800 tf-keras functions at the first train step of a process (10.6 s); TF 2.16+ does not."""
    code = (
        "import course_lib.config, tensorflow as tf\n"
        "from tensorflow.python.autograph.impl import conversion\n"
        "from course_lib.dp.training import FastDPModel\n"
        "print(conversion.is_allowlisted(tf.keras.Model.train_step), conversion.is_allowlisted(FastDPModel.train_step))\n"
    )
    done = fresh_python(code)
    assert done.stdout.split()[-2:] == ["True", "False"], "Keras's code runs as is; the course's train step is converted"
