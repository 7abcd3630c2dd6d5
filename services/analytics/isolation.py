"""Run one analysis in a process of its own, with CPU-time and memory limits, killed at its deadline.

Why a process: a thread cannot be stopped. Analyses used to run on a shared two-thread pool; a turn told
"stopped" at its time limit kept its thread busy for half a minute more and the next person's small request
waited behind it. A process can be killed, and `setrlimit` bounds its memory (RLIMIT_AS: a request that would
allocate gigabytes gets MemoryError instead of taking the gateway down) and its CPU time (RLIMIT_CPU, which
also ends a process whose parent died).

Why a plain subprocess with pipes, not `multiprocessing.Pool`/`Queue`: on AWS Lambda there is no /dev/shm,
and multiprocessing's queues, pools and locks need POSIX semaphores there; a `subprocess.Popen` child and
framed pickles over its stdin/stdout need nothing but pipes. The child runs
`python -m services.analytics.isolation`.

Protocol: the parent writes one frame (the request); the child writes ("progress", text) frames and one
final frame: ("done", Outcome), ("refused", sentence), ("memory",) or ("failed", error type, traceback).
A frame is an 8-byte big-endian length and a pickle. Results and charts are small (a chart ≤ 48 KB in chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from services.analytics.errors import AnalyticsError

log = logging.getLogger(__name__)

HEADER = struct.Struct(">Q")
MAX_REPLY_BYTES = 64_000_000  # a result frame larger than this is a defect, not something to unpickle
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
ROOT = Path(__file__).resolve().parents[2]  # the folder holding `services/`: the child imports from there


@dataclass(frozen=True)
class Limits:
    """What one analysis process may use: address space in MB, CPU seconds, and BLAS/OpenMP threads."""

    memory_mb: int = 4096
    cpu_seconds: int = 300
    threads: int = 1


class AnalysisStopped(Exception):
    """The analysis was stopped on request (`stop`, or Teams' Stop button) and its process killed."""


class AnalysisFailed(Exception):
    """The analysis process failed for a reason that is not the user's input (a defect, a crash)."""


def frame(message: Any) -> bytes:
    """Return `message` as one frame."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def _read_frame(stream: BinaryIO, limit: int = MAX_REPLY_BYTES) -> Any:
    """Return the next frame's message from `stream` (at most `limit` bytes); EOFError when the stream ends first."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    size = HEADER.unpack(header)[0]
    if size > limit:
        raise EOFError(f"frame of {size} bytes")
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)  # noqa: S301 - our own process wrote it


class Runner:
    """Runs analyses in processes, at most `processes` at once (the others wait their turn, first come first
    served), each under `limits`. One spare process per set of limits is kept started, its heavy libraries
    imported (4 s of CPU for pandas, scikit-learn, scipy and matplotlib), so that an analysis does not wait for
    them. Processes are plain `subprocess.Popen`s, bound to no event loop, so the spare serves any loop."""

    def __init__(self, limits: Limits, processes: int = 2) -> None:
        self.limits = limits
        self.processes = processes
        self._slots: asyncio.Semaphore | None = None

    async def run(
        self,
        request: dict[str, Any],
        *,
        on_progress: Callable[[str], Awaitable[None]] | None = None,
        stop_requested: Callable[[], Awaitable[bool]] | None = None,
        poll_seconds: float = 1.0,
    ) -> Any:
        """Run `request` (command, sources, values, chart options: see `_serve`) in a process; return its Outcome.

        Raises AnalyticsError for the user's input (and for the memory and CPU limits, in one sentence),
        AnalysisStopped when `stop_requested()` turned true (asked every `poll_seconds`), AnalysisFailed for a
        defect. Cancelled (the turn's time limit), the process is killed before the cancellation goes on."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.processes)
        async with self._slots:
            process = _SPARES.pop(self.limits, None)
            if process is None or process.poll() is not None:
                process = _start(self.limits)
            with contextlib.suppress(OSError):  # the next one imports its libraries while this one works
                _SPARES[self.limits] = _start(self.limits)
            return await _converse(process, request, self.limits, on_progress, stop_requested, poll_seconds)


_SPARES: dict[Limits, subprocess.Popen] = {}


def _start(limits: Limits) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))))
    env.update({name: str(limits.threads) for name in THREAD_VARIABLES})
    return subprocess.Popen(
        [sys.executable, "-m", "services.analytics.isolation"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )  # fmt: skip


async def _converse(
    process: subprocess.Popen,
    request: dict[str, Any],
    limits: Limits,
    on_progress: Callable[[str], Awaitable[None]] | None,
    stop_requested: Callable[[], Awaitable[bool]] | None,
    poll_seconds: float,
) -> Any:
    """Send `request` to `process`, relay its progress, return its outcome; the process never outlives this.

    A thread writes the request and reads the frames (blocking pipe I/O, unblocked by the kill at the end)."""
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(message: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(frames.put_nowait, message)

    def pump() -> None:
        with contextlib.suppress(OSError):  # the child died: its exit status says why
            process.stdin.write(frame({**request, "limits": limits}))
            process.stdin.close()
        while True:
            try:
                message = _read_frame(process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                deliver(None)
                return
            deliver(message)
            if message[0] != "progress":
                return

    threading.Thread(target=pump, name="analysis-pipe", daemon=True).start()
    next_poll = time.monotonic() + poll_seconds
    try:
        while True:
            try:
                reply = await asyncio.wait_for(frames.get(), max(0.05, next_poll - time.monotonic()))
            except TimeoutError:
                reply = ("tick",)
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + poll_seconds
                if stop_requested is not None and await stop_requested():
                    raise AnalysisStopped
            if reply is not None and reply[0] == "progress":
                if on_progress is not None:
                    await on_progress(reply[1])
            elif reply is None or reply[0] != "tick":
                break
    finally:
        # The whole process group (the child has a session of its own): a Spark analysis' JVM outlived a killed
        # child before, orphaned, holding its heap and cores.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)  # milliseconds after SIGKILL; reaps the process
    if reply is None:
        raise _death(process.returncode, limits)
    kind = reply[0]
    if kind == "done":
        return reply[1]
    if kind == "refused":
        raise AnalyticsError(reply[1])
    if kind == "memory":
        raise AnalyticsError(_memory_sentence(limits))
    log.error("analysis process failed: %s\n%s", reply[1], reply[2][-4000:])
    raise AnalysisFailed(reply[1])


def _memory_sentence(limits: Limits) -> str:
    return (
        f"The analysis needed more than the {limits.memory_mb:,} MB of memory it may use and was stopped: "
        "send fewer rows or columns."
    )


def _death(returncode: int | None, limits: Limits) -> Exception:
    """Return the error for a process that ended without a final frame."""
    if returncode == -signal.SIGXCPU:
        return AnalyticsError(
            f"The analysis used its {limits.cpu_seconds:,} seconds of CPU time and was stopped: send fewer rows "
            "or columns."
        )
    if returncode == -signal.SIGKILL:  # not killed by us (we raise before looking): the kernel's OOM killer
        return AnalyticsError(_memory_sentence(limits))
    return AnalysisFailed(f"analysis process exited with {returncode}")


# --- the child -------------------------------------------------------------------------------------------------


def _limit(limits: Limits) -> None:
    """Apply the address-space and CPU-time limits to this process."""
    import resource

    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))


def _preload() -> None:
    """Import what analyses use, so that the request does not wait for it."""
    import importlib

    for name in ("services.analytics.metrics", "services.analytics.uplift", "services.analytics.drift",
                 "services.analytics.charts", "services.analytics.tables", "threadpoolctl"):  # fmt: skip
        with contextlib.suppress(ImportError):  # a missing library fails the request that needs it, in one place
            importlib.import_module(name)


def _serve() -> None:
    """The child: read the request, run the pipeline, write progress and the final frame."""
    import traceback

    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the frames

    def send(message: Any) -> None:
        out.write(frame(message))

    from services.analytics import progress
    from services.analytics.commands import COMMANDS
    from services.analytics.pipeline import run

    _preload()  # while this process waits as the spare
    try:
        request = _read_frame(sys.stdin.buffer, limit=1 << 40)  # the parent's request: tables up to the file limit
    except EOFError:  # the parent closed the pipe: it no longer needs a spare
        return
    limits: Limits = request["limits"]
    _limit(limits)
    try:
        with progress.reporting(lambda text: send(("progress", text))):
            outcome = run(
                COMMANDS[request["command"]], request["sources"], request["values"], chart=request.get("chart", True),
                max_chart_bytes=request.get("max_chart_bytes"), dpi=request.get("dpi", 110), threads=limits.threads,
            )  # fmt: skip
    except AnalyticsError as problem:
        send(("refused", str(problem)))
    except MemoryError:
        send(("memory",))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which logs it and fails the turn
        send(("failed", type(error).__name__, traceback.format_exc()))
    else:
        send(("done", outcome))
    out.close()


if __name__ == "__main__":
    _serve()
