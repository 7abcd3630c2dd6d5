"""Build and upload the EMR Serverless job: `python -m infra.emr_artifacts BUCKET` (`make emr-artifacts`).

Writes build/emr/spark_job.py (the entry point) and build/emr/gateway.zip (the `services` package, for
`--py-files`) and uploads both to s3://BUCKET/emr/, where template.yaml's job role may read them and the worker
points the job runs (EMR_JOB_URI, EMR_CODE_URI). `--no-upload` only builds.

The job's Python is not the EMR release's (3.9, without the libraries): it is the application's custom image,
infra/emr/Dockerfile (Python 3.11 with infra/emr/requirements-job.txt: numpy, pandas, pyarrow, scipy,
scikit-learn at the analytics pins), which the operator builds and pushes (docs/deploy.md) and template.yaml's
EmrImageUri names; the job runs point PYSPARK_PYTHON at it (services/analytics/emr.py).
"""

from __future__ import annotations

import argparse
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("__pycache__", ".pyc")


def build(into: Path) -> list[Path]:
    """Write the job script and the code archive into `into`; return their paths."""
    into.mkdir(parents=True, exist_ok=True)
    script = into / "spark_job.py"
    shutil.copyfile(ROOT / "services" / "analytics" / "spark_job.py", script)
    archive = into / "gateway.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted((ROOT / "services").rglob("*")):
            if path.is_file() and not any(part in SKIPPED or path.suffix in SKIPPED for part in path.parts):
                zipped.write(path, path.relative_to(ROOT).as_posix())
    return [script, archive]


def upload(paths: list[Path], bucket: str) -> list[str]:
    """Upload `paths` to s3://bucket/emr/; return their URIs."""
    import boto3

    client = boto3.client("s3")
    uris = []
    for path in paths:
        client.upload_file(str(path), bucket, f"emr/{path.name}")
        uris.append(f"s3://{bucket}/emr/{path.name}")
    return uris


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bucket", help="EmrArtifactsBucket of template.yaml")
    parser.add_argument("--no-upload", action="store_true", help="only build into build/emr/")
    args = parser.parse_args()
    paths = build(ROOT / "build" / "emr")
    for line in [str(p) for p in paths] if args.no_upload else upload(paths, args.bucket):
        print(line)


if __name__ == "__main__":
    main()
