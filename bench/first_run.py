"""What `make run` costs from nothing: a fresh .venv with the runtime and analytics requirements, empty caches,
installed with uv (the Makefile's way) and with pip (the reference, the same Makefile with uv unavailable), in
the same run. Prints seconds, the ratio and the .venv's size. Needs the network to PyPI; takes minutes.

    python bench/first_run.py [--only uv|pip]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["Makefile", "requirements.txt", "requirements-analytics.txt"]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def first_run(how: str, work: Path) -> tuple[float, float]:
    """Return (seconds, .venv MB) of `make .venv/.runtime` in a fresh copy, with empty caches."""
    folder = work / how
    folder.mkdir()
    for name in FILES:
        shutil.copy(ROOT / name, folder / name)
    env = {**os.environ, "PIP_CACHE_DIR": str(work / f"cache-{how}"), "UV_CACHE_DIR": str(work / f"cache-{how}")}
    extra = ["UV_VERSION=0"] if how == "pip" else []  # `pip install uv==0` fails: the Makefile falls back to pip
    started = time.perf_counter()
    subprocess.run(["make", "-s", ".venv/.runtime", *extra], cwd=folder, env=env, check=True, capture_output=True)
    return time.perf_counter() - started, size_mb(folder / ".venv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["uv", "pip"])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as work:
        results = {how: first_run(how, Path(work)) for how in ("uv", "pip") if args.only in (None, how)}
    for how, (seconds, mb) in results.items():
        print(f"{how:>4}: {seconds:6.1f} s, .venv {mb:5.0f} MB")
    if len(results) == 2:
        print(f"pip / uv: {results['pip'][0] / results['uv'][0]:.1f}x")


if __name__ == "__main__":
    main()
