"""The EMR Serverless job: `spark-submit spark_job.py REFERENCE CURRENT OUTPUT OPTIONS_JSON` (drift), or
`spark-submit spark_job.py SOURCE OUTPUT OPTIONS_JSON` with `"kind": "metrics"` in the options (metrics).

The same code as the local Spark path (services/analytics/spark_engine.py), on the cluster's session; the gateway's
`services/` arrives as `--py-files gateway.zip` (`make emr-artifacts` builds and uploads both). The result is
written as one JSON line under OUTPUT (Spark's text output, one part file), which services/analytics/emr.py reads
when the run has ended.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(argv: list[str]) -> None:
    """The cluster's entry point: `run` on the cluster's session, then stop it."""
    # the release's own Python (3.9) when the application runs without its image: one line in the driver log
    if sys.version_info < (3, 11):  # noqa: UP036 - the job runs on whatever Python EMR gives it
        raise SystemExit(f"This job needs the Python 3.11 of infra/emr/Dockerfile's image, not {sys.executable}.")
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("teams-gateway-drift").getOrCreate()
    run(spark, argv)
    spark.stop()


def run(spark: Any, argv: list[str]) -> dict[str, Any]:
    """Run the options' `kind` (drift when absent: on REFERENCE and CURRENT; metrics: on SOURCE) with the
    command's options (JSON), write the result as one JSON line under OUTPUT and return it."""
    from services.analytics.commands import METRICS, _drift_options
    from services.analytics.spark_engine import spark_drift

    *sources, output, options = argv
    given = json.loads(options)
    if given.get("kind") == "metrics":
        from services.analytics.spark_metrics import spark_metrics

        (source,) = sources
        result = spark_metrics(spark, source, _values(given, METRICS))[0].to_dict()
    else:
        reference, current = sources
        result = spark_drift(spark, reference, current, _drift_options(_values(given))).to_dict()
    line = json.dumps(result, default=_plain)
    spark.sparkContext.parallelize([line], 1).saveAsTextFile(output)
    return json.loads(line)


def _values(given: dict[str, Any], spec: Any = None) -> dict[str, Any]:
    from services.analytics.commands import DRIFT, check_values

    return check_values(spec or DRIFT, {k: v for k, v in given.items() if k not in ("engine", "kind")})


def _plain(value: Any) -> Any:
    """numpy numbers and arrays as JSON numbers and lists."""
    return value.item() if hasattr(value, "item") else value.tolist() if hasattr(value, "tolist") else str(value)


if __name__ == "__main__":
    main(sys.argv[1:])
