"""The command line, `python -m bot ...`: `serve` runs the bot, `chat` the terminal Teams emulator,
`feedback-export` writes the collected 👍/👎 (joined to the audit record of each answer), `usage-export` the
token use and estimated cost per day as CSV."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from bot.emulator import cli as chat_cli
from entrypoints.local import serve
from entrypoints.wiring import create_store
from services.settings import SettingsError, load_settings


async def _export_feedback(path: str) -> int:
    """Write every stored 👍/👎 as JSON lines to `path` ('-' is standard output), each with `audit`: the audit
    record of the answer it judged (None when not found within AUDIT_RETENTION_DAYS); return how many. Reads the
    store STORE names (SQLite at STATE_DB, or DynamoDB) and the audit log the settings name (AUDIT_DIR or S3)."""
    from services.usage.audit import audit_log_from_settings, join_feedback

    settings = load_settings()
    store = create_store(settings)
    try:
        feedback = [f.model_dump(mode="json") for f in await store.list_feedback()]
    finally:
        await store.close()
    records = await audit_log_from_settings(settings).read(settings.audit_retention_days) if feedback else []
    rows = [json.dumps(row, ensure_ascii=False) for row in join_feedback(feedback, records)]
    _write(path, "".join(f"{row}\n" for row in rows))
    return len(rows)


async def _export_usage(path: str, days: int) -> int:
    """Write the usage tallies of the last `days` days as CSV to `path` ('-' is standard output); return the rows.
    Reads the usage store the worker writes: DynamoDB when USAGE_TABLE is set, else SQLite at STATE_DB."""
    from services.usage.report import period, to_csv
    from services.usage.service import usage_service_from_settings

    usage = usage_service_from_settings(load_settings())
    if usage is None:
        raise SettingsError("Invalid setting USAGE_TABLE: required to read usage when STORE is dynamodb")
    try:
        rows = await usage.store.rows(*period(days))
    finally:
        await usage.close()
    _write(path, to_csv(rows))
    return len(rows)


def _write(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code (1 when standard output was
    closed early, as by `| head`: quietly, without a traceback)."""
    try:
        try:
            return _main(argv)
        finally:  # also after argparse's --help, whose SystemExit would leave the flush to the interpreter's exit
            sys.stdout.flush()
    except BrokenPipeError:
        # Python's documented recipe: point stdout at devnull so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Microsoft Teams gateway to company AI.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="run the bot (settings from the environment and .env)")
    serve_command.add_argument("--dev", action="store_true",
                               help="local development: also allow attachments from http://127.0.0.1 and replies to "
                               "the emulator on loopback, unless DOWNLOAD_ALLOWED_HOSTS / BOT_SERVICE_HOSTS "
                               "are set")  # fmt: skip
    chat_cli.add_arguments(commands.add_parser("chat", help="chat with a running bot as Teams would"))
    export = commands.add_parser("feedback-export", help="write the stored 👍/👎 feedback as JSON lines")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    usage = commands.add_parser("usage-export", help="write token use and estimated cost per day as CSV")
    usage.add_argument("--days", type=int, default=30, choices=range(1, 401), metavar="N",
                       help="the last N days, today included (UTC; default 30)")  # fmt: skip
    usage.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(dev=args.dev)
    exports = {
        "feedback-export": (lambda: _export_feedback(args.output), "feedback record(s)"),
        "usage-export": (lambda: _export_usage(args.output, args.days), "usage row(s)"),
    }
    if args.command in exports:
        export_to, what = exports[args.command]
        try:
            count = asyncio.run(export_to())
        except SettingsError as problem:
            print(problem, file=sys.stderr)
            return 2
        print(f"exported {count} {what}", file=sys.stderr)
        return 0
    return chat_cli.main(args)
