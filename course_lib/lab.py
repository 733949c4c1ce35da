"""``python -m course_lib lab`` (what ``make lab`` runs): JupyterLab on ``notebooks/``, with the URL to open.

One definition of the command serves ``make lab`` and the test that starts it (``tests/test_lab.py``), so what the
test proves is what a learner runs. JupyterLab is started from this interpreter (``python -m jupyterlab``), so its
kernels run in the course's environment and ``import course_lib`` works in every notebook. It listens on loopback
only, with a fresh token that the printed URL carries. Jupyter refuses to run as root without ``--allow-root``
(containers and many cloud machines run as root): the flag is added only when the user id is 0, and one line says so.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Sequence

from course_lib.run import NOTEBOOK_DIR

HOST = "127.0.0.1"
DEFAULT_PORT = 8888
ROOT_NOTE = "running as root (user id 0): adding --allow-root, since Jupyter refuses root without it"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def free_port(start: int = DEFAULT_PORT, tries: int = 50) -> int:
    """The first port from ``start`` that nothing on loopback listens on."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {start} and {start + tries - 1}; pass --port with a free one")


def url(port: int, token: str) -> str:
    return f"http://{HOST}:{port}/lab?token={token}"


def lab_command(port: int, token: str, *, notebook_dir: str | os.PathLike = NOTEBOOK_DIR, open_browser: bool = True,
                root: bool | None = None, python: str = sys.executable) -> list[str]:
    """The argument list that starts JupyterLab for the course (the single definition ``make lab`` uses)."""
    command = [
        python, "-m", "jupyterlab",
        f"--ServerApp.root_dir={Path(notebook_dir).resolve()}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the printed URL must be the one the server listens on
        f"--IdentityProvider.token={token}",
    ]
    if not open_browser:
        command.append("--no-browser")
    if is_root() if root is None else root:
        command.append("--allow-root")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib lab",
                                     description="Open the course's notebooks in JupyterLab (what `make lab` runs).")
    parser.add_argument("--port", type=int, default=None, help=f"port to listen on (default: first free from "
                                                               f"{DEFAULT_PORT})")
    parser.add_argument("--no-browser", action="store_true", help="do not try to open a web browser")
    args = parser.parse_args(argv)
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    port = args.port or free_port()
    token = secrets.token_hex(24)
    command = lab_command(port, token, open_browser=not args.no_browser)
    if "--allow-root" in command:
        print(ROOT_NOTE, flush=True)
    print(f"JupyterLab on {NOTEBOOK_DIR}: open {url(port, token)}  (Ctrl-C twice to stop)", flush=True)
    os.execv(command[0], command)  # the server takes this process's place: its pid, its Ctrl-C
    return 0  # pragma: no cover - execv does not return
