"""The environment is the lock's: pip check reports only the stale pins the lock overrides on purpose."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def overridden_packages() -> set[str]:
    lines = (REPO / "requirements.overrides").read_text().splitlines()
    return {re.split(r"[<>=~!; ]", line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.startswith("#")}


def test_pip_check_reports_only_the_overridden_stale_pins():
    assert "packaging" in overridden_packages()
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    conflicts = [line for line in out.splitlines() if "has requirement" in line or "which is not installed" in line]
    unexpected = [line for line in conflicts
                  if not any(f"but you have {name} " in line for name in overridden_packages())]
    assert not unexpected, "pip check found conflicts the lock does not override on purpose:\n" + "\n".join(unexpected)
