"""How often `drift` says "drift" on pure noise (false positives) and on known shifts (power), tests only.

    python -m bench.drift_error_rates            # 200 pairs per size (a few minutes)
    python -m bench.drift_error_rates --pairs 50 # quicker

Same-distribution pairs: 10 mixed columns (normal and skewed numerics, a 5-level and a 40-level category,
a boolean, a name-like text column with thousands of values, missing values in three columns) at 100, 500
and 5,000 rows per side; and random halves of real tables shipped in `causaldata` (Thornton 2008, NSW),
which no one here wrote. Power: 5,000 rows per side with a 0.15 sd mean shift in one column, or a 10-point
share shift in one category. Goals: false positives ≤ 5% at every size, power ≥ 90%.
Adversarial validation's wording ("a model can tell the tables apart", said only when the AUC's 95% interval
lies above 0.5 and the AUC reaches 0.55): how often it is said on the same noise pairs (100 pairs per size;
`--pairs` caps it). `--adversarial-only` runs just that part.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from services.analytics.drift import DriftOptions, analyse

OPTIONS = DriftOptions(tests_only=True)


def table(rng: np.random.Generator, rows: int, *, shift_sd: float = 0.0, share_shift: float = 0.0) -> pd.DataFrame:
    """Return one synthetic table of the mixed kinds above; the shifts move `x0` and the category `a`."""
    levels = np.array(list("abcde"))
    base = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    shares = base + np.array([share_shift, -share_shift / 4, -share_shift / 4, -share_shift / 4, -share_shift / 4])
    frame = pd.DataFrame({
        "x0": rng.normal(shift_sd, 1, rows),
        "x1": rng.lognormal(0, 1, rows),
        "x2": rng.poisson(3, rows).astype(float),
        "grade": rng.choice(levels, rows, p=shares),
        "region": rng.choice([f"r{i}" for i in range(40)], rows),
        "flag": rng.random(rows) < 0.3,
        "name": [f"person {i}" for i in rng.integers(0, 20_000, rows)],
        "x3": rng.normal(0, 1, rows),
        "x4": rng.exponential(1, rows),
        "cat2": rng.choice(["low", "mid", "high"], rows, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    for column, share in (("x1", 0.05), ("region", 0.1), ("x4", 0.02)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return frame


def rate(pairs: int, make) -> float:
    """Return the share of `pairs` pairs from `make(seed)` that `drift` calls drifted."""
    return sum(analyse(*make(seed), OPTIONS)["dataset_drift"] for seed in range(pairs)) / pairs


def separable(pairs: int, make) -> float:
    """Return the share of `pairs` pairs whose adversarial validation says the tables can be told apart."""
    options = DriftOptions(seed=0)
    said = 0
    for seed in range(pairs):
        result = analyse(*make(seed), options)["adversarial"]
        said += result is not None and result["separable"]
    return said / pairs


def adversarial_rates(pairs: int) -> None:
    """Print how often adversarial validation says the tables can be told apart on same-distribution pairs."""
    pairs = min(pairs, 100)
    for rows in (100, 500, 5_000):
        said = separable(pairs, lambda s, n=rows: (table(np.random.default_rng(2 * s), n),
                                                   table(np.random.default_rng(2 * s + 1), n)))  # fmt: skip
        print(f"adversarial 'can tell apart', {rows:>5} rows per side, {pairs} pairs: {said:6.1%}   (goal <= 5%)")


def real_tables() -> dict[str, pd.DataFrame]:
    """Return published tables shipped in causaldata (empty when it is not installed)."""
    try:
        from causaldata import nsw_mixtape, thornton_hiv
    except ImportError:
        return {}
    return {"Thornton 2008 (HIV)": thornton_hiv.load_pandas().data, "NSW job training": nsw_mixtape.load_pandas().data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--adversarial-only", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.adversarial_only:
        adversarial_rates(args.pairs)
        return
    for rows in (100, 500, 5_000):
        fp = rate(args.pairs, lambda s, n=rows: (table(np.random.default_rng(2 * s), n),
                                                 table(np.random.default_rng(2 * s + 1), n)))  # fmt: skip
        print(f"false positives, {rows:>5} rows per side, {args.pairs} pairs: {fp:6.1%}   (goal <= 5%)")
    for title, frame in real_tables().items():

        def halves(seed: int, frame=frame) -> tuple[pd.DataFrame, pd.DataFrame]:
            order = np.random.default_rng(seed).permutation(len(frame))
            return frame.iloc[order[: len(frame) // 2]], frame.iloc[order[len(frame) // 2 :]]

        print(f"false positives, random halves of {title} ({len(frame)} rows), {args.pairs} splits: "
              f"{rate(args.pairs, halves):6.1%}   (goal <= 5%)")  # fmt: skip
    adversarial_rates(args.pairs)
    for label, shift in (("0.15 sd mean shift in x0", {"shift_sd": 0.15}),
                         ("10-point share shift of grade 'a'", {"share_shift": 0.10})):  # fmt: skip
        power = rate(args.pairs, lambda s, k=shift: (table(np.random.default_rng(2 * s), 5_000),
                                                     table(np.random.default_rng(2 * s + 1), 5_000, **k)))  # fmt: skip
        print(f"power, {label}, 5,000 rows per side, {args.pairs} pairs: {power:6.1%}   (goal >= 90%)")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
