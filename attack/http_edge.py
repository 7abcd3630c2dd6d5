# ruff: noqa: SIM115, E501
"""Raw HTTP probes against the real `python -m bot serve` on 127.0.0.1 (auth on: MICROSOFT_APP_ID set).

Starts the server itself (memory-capped at 2 GB, killed at the end), sends each probe once with a 15 s
socket timeout, prints the status line and the time, then checks /healthz. Run: .venv/bin/python attack/http_edge.py
"""

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

PORT = 39719
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def send(raw: bytes, timeout=15.0) -> tuple[str, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
        try:
            s.sendall(raw)
            data = s.recv(4096)
        except (TimeoutError, ConnectionResetError, BrokenPipeError) as error:
            return f"<{type(error).__name__}>", time.monotonic() - started
    return (data.split(b"\r\n", 1)[0].decode(errors="replace") or "<closed>"), time.monotonic() - started


def post(body: bytes, extra: bytes = b"", chunked=False) -> bytes:
    head = b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra
    head += b"Authorization: Bearer x.y.z\r\n"
    if chunked:
        chunks = b"".join(
            b"%x\r\n" % len(body[i : i + 65536]) + body[i : i + 65536] + b"\r\n" for i in range(0, len(body), 65536)
        )
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


PROBES = {
    "header of 100 KB": post(b"{}", b"X-A: " + b"a" * 100_000 + b"\r\n"),
    "10,000 headers": post(b"{}", b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))),
    "chunked body of 4 MB": post(b"[" + b"1," * 2_000_000 + b"1]", chunked=True),
    "Content-Length 10^18": b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000\r\n\r\n{}",
    "negative Content-Length": b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
    "CL and TE both": post(b"{}", b"Content-Length: 5\r\n", chunked=True),
    "nested JSON 100,000 deep": post(b"[" * 100_000 + b"]" * 100_000),
    "non-UTF-8 body": post(b'{"type":"message","text":"\xff\xfe"}'),
    "BOM + JSON": post(b'\xef\xbb\xbf{"type":"message"}'),
    "lone surrogate escape": post(b'{"type":"message","text":"\\ud800"}'),
    "huge number": post(b'{"type":"message","x":1' + b"0" * 500_000 + b"}"),
    "Authorization of 60 KB": b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nAuthorization: Bearer "
    + b"a." * 30_000
    + b"\r\n\r\n{}",
    "GET /healthz": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "request line of 1 MB": b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "method garbage": b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
    "HTTP/0.9": b"GET /healthz\r\n\r\n",
}

env = {
    **os.environ,
    "PORT": str(PORT),
    "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
    "MICROSOFT_APP_PASSWORD": "not-a-secret",
    "STATE_DB": os.path.join(tempfile.mkdtemp(), "s.db"),
    "KNOWLEDGE_DIR": os.path.join(ROOT, "docs"),
}
log = open(os.path.join(tempfile.gettempdir(), "attack19_serve.log"), "wb")
server = subprocess.Popen(
    [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log, preexec_fn=_cap
)
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    for name, raw in PROBES.items():
        status, took = send(raw)
        health, htook = send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        print(f"{name:28} -> {status:40} {took:5.2f} s | healthz {health} {htook:.2f} s")
finally:
    server.kill()
    server.wait()
    print(
        "server exit",
        server.returncode,
        "; log: ",
        open(log.name, "rb").read().decode(errors="replace").count("Traceback"),
        "tracebacks",
    )
