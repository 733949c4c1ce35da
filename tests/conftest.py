"""Shared test set-up: quiet TensorFlow and keep every test offline and seeded."""
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def fresh_python():
    """``run(code)``: run ``code`` in a fresh interpreter (the stack is set up at import) and return the finished
    process; fail with its stderr if it exits non-zero. For what must start clean, or could kill pytest itself (a
    native crash)."""
    import subprocess
    import sys

    def run(code: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    return run

