# ruff: noqa: E501, SIM115, B023
"""More raw HTTP against the real `python -m bot serve` (auth on), beyond attack/http_edge.py: compressed-body
bombs, slow chunked bodies, pipelining, header repeats, Expect, many slow connections at once. Each probe
prints its status line and time, then /healthz's. The server is memory-capped at 2 GB and killed at the end.

Run: .venv/bin/python attack/http_edge2.py
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
import zlib

PORT = 39731
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def send(raw, timeout=30.0, pace=None):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
            if pace:
                for piece, wait in pace:
                    s.sendall(piece)
                    time.sleep(wait)
            else:
                s.sendall(raw)
            data = b""
            while b"\r\n" not in data:
                more = s.recv(65536)
                if not more:
                    break
                data += more
            return (data.split(b"\r\n", 1)[0].decode(errors="replace") or "<closed>"), time.monotonic() - started, data
    except OSError as error:
        return f"<{type(error).__name__}>", time.monotonic() - started, b""


def head(extra=b"", length=None, chunked=False):
    h = (
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer a.b.c\r\n"
        + extra
    )
    if chunked:
        h += b"Transfer-Encoding: chunked\r\n"
    elif length is not None:
        h += b"Content-Length: %d\r\n" % length
    return h + b"\r\n"


def health():
    status, took, _ = send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    return f"healthz {status[9:12]} {took:.2f}s"


gz = gzip.compress(b'{"type":"message","text":"' + b"a" * 300_000_000 + b'"}', compresslevel=9)
df = zlib.compress(b"[" + b"0," * 200_000_000 + b"0]", 9)
activity = b'{"type":"message","id":"1","serviceUrl":"https://smba.trafficmanager.net/x/","channelId":"msteams","from":{"id":"29:a"},"conversation":{"id":"a:1"},"recipient":{"id":"28:b"},"text":"hi"}'
PROBES = [
    ("gzip bomb (300 MB inflated)", head(b"Content-Encoding: gzip\r\n", len(gz)) + gz, None),
    ("deflate bomb (400 MB inflated)", head(b"Content-Encoding: deflate\r\n", len(df)) + df, None),
    ("br encoding garbage", head(b"Content-Encoding: br\r\n", 10) + b"\x00" * 10, None),
    (
        "gzip, chunked",
        head(b"Content-Encoding: gzip\r\n", chunked=True) + b"%x\r\n" % len(gz) + gz + b"\r\n0\r\n\r\n",
        None,
    ),
    ("chunk size 2^64", head(chunked=True) + b"10000000000000000\r\n" + b"a" * 100, None),
    ("chunk extension 100 KB", head(chunked=True) + b"2;" + b"e" * 100_000 + b"\r\n{}\r\n0\r\n\r\n", None),
    (
        "chunked trailers 10,000",
        head(chunked=True) + b"2\r\n{}\r\n0\r\n" + b"".join(b"T%d: x\r\n" % i for i in range(10_000)) + b"\r\n",
        None,
    ),
    ("1 MB in 1-byte chunks", head(chunked=True) + b"1\r\na\r\n" * 200_000 + b"0\r\n\r\n", None),
    (
        "50 Authorization headers",
        head(b"".join(b"Authorization: Bearer x%d\r\n" % i for i in range(50)), len(activity)) + activity,
        None,
    ),
    ("Expect: 100-continue, 10 MB", head(b"Expect: 100-continue\r\n", 10_000_000), None),
    (
        "Content-Type json;charset=utf-32",
        head(b"Content-Type: application/json; charset=utf-32\r\n", len(activity)) + activity,
        None,
    ),
    ("pipelined 2,000 GET /healthz", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2000, None),
    ("pipelined 300 POSTs (1 KB)", (head(length=1024) + b"[" + b" " * 1022 + b"]") * 300, None),
    (
        "slow chunked body: 1 byte/0.5s for 25 s",
        None,
        [(head(chunked=True), 0.5)] + [(b"1\r\n \r\n", 0.5)] * 50 + [(b"0\r\n\r\n", 0)],
    ),
    (
        "slow headers: 1 line/5s for 40 s",
        None,
        [(b"POST /api/messages HTTP/1.1\r\n", 5)] + [(b"X-%d: y\r\n" % i, 5) for i in range(8)] + [(b"\r\n", 0)],
    ),
]

env = {**os.environ, "PORT": str(PORT), "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
       "MICROSOFT_APP_PASSWORD": "not-a-secret", "STATE_DB": os.path.join(tempfile.mkdtemp(), "s.db"),
       "KNOWLEDGE_DIR": os.path.join(ROOT, "docs"), "LOG_LEVEL": "INFO"}  # fmt: skip
log = open("/tmp/a19c/edge2.log", "wb")
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
    for name, raw, pace in PROBES:
        result = {}

        def probe(raw=raw, pace=pace):
            result["r"] = send(raw, pace=pace)

        t = threading.Thread(target=probe)
        t.start()
        time.sleep(0.3)
        during = health()  # while the probe is in flight
        t.join()
        status, took, _ = result["r"]
        rss = int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
        print(
            f"{name:40} -> {status:38} {took:6.2f}s | during: {during} | after: {health()} | RSS {rss} MB", flush=True
        )
    # many slow connections at once, then a legitimate request
    socks = []
    for _ in range(600):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
            s.sendall(b"POST /api/messages HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            break
    time.sleep(1)
    print(f"600 half-open connections opened {len(socks)}; then {health()}")
    for s in socks:
        s.close()
finally:
    server.kill()
    server.wait()
    text = open(log.name, "rb").read().decode(errors="replace")
    print(
        "server exit",
        server.returncode,
        "; tracebacks in log:",
        text.count("Traceback"),
        "; ERROR lines:",
        text.count(" ERROR "),
    )
