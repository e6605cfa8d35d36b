"""`make lab` as a reader meets it: the server starts headless on a free local port, serves a
chapter's .md source as a notebook (jupytext), opens it with the book's `python3` kernel, runs a
code cell in that kernel over its websocket, and shuts down. Skipped, with the reason, only where
no server can start here (no `make`, JupyterLab not installed, or no local port to listen on)."""

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/ch01_linear_attention.md"
CELL = "import sys, icl\nprint(icl.__name__, icl.__file__, sys.prefix, sep='\\n')"
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A server started by `make lab` on 127.0.0.1 with a token; JSON requests to its REST API."""

    def __init__(self, log_path: Path):
        self.port, self.token = free_port(), secrets.token_hex(16)
        venv = Path(sys.prefix)
        args = (
            f"--no-browser --ip=127.0.0.1 --port={self.port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={self.token}"
        )
        self.log = open(log_path, "w")  # closed in stop()
        # -o: never rebuild the environment this test runs in; VENV: use it as `make lab` would
        self.process = subprocess.Popen(
            ["make", "-o", f"{venv}/.installed", "lab", f"VENV={venv}", f"LAB_ARGS={args}"],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(log_path.parent / "runtime")},
        )

    def request(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read()
            return json.loads(text) if text else None

    def wait_until_up(self) -> float:
        start = time.monotonic()
        while time.monotonic() - start < START_TIMEOUT_S:
            if self.process.poll() is not None:
                raise AssertionError(f"`make lab` exited with {self.process.returncode}")
            try:
                self.request("GET", "/api/status")
                return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise AssertionError(f"the server did not answer /api/status in {START_TIMEOUT_S} s")

    def stop(self):
        if self.process.poll() is not None:
            self.log.close()
            return
        try:
            self.request("POST", "/api/shutdown")
            self.process.wait(timeout=30)
        except (urllib.error.URLError, ConnectionError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        finally:
            self.log.close()


async def run_in_kernel(lab: Lab, kernel_id: str, code: str) -> tuple[str, list[dict]]:
    """Execute ``code`` through the kernel's websocket channel: (stdout, error messages)."""
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?token={lab.token}"
    ws = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": "execute_request",
        "username": "test",
        "session": uuid.uuid4().hex,
        "date": "",
        "version": "5.3",
    }
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    ws.write_message(
        json.dumps(
            {
                "header": header,
                "parent_header": {},
                "metadata": {},
                "content": content,
                "channel": "shell",
            }
        )
    )
    stdout, errors = "", []
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout=120)
        assert raw is not None, "the kernel's websocket closed"
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id or msg["channel"] != "iopub":
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            stdout += msg["content"]["text"]
        elif kind == "error":
            errors.append(msg["content"])
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            ws.close()
            return stdout, errors


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("make") is None:
        pytest.skip("`make` is not installed, so `make lab` cannot run here")
    if shutil.which("jupyter-lab", path=str(Path(sys.prefix) / "bin")) is None:
        pytest.skip(
            f"JupyterLab is not installed in {sys.prefix} (pip install -r requirements.txt)"
        )
    try:
        free_port()
    except OSError as error:
        pytest.skip(f"no local port to listen on: {error}")
    log = tmp_path_factory.mktemp("lab") / "lab.log"
    server = Lab(log)
    try:
        seconds = server.wait_until_up()
    except AssertionError as error:
        server.stop()
        raise AssertionError(f"{error}; the server's log:\n{log.read_text()[-4000:]}") from None
    print(f"`make lab` answered /api/status after {seconds:.1f} s")
    yield server
    server.stop()


def test_a_chapter_opens_as_a_notebook(lab):
    model = lab.request("GET", f"/api/contents/{CHAPTER}?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    notebook = model["content"]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(code) > 5 and any("from icl import" in c["source"] for c in code)
    assert notebook["cells"][0]["cell_type"] == "markdown"


def test_md_files_open_as_notebooks_by_default(lab):
    plugin = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}


def test_the_books_kernel_runs_a_cell(lab):
    specs = lab.request("GET", "/api/kernelspecs")
    assert "python3" in specs["kernelspecs"]
    session = lab.request(
        "POST",
        "/api/sessions",
        {"path": CHAPTER, "type": "notebook", "name": "", "kernel": {"name": "python3"}},
    )
    try:
        stdout, errors = asyncio.run(run_in_kernel(lab, session["kernel"]["id"], CELL))
    finally:
        lab.request("DELETE", f"/api/sessions/{session['id']}")
    assert not errors, errors
    name, path, prefix = stdout.split("\n")[:3]
    assert name == "icl"
    assert Path(path).resolve() == ROOT / "icl" / "__init__.py"  # this repository's package
    assert Path(prefix).resolve() == Path(sys.prefix).resolve()  # the book's environment
