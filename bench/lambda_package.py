"""The Lambda ingress's size and speed: unzipped and zipped package size, its import graph, its cold import
time as a ratio to `import botbuilder.core, aiohttp` alone, and the acknowledgement latency of the Lambda
HTTP entry called in-process (SQS and DynamoDB on moto's server on loopback).

    python bench/lambda_package.py            # all figures (run `make deploy-check` first to build the zips)
    python bench/lambda_package.py --check    # only the limits: exit 1 when the ingress is over 50 MB unzipped
                                              # or any analytics library is in its zip or import graph
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUILD = ROOT / "build" / "sam"
HEAVY = ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "pyarrow")
LIMIT_BYTES = 50 * 1024 * 1024


def package(function: str) -> Path:
    """Return the folder `sam build` made for a zip function."""
    return BUILD / function / function


def sizes(folder: Path) -> tuple[int, int]:
    """Return (unzipped bytes, zipped bytes) of a function folder, zipped as `sam deploy` zips it."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return sum(p.stat().st_size for p in files), buffer.tell()


def heavy_in_zip(folder: Path) -> list[str]:
    """Return the analytics libraries present as top-level packages in the folder."""
    return sorted(name for name in HEAVY if (folder / name).exists())


def heavy_imported() -> list[str]:
    """Return the analytics libraries that `import entrypoints.lambda_ingress` loads (a fresh interpreter)."""
    code = (
        "import sys, entrypoints.lambda_ingress; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout.strip().replace("'", '"'))


def import_seconds(statement: str, runs: int) -> list[float]:
    """Return the wall time of `statement` in `runs` fresh interpreters (the import alone)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout)
        for _ in range(runs)
    ]


def ack_latency(count: int) -> list[float]:
    """Return the seconds each of `count` personal-chat messages took through the Lambda HTTP entry."""
    import boto3

    from bot.emulator.activities import TeamsChannel
    from tests.aws import aws_environment, create_fifo_queues, create_table, moto_server
    from tests.test_lambda import http_event

    with moto_server() as url:
        os.environ.update(aws_environment(url))
        chat, _ = create_fifo_queues(boto3.client("sqs"), "bench-chat")
        analytics, _ = create_fifo_queues(boto3.client("sqs"), "bench-analytics")
        os.environ.update(
            STORE="dynamodb", DYNAMODB_TABLE=create_table(boto3.client("dynamodb")), QUEUE="sqs",
            CHAT_QUEUE_URL=chat, ANALYTICS_QUEUE_URL=analytics,
        )  # fmt: skip
        import entrypoints.lambda_ingress as ingress

        channel = TeamsChannel("https://smba.trafficmanager.net/emea/")
        ingress.handler(http_event(channel.message("warm-up")))
        timings = []
        for i in range(count):
            event = http_event(channel.message(f"question {i}"))
            started = time.perf_counter()
            response = ingress.handler(event)
            timings.append(time.perf_counter() - started)
            assert response["statusCode"] == 200, response
        return timings


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the limits only (used by make deploy-check)")
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per import timing")
    parser.add_argument("--acks", type=int, default=300, help="messages for the acknowledgement latency")
    args = parser.parse_args()

    ingress = package("IngressFunction")
    if not ingress.is_dir():
        print("no ingress build: run `make deploy-check` (sam build) first", file=sys.stderr)
        return 2
    unzipped, zipped = sizes(ingress)
    in_zip, imported = heavy_in_zip(ingress), heavy_imported()
    print(f"ingress package: {unzipped / 2**20:.1f} MB unzipped (limit 50 MB), {zipped / 2**20:.1f} MB zipped")
    print(f"analytics libraries in the ingress zip: {in_zip or 'none'}; in its import graph: {imported or 'none'}")
    failed = unzipped > LIMIT_BYTES or in_zip or imported
    if args.check:
        return 1 if failed else 0

    worker = package("ChatWorkerFunction")
    if worker.is_dir():
        w_unzipped, w_zipped = sizes(worker)
        print(f"chat worker package: {w_unzipped / 2**20:.1f} MB unzipped, {w_zipped / 2**20:.1f} MB zipped")
    ours = import_seconds("import entrypoints.lambda_ingress", args.runs)
    reference = import_seconds("import botbuilder.core, aiohttp", args.runs)
    print(
        f"cold import (median of {args.runs} fresh interpreters): ingress {statistics.median(ours) * 1000:.0f} ms, "
        f"`import botbuilder.core, aiohttp` {statistics.median(reference) * 1000:.0f} ms, "
        f"ratio {statistics.median(ours) / statistics.median(reference):.2f}x (goal <= 1.3x)"
    )
    acks = ack_latency(args.acks)
    print(
        f"Lambda HTTP entry in-process, {args.acks} messages (SQS + DynamoDB on moto's server): "
        f"ack p50 {percentile(acks, 50) * 1000:.1f} ms, p99 {percentile(acks, 99) * 1000:.1f} ms"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
