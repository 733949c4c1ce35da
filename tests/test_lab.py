"""`make lab` must open the course: start JupyterLab exactly as `make lab` does and use it as a learner's browser would.

pip check was clean while `jupyter lab` crashed on import (packaging 22 lacks a name JupyterLab imports); only
starting the application shows such a fault, so this test starts it, fetches the page and the notebook listing, runs
`import course_lib` in a kernel the server started, and stops the server and the kernel by their own process ids.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from course_lib import lab
from labserver import alive, jupyter_env, stop, wait_until_serving

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _execute(ws_url: str, code: str, timeout: float = 60) -> tuple[str, str]:
    """Run ``code`` through the kernel's websocket; returns (status of the reply, text printed)."""
    import websocket  # websocket-client, installed with jupyter-server

    conn = websocket.create_connection(ws_url, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        conn.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        # The reply (shell channel) may overtake the output (iopub channel): the output is complete only when the
        # kernel reports itself idle on iopub for this request.
        printed, status, idle = [], None, False
        deadline = time.monotonic() + timeout
        while (status is None or not idle) and time.monotonic() < deadline:
            msg = json.loads(conn.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                printed.append(msg["content"]["text"])
            elif kind == "error":
                printed.append("\n".join(msg["content"]["traceback"]))
            elif kind == "execute_reply":
                status = msg["content"]["status"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return (status if idle else None) or "timeout", "".join(printed)
    finally:
        conn.close()


def test_lab_command_adds_allow_root_only_for_root():
    as_user = lab.lab_command(8890, "t", root=False, open_browser=False)
    as_root = lab.lab_command(8890, "t", root=True, open_browser=False)
    assert "--allow-root" not in as_user and "--allow-root" in as_root
    assert as_user[:3] == [sys.executable, "-m", "jupyterlab"]  # kernels run in this environment
    assert "--ServerApp.ip=127.0.0.1" in as_user and "--no-browser" in as_user


def test_make_lab_serves_the_notebooks_and_a_kernel_that_imports_course_lib(tmp_path):
    port = lab.free_port(8891)
    env = jupyter_env(tmp_path)
    # The exact command `make lab` runs (Makefile: `python -m course_lib lab`), told not to open a browser.
    server = subprocess.Popen([sys.executable, "-m", "course_lib", "lab", "--port", str(port), "--no-browser"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kernel_pid = None
    try:
        first = server.stdout.readline()
        if lab.is_root():
            assert first.strip() == lab.ROOT_NOTE
            first = server.stdout.readline()
        found = re.search(r"open (http://127\.0\.0\.1:(\d+)/lab\?token=(\w+))", first)
        assert found, f"make lab did not print the URL to open: {first!r}"
        assert int(found.group(2)) == port
        base, token = f"http://127.0.0.1:{port}", found.group(3)
        auth = {"Authorization": f"token {token}"}
        wait_until_serving(server, base, token)
        page = requests.get(found.group(1), timeout=10)
        assert page.status_code == 200 and "JupyterLab" in page.text
        listing = requests.get(f"{base}/api/contents", headers=auth, timeout=10).json()
        assert sorted(item["name"] for item in listing["content"] if item["type"] == "notebook") == NOTEBOOKS
        kernel = requests.post(f"{base}/api/kernels", headers=auth, json={"name": "python3"}, timeout=30).json()
        ws_url = f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels?token={token}"
        status, printed = _execute(ws_url, "import os, sys, course_lib\nprint(os.getpid(), sys.prefix, "
                                           "course_lib.__file__)")
        assert status == "ok", printed
        pid, prefix, module = printed.split()
        kernel_pid = int(pid)
        assert Path(prefix).resolve() == Path(sys.prefix).resolve()  # the kernel is the project's environment
        assert Path(module).resolve().is_relative_to(REPO / "course_lib")
    finally:
        if kernel_pid is not None:
            assert stop(kernel_pid), "the kernel did not stop on SIGTERM"
        stopped = stop(server.pid)
        server.wait(timeout=10)
    assert stopped, "JupyterLab did not stop on SIGTERM"
    assert not alive(kernel_pid)
