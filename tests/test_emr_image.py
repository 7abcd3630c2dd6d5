"""The EMR Serverless job's Python environment (infra/emr/): no Docker here, so what can be checked without it is.

The image (infra/emr/Dockerfile) is the release's Spark image with Python 3.11 and infra/emr/requirements-job.txt;
the application gets it from EmrImageUri, and every job run points PYSPARK_PYTHON at that Python."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from services.analytics import emr
from tests.cfn import evaluate, failed_rules, load_template, parameter_values

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "infra" / "emr" / "Dockerfile"
JOB_REQUIREMENTS = ROOT / "infra" / "emr" / "requirements-job.txt"
BASE = {"MicrosoftAppId": "6f1c0e2a-1111-4000-8000-000000000abc", "MicrosoftAppPassword": "secret"}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/teams-gateway-emr:2026-12-07"


def _pins(path: Path) -> dict[str, str]:
    """Return {name: version} of a requirements file's `name==version` lines (names normalised)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_job_requirements_are_the_analytics_pins() -> None:
    job, analytics = _pins(JOB_REQUIREMENTS), _pins(ROOT / "requirements-analytics.txt")
    assert {"numpy", "pandas", "pyarrow", "scipy", "scikit-learn"} <= set(job)
    assert {name: analytics.get(name) for name in job} == job


def test_the_dockerfile_is_the_applications_release_with_python_311_and_the_job_requirements() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and line[0] != "#"]
    release = load_template()["Resources"]["EmrApplication"]["Properties"]["ReleaseLabel"]
    assert lines[0] == f"FROM public.ecr.aws/emr-serverless/spark/{release}:latest"
    assert lines[-1] == "USER hadoop:hadoop"  # EMR Serverless refuses to run an image as root
    text = DOCKERFILE.read_text()
    assert "dnf install -y python3.11 python3.11-pip" in text and emr.JOB_PYTHON == "/usr/bin/python3.11"
    assert "COPY infra/emr/requirements-job.txt /tmp/requirements-job.txt" in text
    assert f"{emr.JOB_PYTHON} -m pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements-job.txt" in text
    assert "pyspark" not in _pins(JOB_REQUIREMENTS)  # the image's own Spark brings it: a second one would clash


def test_every_job_run_points_the_driver_and_the_executors_at_the_images_python() -> None:
    words = shlex.split(emr.submit_parameters("s3://artifacts/emr/gateway.zip"))
    confs = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "--conf")
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == emr.JOB_PYTHON
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON"] == emr.JOB_PYTHON
    assert confs["spark.executorEnv.PYSPARK_PYTHON"] == emr.JOB_PYTHON
    assert words[:2] == ["--py-files", "s3://artifacts/emr/gateway.zip"]


def test_the_application_takes_the_image_and_emr_is_refused_without_it() -> None:
    template = load_template()
    application = template["Resources"]["EmrApplication"]["Properties"]
    assert application["ImageConfiguration"] == {"ImageUri": {"Ref": "EmrImageUri"}}
    assert application["Architecture"] == "X86_64"  # the image is built for linux/amd64 (docs/deploy.md)
    buckets = {**BASE, "EnableEmrServerless": "true", "DataBucket": "events", "EmrArtifactsBucket": "artifacts"}
    refused = failed_rules(template, parameter_values(template, buckets))
    assert any("EnableEmrServerless needs EmrImageUri" in text for text in refused)
    assert not [t for t in failed_rules(template, parameter_values(template, {**buckets, "EmrImageUri": IMAGE}))
                if "Emr" in t]  # fmt: skip
    conditions = template["Conditions"]  # and for cfn-lint: no application without an image
    assert evaluate(conditions["EmrOn"], parameter_values(template, buckets), conditions) is False


def test_the_image_parameter_takes_only_an_ecr_image() -> None:
    pattern = load_template()["Parameters"]["EmrImageUri"]["AllowedPattern"]
    good = ["", IMAGE, "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/emr/job@sha256:" + "0" * 64]
    bad = ["public.ecr.aws/emr-serverless/spark/emr-7.5.0:latest", "teams:latest", IMAGE + " ; rm -rf /",
           "123456789012.dkr.ecr.eu-west-1.amazonaws.com/job"]  # fmt: skip
    assert [bool(re.fullmatch(pattern, value)) for value in good + bad] == [True] * 3 + [False] * 4


def _image_site(into: Path) -> Path:
    """Return a folder holding (as links) only the distributions of requirements-job.txt, what they require here,
    and the EMR image's own pyspark and py4j: the site-packages the job's Python has on EMR."""
    from packaging.requirements import Requirement

    names, todo = set(), [*_pins(JOB_REQUIREMENTS), "pyspark", "py4j"]
    while todo:
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(re.sub(r"[-_.]+", "-", requirement.name).lower())
    into.mkdir()
    for name in names:
        distribution = importlib.metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}:
            if not (into / top).exists():
                (into / top).symlink_to(Path(str(distribution.locate_file(top))).resolve())
    return into


_JOB = r"""
import json, sys
import pandas as pd
from pyspark.sql.pandas import utils  # what Spark checks before mapInPandas and Arrow conversion
from services.analytics import drift, spark_engine, spark_job, summaries  # the job's modules, driver and executors
for check in (utils.require_minimum_pandas_version, utils.require_minimum_pyarrow_version,
              utils.require_minimum_numpy_version):
    check()
reference, current = (pd.read_parquet(folder) for folder in sys.argv[1:3])
from services.analytics.commands import _drift_options
options = _drift_options(spark_job._values(json.loads(sys.argv[3])))
result = drift.analyse(reference, current, options)  # the tests and the adversarial validation the driver runs
from services.analytics import metrics, spark_metrics  # the job's `kind: metrics`: its driver evaluates counts
scored = current.assign(y=(current["x"] > 0.8).astype(int), p=current["x"].rank(pct=True))
auc = metrics.evaluate(scored, "y", "p").value("roc_auc")
print(json.dumps({"drift": result.dataset_drift, "adversarial": result.adversarial is not None, "auc": auc}))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None and "MAKELEVEL" not in os.environ,
    reason="needs pyspark (requirements-spark.txt; `make test` installs it)",
)
def test_the_jobs_code_runs_with_only_the_images_libraries_importable(tmp_path: Path) -> None:
    # The job's modules and the analysis its driver runs (the statistics, then the adversarial validation on a
    # sample) in a Python without its site-packages (-S): only the standard library, the gateway's code, pyspark
    # and requirements-job.txt's closure import. A library the job needs and the image lacks fails here
    # (scikit-learn did, before it was in the file). No Spark session: infra/emr/check_release_spark.py runs the
    # whole job, on the release's pyspark too (minutes).
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    for name, shift in (("ref", 0.0), ("cur", 0.8)):
        folder = tmp_path / name
        folder.mkdir()
        pd.DataFrame({"x": rng.normal(shift, 1, 600), "g": rng.choice(["a", "b"], 600)}).to_parquet(
            folder / "part-0.parquet", index=False
        )
    done = subprocess.run(
        [sys.executable, "-S", "-c", _JOB, str(tmp_path / "ref"), str(tmp_path / "cur"), "{}"], capture_output=True,
        text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(_image_site(tmp_path / "site")), str(ROOT)])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"drift": True, "adversarial": True, "auc": 1.0}


def test_the_release_spark_check_knows_the_templates_release() -> None:
    # infra/emr/check_release_spark.py runs the job on the release's own pyspark: a new ReleaseLabel needs its
    # Spark version there (the release notes), or the check would test the old one
    import runpy

    check = runpy.run_path(str(ROOT / "infra" / "emr" / "check_release_spark.py"))
    assert check["release"]() == load_template()["Resources"]["EmrApplication"]["Properties"]["ReleaseLabel"]
    assert check["release"]() in check["RELEASE_SPARK"]


def test_deploy_md_gives_the_operator_steps_and_says_nothing_ran_on_emr() -> None:
    section = (ROOT / "docs" / "deploy.md").read_text().split("## Large data on EMR Serverless", 1)[1].split("\n## ")[0]
    steps = ["aws ecr create-repository", "aws ecr set-repository-policy", '"Service": "emr-serverless.amazonaws.com"',
             "docker build --platform linux/amd64 -f infra/emr/Dockerfile", "docker push",
             "make emr-artifacts EMR_ARTIFACTS_BUCKET=", "`EmrImageUri`"]  # fmt: skip
    assert [step for step in steps if step not in section] == []
    assert section.index("docker push") < section.index("make emr-artifacts") < section.index("Deploy with")
    assert "Nothing here has run on a real EMR Serverless application" in section
    assert emr.JOB_PYTHON in section


def test_the_job_says_in_one_line_when_it_runs_on_the_releases_own_python(monkeypatch) -> None:
    from services.analytics import spark_job

    monkeypatch.setattr(sys, "version_info", (3, 9, 16, "final", 0))
    with pytest.raises(SystemExit, match="needs the Python 3.11 of infra/emr/Dockerfile's image"):
        spark_job.main(["s3://a/", "s3://b/", "s3://out/", "{}"])
