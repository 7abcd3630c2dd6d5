"""The command line, `python -m bot ...`: `serve` runs the bot, `chat` the terminal Teams emulator,
`feedback-export` writes the collected 👍/👎."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.emulator import cli as chat_cli
from entrypoints.local import serve
from services.settings import SettingsError, load_settings
from services.store import SQLiteStore


async def _export_feedback(path: str) -> int:
    """Write every stored 👍/👎 as JSON lines to `path` ('-' is standard output); return how many."""
    store = SQLiteStore(load_settings().state_db)
    try:
        rows = [json.dumps(f.model_dump(mode="json"), ensure_ascii=False) for f in await store.list_feedback()]
    finally:
        await store.close()
    text = "".join(f"{row}\n" for row in rows)
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Microsoft Teams gateway to company AI.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the bot (settings from the environment and .env)")
    chat_cli.add_arguments(commands.add_parser("chat", help="chat with a running bot as Teams would"))
    export = commands.add_parser("feedback-export", help="write the stored 👍/👎 feedback as JSON lines")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve()
    if args.command == "feedback-export":
        try:
            count = asyncio.run(_export_feedback(args.output))
        except SettingsError as problem:
            print(problem, file=sys.stderr)
            return 2
        print(f"exported {count} feedback record(s)", file=sys.stderr)
        return 0
    return chat_cli.main(args)
