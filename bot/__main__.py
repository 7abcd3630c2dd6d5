"""`python -m bot ...`: the command line (see entrypoints/cli.py)."""

import sys

from entrypoints.cli import main

if __name__ == "__main__":
    sys.exit(main())
