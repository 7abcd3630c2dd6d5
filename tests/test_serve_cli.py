"""`python -m bot serve` as a newcomer meets it: the right `make chat` hint, one sentence for a busy port."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import pytest

from bot.emulator.cli import default_endpoint
from entrypoints.local import (
    DEV_DOWNLOAD_HOSTS,
    DEV_SERVICE_HOSTS,
    _check_backends,
    _dev_defaults,
    backends_label,
    serve,
)
from services.settings import REPO_ROOT


def test_a_port_in_use_is_one_sentence_before_any_banner(tmp_path):
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
    assert "messaging endpoint" not in run.stdout  # no "ready" banner before the port turns out to be taken
    assert f"Port {port} on 127.0.0.1 is already in use" in run.stderr and "Traceback" not in run.stderr
    assert "make chat PORT=<that port>" in run.stderr


@pytest.fixture
def local(monkeypatch, tmp_path):
    """A working directory of its own (no developer's .env), a small knowledge folder and state in tmp_path."""
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "policy.md").write_text("# Travel\nBook trains for trips under four hours.\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    return tmp_path


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("HOST", "999.1.1.1", "Invalid setting HOST: is not an IP address"),
        ("KNOWLEDGE_DIR", "/nonexistent", "Invalid setting KNOWLEDGE_DIR: no such folder (got '/nonexistent')"),
        ("ALLOWED_TENANTS", "not a tenant", "Invalid setting ALLOWED_TENANTS: 'not a tenant' is not a tenant id"),
    ],
)
def test_a_bad_local_setting_is_one_line_before_the_banner(local, monkeypatch, capsys, name, value, line):
    monkeypatch.setenv(name, value)
    assert serve(dev=True) == 2
    out, err = capsys.readouterr()
    assert err.startswith(line) and err.count("\n") == 1 and out == ""


def test_an_address_this_machine_does_not_have_is_one_line(local, monkeypatch, capsys):
    monkeypatch.setenv("HOST", "192.0.2.1")  # TEST-NET-1: never a local address
    monkeypatch.setenv("PORT", "3999")
    assert serve(dev=True) == 1
    out, err = capsys.readouterr()
    problem = [line for line in err.splitlines() if "WARNING" not in line]  # the two local-mode warnings
    assert problem == ["Cannot listen on 192.0.2.1:3999: cannot assign requested address (check HOST and PORT)."]
    assert "messaging" not in out


def test_a_knowledge_folder_without_documents_is_one_warning(local, make_settings, caplog):
    empty = local / "empty"
    empty.mkdir()
    (empty / "notes.pdf").write_bytes(b"%PDF")
    caplog.set_level(logging.WARNING)
    assert _check_backends(make_settings(knowledge_dir=str(empty))) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"KNOWLEDGE_DIR {empty} holds no .md, .txt or .html file: every question will get 'I found nothing'"
    ]
    caplog.clear()
    assert _check_backends(make_settings(knowledge_dir=str(local / "knowledge"))) is None and not caplog.records


def test_port_and_download_hosts_in_dot_env_are_not_overridden_by_make(local, monkeypatch):
    # nothing set: the emulator's files, and replies to the emulator on loopback
    assert _dev_defaults() == {"download_allowed_hosts": DEV_DOWNLOAD_HOSTS, "bot_service_hosts": DEV_SERVICE_HOSTS}
    assert "http://127.0.0.1" in DEV_SERVICE_HOSTS
    assert default_endpoint() == "http://127.0.0.1:3978/api/messages"
    (local / ".env").write_text("PORT=4100\nDOWNLOAD_ALLOWED_HOSTS=files.contoso.example\n")
    assert _dev_defaults() == {"bot_service_hosts": DEV_SERVICE_HOSTS}
    assert default_endpoint() == "http://127.0.0.1:4100/api/messages"
    monkeypatch.setenv("BOT_SERVICE_HOSTS", "smba.trafficmanager.net")
    assert _dev_defaults() == {}
    monkeypatch.setenv("PORT", "4200")
    assert default_endpoint() == "http://127.0.0.1:4200/api/messages"
    # and the Makefile passes neither unless given on its command line
    commands = subprocess.run(["make", "-n", "-o", ".venv/.runtime", "run", "chat"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    assert "bot serve --dev" in commands and "PORT=" not in commands and "DOWNLOAD_ALLOWED_HOSTS" not in commands
    assert "--endpoint" not in commands
    make = ["make", "-n", "-o", ".venv/.runtime", "run", "chat", "PORT=4300"]
    given = subprocess.run(make, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    assert "PORT=4300 " in given and "--endpoint http://127.0.0.1:4300/api/messages" in given


def test_make_installs_with_uv_wheels_only_and_falls_back_to_pip(tmp_path):
    """From a fresh clone (no .venv): uv is installed into the venv, then every requirements file goes through
    it with wheels only; pip installs the same way when uv cannot be installed (bench/first_run.py times both)."""
    for name in (
        "Makefile",
        "requirements.txt",
        "requirements-analytics.txt",
        "requirements-spark.txt",
        "requirements-dev.txt",
    ):
        (tmp_path / name).write_bytes((REPO_ROOT / name).read_bytes())
    commands = subprocess.run(["make", "-n", ".venv/.runtime", ".venv/.dev"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    assert "-m pip install --quiet --disable-pip-version-check uv==" in commands
    wheels = "--only-binary :all: --no-binary causaldata --no-binary pyspark"  # PyPI has no wheel for these two
    uv = ".venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python"
    assert commands.count(f"{uv} {wheels} -r") == 2
    assert commands.count(f"-m pip install --quiet --disable-pip-version-check {wheels} -r") == 2  # the fallback


def test_a_routed_local_backend_whose_folder_is_missing_stops_the_start(local, make_settings, tmp_path):
    # Found by a fresh review: only the global KNOWLEDGE_DIR was checked, so a named `local` backend of the route
    # table over a missing folder started and answered "I found nothing (0 documents)" to every question.
    routes = tmp_path / "routes.toml"
    routes.write_text(
        'default = "docs"\n[backends.docs]\ntype = "local"\n'
        f'[backends.hr]\ntype = "local"\nsettings = {{ knowledge_dir = "{tmp_path / "missing"}" }}\n',
        encoding="utf-8",
    )
    problem = _check_backends(make_settings(knowledge_dir=str(local / "knowledge"), routes_file=str(routes)))
    assert problem is not None and "KNOWLEDGE_DIR: no such folder" in problem and "missing" in problem


def test_the_banner_names_the_routed_backends_not_the_unused_backend(local, make_settings):
    # With a route table BACKEND does not answer (docs/routing.md): the banner said "bedrock backend" for a table
    # whose only backend was the local one.
    table = local / "routes.toml"
    table.write_text('default = "docs"\n[backends.docs]\ntype = "local"\n')
    assert backends_label(make_settings(backend="bedrock", routes_file=str(table))) == (
        "backends from ROUTES_FILE: docs (local)"
    )
    assert backends_label(make_settings()).startswith("local backend, knowledge from ")
