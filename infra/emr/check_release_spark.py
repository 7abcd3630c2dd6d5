"""Run the EMR job on the application's own Spark version here: `python infra/emr/check_release_spark.py`.

The tests run the job on requirements-spark.txt's pyspark; the EMR Serverless release (template.yaml's
ReleaseLabel) brings an older Spark, whose Python side the job then uses with the image's libraries
(infra/emr/requirements-job.txt). This installs that pyspark from PyPI into build/emr/pyspark-<version>/ (about
320 MB, once; needs Java), runs services/analytics/spark_job.py on the same generated Parquet prefixes with it and
with the local pyspark, and prints both verdicts and whether the results are equal. Slow (two Spark sessions):
run it with `nice` when the release or the pins change, not in the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE_SPARK = {"emr-7.5.0": "3.5.2"}  # the EMR Serverless release notes: Apache Spark of each release
PY4J = {"3.5.2": "0.10.9.7"}

_JOB = r"""
import json, sys
import numpy as np, pandas as pd, pyspark
from pathlib import Path
tmp = Path(sys.argv[1])
rng = np.random.default_rng(7)
for name, shift in (("ref", 0.0), ("cur", 0.3)):
    for k in range(2):
        folder = tmp / name / f"part={k}"
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"x": rng.normal(shift, 1, 1500), "g": rng.choice(["a", "b", "c"], 1500),
                      "n": rng.integers(0, 5, 1500)}).to_parquet(folder / "d.parquet", index=False)
from services.analytics import spark_engine, spark_job
spark = spark_engine.local_session(cores=2, memory="768m", java_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
spark.sparkContext.setLogLevel("ERROR")
result = spark_job.run(spark, [str(tmp / "ref"), str(tmp / "cur"), str(tmp / "out"), json.dumps({"ignore": ["part"]})])
spark.stop()
print(json.dumps({"pyspark": pyspark.__version__, "pandas": pd.__version__, "result": result}))
"""


def release() -> str:
    """Return template.yaml's EmrApplication ReleaseLabel."""
    for line in (ROOT / "template.yaml").read_text().splitlines():
        if line.strip().startswith("ReleaseLabel:"):
            return line.split(":", 1)[1].split("#")[0].strip()
    raise SystemExit("template.yaml has no ReleaseLabel")


def _install(version: str) -> Path:
    target = ROOT / "build" / "emr" / f"pyspark-{version}"
    if not (target / ".complete").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                        str(target), f"pyspark=={version}", f"py4j=={PY4J[version]}"], check=True)  # fmt: skip
        (target / ".complete").touch()
    return target


def _run(extra_path: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*extra_path, str(ROOT)])}
        done = subprocess.run([sys.executable, "-c", _JOB, folder], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    label = release()
    version = RELEASE_SPARK[label]
    theirs = _run([str(_install(version))])
    ours = _run([])
    for name, run in ((f"{label} (pyspark {version})", theirs), ("requirements-spark.txt", ours)):
        result = run["result"]
        print(f"{name}: pyspark {run['pyspark']}, pandas {run['pandas']}: drift {result['dataset_drift']}, "
              f"drifted {[c['name'] for c in result['columns'] if c.get('drifted')]}")  # fmt: skip
    print("results equal:", theirs["result"] == ours["result"])


if __name__ == "__main__":
    main()
