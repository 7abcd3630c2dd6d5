"""One whole drift job in its own process, as a person would run it: `python bench/_drift_job.py TOOL REF CUR`.

TOOL is `ours` (the gateway's analysis, tests only), `ours-full` (with adversarial validation) or
`evidently` (DataDriftPreset). Prints the tool's verdict and this process's peak memory in MB.
"""

from __future__ import annotations

import resource
import sys


def main(tool: str, reference_path: str, current_path: str) -> None:
    import pandas as pd

    if tool.startswith("ours"):
        from services.analytics.drift import DriftOptions, analyse
        from services.analytics.tables import read_table

        result = analyse(read_table(reference_path), read_table(current_path), DriftOptions(tests_only=tool == "ours"))
        verdict = f"{len(result.drifted)} drifted columns"
    else:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        reference, current = pd.read_parquet(reference_path), pd.read_parquet(current_path)
        snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
        metrics = snapshot.dict()["metrics"]
        verdict = str(metrics[0].get("value", ""))[:80]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{verdict}|{peak:.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
