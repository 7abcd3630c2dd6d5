"""`python -m bot serve` as a newcomer meets it: the right `make chat` hint, one sentence for a busy port."""

from __future__ import annotations

import socket
import subprocess
import sys

from services.settings import REPO_ROOT


def test_a_port_in_use_is_one_sentence_and_the_banner_names_make_chat_with_the_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "PORT": str(port),
                 "STATE_DB": str(tmp_path / "state.db")},
        )  # fmt: skip
    assert run.returncode == 1
    assert f"make chat PORT={port}" in run.stdout
    assert f"Port {port} on 127.0.0.1 is already in use" in run.stderr and "Traceback" not in run.stderr
