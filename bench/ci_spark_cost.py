"""CPU seconds a test run costs, its subprocesses included (pyspark's JVM and Python workers), for CI's budget.

    .venv/bin/python -m bench.ci_spark_cost [pytest arguments, default: tests/test_spark_drift.py]

Wall time on a shared machine says little (the load decides it); CPU time does not depend on the load. The run is
started in a session of its own and every process of that session is sampled from /proc every 0.2 s; a process's
CPU time is its last sample (a process shorter than one interval is missed: a lower bound). Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def _session_cpu(session: int) -> dict[int, float]:
    """Return {pid: user + system CPU seconds} of the live processes of `session`."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: the session id
            found[int(name)] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return found


def main() -> None:
    arguments = sys.argv[1:] or ["tests/test_spark_drift.py"]
    started = time.perf_counter()
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
                           start_new_session=True)  # fmt: skip
    cpu: dict[int, float] = {}
    while run.poll() is None:
        cpu.update(_session_cpu(run.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    load = os.getloadavg()[0]
    print(f"{' '.join(arguments)}: exit {run.returncode}, {sum(cpu.values()):.1f} CPU-s in {len(cpu)} processes, "
          f"{wall:.1f} s wall (load average {load:.1f} on {os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
