"""`python -m bot serve` runs the bot; `python -m bot chat` runs the terminal Teams emulator."""

from __future__ import annotations

import argparse
import sys

from bot.emulator import cli as chat_cli
from bot.server import serve


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Microsoft Teams gateway to company AI.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the bot (settings from the environment and .env)")
    chat_cli.add_arguments(commands.add_parser("chat", help="chat with a running bot as Teams would"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve()
    return chat_cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
