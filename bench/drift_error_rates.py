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

Issue 21 (`--issue21` runs just these):
- spelled-differently null: random halves of Thornton's table with the current half's 0/1 columns written as
  True/False, as "1"/"0" text or as "1.0"/"0" text (the reference keeps pandas' 0.0/1.0 with blanks): the same
  values, so any "drift" is a false positive (goal <= 5%);
- cluster (repeated-measures) nulls: tables whose entities have several rows (Thornton's villages, gapminder's
  countries over 12 survey years, Grunfeld's firms over 20 years), split at random by row and by entity (all
  rows of an entity on one side). Both are nulls; rows of one entity are not independent, and the tests treat
  them as if they were, so the by-entity rate shows how far that assumption carries (goal <= 5%);
- schema changes: a dropped, an added, a renamed and a type-changed column on random halves must each be
  reported (goal 100%), and same-schema halves must report none (goal 0%).
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
    return sum(analyse(*make(seed), OPTIONS).dataset_drift for seed in range(pairs)) / pairs


def separable(pairs: int, make) -> float:
    """Return the share of `pairs` pairs whose adversarial validation says the tables can be told apart."""
    options = DriftOptions(seed=0)
    said = 0
    for seed in range(pairs):
        result = analyse(*make(seed), options).adversarial
        said += result is not None and result.separable
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


def halves_of(frame: pd.DataFrame, seed: int, entity: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a random split of `frame` in two: by row, or by `entity` (every row of an entity on one side)."""
    rng = np.random.default_rng(seed)
    if entity is None:
        order = rng.permutation(len(frame))
        return frame.iloc[order[: len(frame) // 2]], frame.iloc[order[len(frame) // 2 :]]
    entities = frame[entity].unique()
    chosen = set(rng.permutation(entities)[: len(entities) // 2].tolist())
    inside = frame[entity].isin(chosen)
    return frame[inside], frame[~inside]


def cluster_rates(pairs: int, only: str = "") -> None:
    """Print the entity-split nulls without and with cluster=, then cluster='s power on real shifts."""
    import statsmodels.api as sm
    from causaldata import gapminder, thornton_hiv

    thornton = thornton_hiv.load_pandas().data
    panels = {
        "Thornton 2008, by village (villnum)": (thornton, "villnum", ()),
        "gapminder, 142 countries x 12 years": (gapminder.load_pandas().data, "country", ("year",)),
        "Grunfeld, 11 firms x 20 years": (sm.datasets.grunfeld.load_pandas().data, "firm", ("year",)),
    }
    for title, (frame, entity, ignore) in panels.items():
        if only.lower() not in title.lower():
            continue
        options = DriftOptions(tests_only=True, ignore=(entity, *ignore))
        for by in (None, entity):
            said = sum(analyse(*halves_of(frame, seed, by), options).dataset_drift for seed in range(pairs))
            print(f"cluster null, {title}, split by {'row' if by is None else 'entity'}, {pairs} splits: "
                  f"{said / pairs:6.1%}   (goal <= 5%)", flush=True)  # fmt: skip
        clustered = DriftOptions(tests_only=True, ignore=ignore, cluster=entity)
        said = sum(analyse(*halves_of(frame, seed, entity), clustered).dataset_drift for seed in range(pairs))
        print(f"cluster null, {title}, split by entity, cluster={entity}, {pairs} splits: {said / pairs:6.1%}   "
              "(goal <= 5%)", flush=True)  # fmt: skip
    cluster_power(min(pairs, 20))


def issue21_rates(pairs: int) -> None:
    """Print the spelled-differently null, the cluster nulls (by row and by entity) and the schema-change cases."""
    from causaldata import thornton_hiv

    thornton = thornton_hiv.load_pandas().data
    spellings = {
        "True/False": lambda v: v.map({1.0: True, 0.0: False}),
        '"1"/"0" text': lambda v: v.map({1.0: "1", 0.0: "0"}),
        '"1.0"/"0" text': lambda v: v.map({1.0: "1.0", 0.0: "0"}),
    }
    for label, spell in spellings.items():

        def spelled(seed: int, spell=spell) -> tuple[pd.DataFrame, pd.DataFrame]:
            ref, cur = halves_of(thornton, seed)
            return ref, cur.assign(**{c: spell(cur[c]) for c in ("got", "any")})  # 0/1 with blanks; hiv2004 has -1 too

        print(f"spelled-differently null, Thornton halves, current 0/1 as {label}, {pairs} splits: "
              f"{rate(pairs, spelled):6.1%}   (goal <= 5%)")  # fmt: skip
    cluster_rates(pairs)
    changes = {
        "dropped": lambda cur: cur.drop(columns=["hiv2004"]),
        "added": lambda cur: cur.assign(wave=2),
        "renamed": lambda cur: cur.rename(columns={"distvct": "distance_vct"}),
        "type-changed": lambda cur: cur.assign(age=cur["age"].map(lambda v: f"{v:.0f} years")),
    }
    for label, change in changes.items():
        found = 0
        for seed in range(pairs):
            ref, cur = halves_of(thornton, seed)
            schema = analyse(ref, change(cur), DriftOptions(tests_only=True)).schema
            found += bool(getattr(schema, label.replace("-", "_")))
        print(
            f"schema change reported, {label} column, Thornton halves, {pairs} splits: {found / pairs:6.1%}   "
            "(goal 100%)"
        )
    false_schema = sum(analyse(*halves_of(thornton, seed), DriftOptions(tests_only=True)).schema_changed
                       for seed in range(pairs))  # fmt: skip
    print(
        f"schema change reported on same-schema Thornton halves, {pairs} splits: {false_schema / pairs:6.1%}   "
        "(goal 0%)"
    )


def cluster_power(pairs: int) -> None:
    """Print how often cluster= still finds real shifts between entity splits: a real published contrast
    (gapminder's countries in 1952-1967 against the same countries in 1992-2007: life expectancy and income
    rose) and an entity split of Grunfeld's firms with investment of the current firms raised by 50%."""
    import statsmodels.api as sm
    from causaldata import gapminder

    frame = gapminder.load_pandas().data
    early, late = frame[frame["year"] <= 1967], frame[frame["year"] >= 1992]
    options = DriftOptions(tests_only=True, ignore=("year",), cluster="country")
    found = 0
    for seed in range(pairs):  # each run: a random half of the countries, early against late
        rng = np.random.default_rng(seed)
        countries = set(rng.permutation(frame["country"].unique())[:71].tolist())
        result = analyse(early[early["country"].isin(countries)], late[late["country"].isin(countries)], options)
        found += bool(result.column("lifeExp") and result.column("lifeExp").drifted)
    print(f"power, cluster=country, gapminder 1952-67 vs 1992-2007 (71 countries), lifeExp found, {pairs} runs: "
          f"{found / pairs:6.1%}   (goal >= 90%)")  # fmt: skip
    grunfeld = sm.datasets.grunfeld.load_pandas().data
    options = DriftOptions(tests_only=True, ignore=("year",), cluster="firm")
    found = 0
    for seed in range(pairs):
        ref, cur = halves_of(grunfeld, seed, "firm")
        cur = cur.assign(invest=cur["invest"] * 4)
        result = analyse(ref, cur, options)
        found += bool(result.column("invest") and result.column("invest").drifted)
    print(f"power, cluster=firm, Grunfeld by firm, current firms' invest x4, {pairs} runs: {found / pairs:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--adversarial-only", action="store_true")
    parser.add_argument("--issue21", action="store_true", help="only the issue 21 cases (spelling, clusters, schema)")
    parser.add_argument("--clusters", action="store_true", help="only the entity splits, without and with cluster=")
    parser.add_argument("--only", default="", help="with --clusters: only the panels whose title contains this")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.adversarial_only:
        adversarial_rates(args.pairs)
        return
    if args.clusters:
        cluster_rates(args.pairs, args.only)
        print(f"({time.perf_counter() - started:.0f} s)")
        return
    if args.issue21:
        issue21_rates(args.pairs)
        print(f"({time.perf_counter() - started:.0f} s)")
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
    issue21_rates(min(args.pairs, 100))
    for label, shift in (("0.15 sd mean shift in x0", {"shift_sd": 0.15}),
                         ("10-point share shift of grade 'a'", {"share_shift": 0.10})):  # fmt: skip
        power = rate(args.pairs, lambda s, k=shift: (table(np.random.default_rng(2 * s), 5_000),
                                                     table(np.random.default_rng(2 * s + 1), 5_000, **k)))  # fmt: skip
        print(f"power, {label}, 5,000 rows per side, {args.pairs} pairs: {power:6.1%}   (goal >= 90%)")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
