"""Start and stop JupyterLab for the tests that talk to it (tests/test_lab.py, tests/test_browser.py).

Both start the server from the single definition ``make lab`` uses (``course_lib.lab``), on loopback with a fresh
token, wait until it answers, and stop it and its kernels by their own process ids, even when the test fails.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

START_TIMEOUT = 60


def jupyter_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a test server: Jupyter's runtime, config and data directories kept under ``tmp_path``."""
    return {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
            "JUPYTER_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stop(pid: int, timeout: float = 20) -> bool:
    """SIGTERM ``pid`` and wait until it is gone; True when it stopped in time."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return False


def wait_until_serving(server: subprocess.Popen, base: str, token: str, timeout: float = START_TIMEOUT,
                       log: Path | None = None) -> None:
    """Return once ``base``/api/status answers; fail with the server's output (its pipe, or ``log``, the file it
    writes to) if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            output = log.read_text() if log else server.stdout.read() if server.stdout else ""
            raise AssertionError(f"JupyterLab exited with code {server.returncode} before serving:\n{output}")
        try:
            if requests.get(f"{base}/api/status", headers={"Authorization": f"token {token}"},
                            timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"JupyterLab did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def kernel_pids(base: str, token: str) -> list[int]:
    """Process ids of the server's running kernels: the processes whose command line names a kernel's connection
    file (kernel-<id>.json), found in /proc."""
    try:
        kernels = requests.get(f"{base}/api/kernels", headers={"Authorization": f"token {token}"}, timeout=5).json()
    except (requests.RequestException, ValueError):
        return []
    ids = {k["id"] for k in kernels}
    pids = []
    if not Path("/proc").is_dir():  # not Linux: the server still stops its kernels as it stops
        return pids
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ipykernel" in cmdline and any(f"kernel-{i}.json" in cmdline for i in ids):
            pids.append(int(proc.name))
    return pids
