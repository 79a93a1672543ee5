"""The dashboard listens on 127.0.0.1 only, wherever Streamlit is started from.

Streamlit reads ``dashboard/.streamlit/config.toml`` as the entry script's own config, so
neither the working directory nor the way it is started (``streamlit run <path>``,
``python -m dashboard``) can make it listen on every interface.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
@pytest.mark.parametrize("how", ["streamlit run <path>", "python -m dashboard"])
def test_the_server_listens_on_localhost_only_from_another_directory(tmp_path, how):
    port = _free_port()
    env = {**os.environ, "INTERP_STORE": str(tmp_path / "no-store")}
    env.pop("PYTHONPATH", None)
    command = ([sys.executable, "-P", "-m", "streamlit", "run", str(REPO / "dashboard")]
               if how.startswith("streamlit") else [sys.executable, "-m", "dashboard"])
    if how.startswith("python"):
        env["PYTHONPATH"] = str(REPO)  # what `pip install -e .` gives; cwd is elsewhere
    proc = subprocess.Popen([*command, "--server.port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 40
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{proc.stdout.read()[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.5)  # let every listener of the port come up
        addresses = _listening(port)
        assert addresses == {"0100007F"}, addresses  # 127.0.0.1 only: no 0.0.0.0, no ::
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
