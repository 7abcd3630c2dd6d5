"""What scrubbing costs per log line: plain logging next to scrubbed logging, in the same process run.

Writes N records (a failure line with arguments, as handlers.app writes them) to an in-memory stream in text
format: once with logging as the standard library sets it up, then through configure_logging (scrubbed at the
source), then with 1 and with 50 turns' values registered. Prints microseconds per line (best of 3).
Usage: python -m bench.log_scrubbing [N]
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time

from services.observability import configure_logging, sensitive

LINE = "turn failed ref=%s activity=%s conversation=%s kind=%s error=%s"
ARGS = ("1a2b3c4d", "1700000000001", "a:1xyz0123456789", "message", "ThrottlingException: Rate exceeded for model")


def per_line(log: logging.Logger, count: int) -> float:
    """Microseconds per line, the best of 3 runs (the machine is shared)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(count):
            log.warning(LINE, *ARGS)
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main(count: int) -> None:
    log = logging.getLogger("bench.scrub")
    plain = logging.StreamHandler(io.StringIO())
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(plain)
    root.setLevel(logging.INFO)
    reference = per_line(log, count)
    root.removeHandler(plain)

    configure_logging("INFO", "text", stream=io.StringIO(), secrets=("an-app-password-value",))
    rows = [("standard logging (reference)", reference), ("scrubbed, no turn running", per_line(log, count))]
    turn = [f"what is our travel policy for trip {i} to the Berlin office?" for i in range(3)] + ["Alex Wilber"]
    with sensitive(*turn):
        rows.append(("scrubbed, 1 turn running", per_line(log, count)))
        with contextlib.ExitStack() as stack:
            for n in range(49):
                stack.enter_context(sensitive(*(f"{value} #{n}" for value in turn)))
            rows.append(("scrubbed, 50 turns running", per_line(log, count)))
    print(f"{count} log lines each, text format, in-memory stream")
    for label, micros in rows:
        print(f"{label:<32} {micros:8.1f} µs/line  ({micros / reference:4.1f}× reference)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
