"""Write the Sentry release tag into a built package, where neither git nor pyproject.toml exists at run time.

    python infra/stamp_release.py OUTPUT_FILE [--root REPO]

Writes `teams-ai-gateway@<version in pyproject.toml>`, with `+<git short sha>` when the repository is a git
checkout and git is installed. services/observability/sentry.py's release() reads the file. Standard library
only: it runs in the build script and in the analytics image's Dockerfile.
"""

from __future__ import annotations

import argparse
import subprocess
import tomllib
from pathlib import Path

PROJECT = "teams-ai-gateway"


def build_release(root: Path) -> str:
    """Return `teams-ai-gateway@<version>[+<short sha>]` for the repository at `root`."""
    version = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{PROJECT}@{version}+{sha}" if sha else f"{PROJECT}@{version}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    args.output.write_text(build_release(args.root) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
