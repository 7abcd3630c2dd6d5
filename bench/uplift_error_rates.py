"""Error rates of uplift's decision rules, measured on simulated experiments, and what they say on real ones.

Simulated (seeded; features x0..x3 uniform, a 3-level region, a 30-value integer code; the base rate
depends on x1):
- null A: no treatment effect at all, no cost (value = successes): targeting and drivers are false claims;
- null B: the same +10-point effect for everyone, revenue 100 and cost 10 (treating anyone breaks even):
  still no targeting value and no driver;
- heterogeneous: +15 points only where x0 > 0.5; the true driver is x0 (found = named among the drivers),
  and the 95% interval of the average effect should cover the true 7.5 points in 95% ± 3% of experiments.
Real: published experiments shipped inside the `causaldata` package (no download at run time): Thornton
(2008) HIV-results incentives in Malawi, the NSW job-training experiment (Dehejia–Wahba sample) and Cai et
al. (2015) weather-insurance information sessions in China.

Usage: python -m bench.uplift_error_rates [RUNS] [ROWS]   (defaults 100 and 3000; goals in the output)
"""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from services.analytics.uplift import analyse, average_effect


def simulated(n: int, seed: int, effect: float, only_x0: bool) -> pd.DataFrame:
    """Return one randomized experiment: `effect` on the success rate, for everyone or only where x0 > 0.5."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.random((n, 4)), columns=["x0", "x1", "x2", "x3"])
    table["region"] = rng.choice(["north", "south", "east"], n)
    table["branch"] = rng.integers(1, 31, n)
    t = rng.integers(0, 2, n)
    lift = effect * ((table.x0 > 0.5) if only_x0 else 1.0)
    table["treated"] = t
    table["paid"] = (rng.random(n) < 0.15 + 0.1 * table.x1 + t * lift).astype(int)
    table["due"] = 100.0
    return table


def rate(hits: int, runs: int) -> str:
    return f"{hits}/{runs} = {hits / runs:.1%}"


def error_rates(runs: int, rows: int) -> None:
    scenarios = {
        "null A (no effect, no cost)": (0.0, False, {}),
        "null B (uniform +10 pts, break-even cost)": (0.10, False, {"revenue": "due", "cost": 10.0}),
        "heterogeneous (+15 pts where x0 > 0.5, cost 5)": (0.15, True, {"revenue": "due", "cost": 5.0}),
    }
    for name, (effect, only_x0, options) in scenarios.items():
        started = time.perf_counter()
        targeted = named = true_driver = true_first = other = flagged = 0
        for seed in range(runs):
            table = simulated(rows, seed, effect, only_x0)
            result = analyse(table, "treated", "paid", bootstrap=20, seed=seed, **options)
            targeted += result["recommendation"]["target"]
            named += bool(result["drivers"])
            names = [d["name"] for d in result["drivers"]]
            true_driver += "x0" in names
            true_first += names[:1] == ["x0"]
            other += any(name != "x0" for name in names)
            flagged += not result["balance"]["randomized_looking"]
        seconds = time.perf_counter() - started
        print(f"{name}: {runs} experiments of {rows:,} rows ({seconds:.0f} s)")
        print(f"  targeting recommended: {rate(targeted, runs)}" + ("   goal ≤ 5%" if not only_x0 else "  (power)"))
        if only_x0:
            print(
                f"  true driver x0 named: {rate(true_driver, runs)}   goal ≥ 80%; named first: {rate(true_first, runs)}"
            )
            print(f"  a feature other than x0 named: {rate(other, runs)}")
        else:
            print(f"  drivers named:         {rate(named, runs)}   goal ≤ 5%")
        print(f"  balance flagged (randomized, so false): {rate(flagged, runs)}   goal ≤ 5%")
    coverage_runs = 10 * runs
    covered = 0
    for seed in range(coverage_runs):
        table = simulated(rows, 100_000 + seed, 0.15, True)
        low, high = average_effect(table.paid.to_numpy(float), table.treated.to_numpy(float))["ci"]
        covered += low <= 0.075 <= high
    print(f"ATE 95% interval covers the true +7.5 pts: {rate(covered, coverage_runs)}   goal 95% ± 3%")


def _causaldata() -> Path | None:
    spec = importlib.util.find_spec("causaldata")  # located, not imported: its __init__ needs statsmodels
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def real_experiments() -> None:
    root = _causaldata()
    if root is None:
        print("Real experiments: install causaldata==0.1.5 (requirements-dev.txt) to run them.")
        return
    thornton = pd.read_stata(root / "thornton_hiv" / "thornton_hiv.dta").drop(columns=["tinc"])
    nsw = pd.read_stata(root / "nsw_mixtape" / "nsw_mixtape.dta").drop(columns=["data_id"])
    cai = pd.read_csv(root / "social_insure" / "Cai_2015.csv").drop(columns=["address"])
    cases = [
        ("Thornton (2008), any incentive → learned HIV result", thornton, "any", "got", {}),
        ("NSW job training (Dehejia–Wahba), treat → 1978 earnings", nsw, "treat", "re78", {}),
        ("Cai et al. (2015), intensive session → insurance take-up", cai, "intensive", "takeup_survey", {}),
    ]
    for title, table, treatment, outcome, options in cases:
        started = time.perf_counter()
        result = analyse(table, treatment, outcome, **options)
        seconds = time.perf_counter() - started
        print(f"\n{title}: {result['rows']['used']:,} rows, {seconds:.1f} s")
        for line in result["summary"]:
            print(f"  - {line}")
        print(f"  features: {', '.join(result['features'])}; left out: {', '.join(result['skipped_columns']) or '-'}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    warnings.simplefilter("ignore")
    with threadpool_limits(1):  # many small fits: one thread each is faster than contended OpenMP threads
        error_rates(runs, rows)
        real_experiments()


if __name__ == "__main__":
    main()
