"""The metric glossary: complete entries, synonyms and misspellings, suggestions for unknown names."""

from __future__ import annotations

import pytest

from services.analytics.glossary import glossary

REQUIRED = [
    "accuracy", "precision", "recall", "f1", "threshold", "confusion_matrix", "roc_auc", "pr_auc", "log_loss",
    "normalized_entropy", "calibration", "brier", "recalibration", "ndcg", "mrr", "map", "hit_rate", "mae", "rmse",
    "r2", "qini", "auuc", "uplift_at_k", "qini_interval", "ate", "targeting_decision", "smd", "driver_weight",
    "learner", "p_value", "psi", "ks", "wasserstein", "jensen_shannon", "chi_square", "adversarial_auc", "base_rate",
    "residuals", "mean_shift", "ece", "gini",
]  # fmt: skip


def test_every_required_entry_is_complete():
    terms = glossary()
    assert terms.version
    for key in REQUIRED:
        entry = terms.entries[key]
        for field in ("name", "meaning", "formula", "range", "good", "when"):
            assert getattr(entry, field).strip(), (key, field)
        assert entry.pitfalls and all(r in terms.entries for r in entry.related), key


def test_conventions_are_stated():
    terms = glossary()
    assert "linear gain" in terms.entries["ndcg"].formula
    assert "min(k, R_q)" in terms.entries["map"].formula
    assert "evaluated data" in terms.entries["normalized_entropy"].formula
    assert "p / (p + (1 − p) / w)" in terms.entries["recalibration"].formula


@pytest.mark.parametrize(
    ("asked", "key"),
    [("auc", "roc_auc"), ("roc-auc", "roc_auc"), ("ROC AUC", "roc_auc"), ("ne", "normalized_entropy"),
     ("ndcg@10", "ndcg"), ("NDCG", "ndcg"), ("map@5", "map"), ("hit rate at 10", "hit_rate"), ("logloss", "log_loss"),
     ("preicsion", "precision"), ("recal", "recall"), ("calibraton", "calibration"), ("r²", "r2"),
     ("mean average precison", "map"), ("F1 score", "f1"), ("average precision", "pr_auc"),
     # the uplift card says "cluster-robust (CR2, cluster bootstrap …)": `explain cr2` answered R² before
     ("cr2", "cluster_robust"), ("CR2", "cluster_robust"), ("cluster", "cluster_robust"),
     ("cluster-robust", "cluster_robust")],
)  # fmt: skip
def test_synonyms_and_misspellings_resolve(asked, key):
    entry, suggestions = glossary().resolve(asked)
    assert entry is not None and entry.key == key


def test_unknown_names_get_close_suggestions_or_none():
    entry, suggestions = glossary().resolve("precission recal curve")
    assert entry is None or entry.key in ("pr_auc", "precision", "recall")
    entry, suggestions = glossary().resolve("ndgc")
    assert entry is None and suggestions and suggestions[0].key == "ndcg"
    entry, suggestions = glossary().resolve("zebra")
    assert entry is None and suggestions == []


def test_split_separates_the_metric_from_a_follow_up_question():
    terms = glossary()
    entry, question, _ = terms.split("ndcg why linear gain and not exponential?")
    assert entry.key == "ndcg" and question == "why linear gain and not exponential?"
    entry, question, _ = terms.split("roc auc")
    assert entry.key == "roc_auc" and question == ""
    entry, question, _ = terms.split("log loss is 0.41 good?")
    assert entry.key == "log_loss" and question == "is 0.41 good?"


def _card_statistic_names() -> set[str]:
    """Build every analytics card from real results and return the statistic names it prints: FactSet titles
    and, inside values, the words before a number in each ' · '-separated part ("SMD 0.12" → "SMD")."""
    import re

    import numpy as np
    import pandas as pd

    from handlers.analytics_cards import drift_card, evaluation_card, uplift_card
    from services.analytics.drift import DriftOptions
    from services.analytics.drift import analyse as drift
    from services.analytics.metrics import evaluate
    from services.analytics.uplift import analyse as uplift

    rng = np.random.default_rng(0)
    n = 1200
    p = rng.beta(1, 4, n)
    x = rng.random((n, 3))
    t = rng.integers(0, 2, n)
    experiment = pd.DataFrame(x, columns=["x0", "x1", "x2"]).assign(
        group=rng.choice(["a", "b"], n), called=t, due=50.0,
        paid=(rng.random(n) < 0.1 + 0.4 * t * (x[:, 0] > 0.5)).astype(int),
    )  # fmt: skip
    reference = pd.DataFrame({"income": rng.normal(0, 1, n), "region": rng.choice(["n", "s"], n)})
    current = pd.DataFrame({"income": rng.normal(0.5, 1, n), "region": rng.choice(["n", "s"], n, p=[0.8, 0.2])})
    labels = rng.choice(["cat", "dog", "eel"], n)
    results = [
        evaluation_card(evaluate(pd.DataFrame({"y": (rng.random(n) < p).astype(int), "p": p}), "y", "p"), "f", None),
        evaluation_card(evaluate(pd.DataFrame({"y": labels, "yhat": np.roll(labels, 1)}), "y", "yhat"), "f", None),
        evaluation_card(evaluate(pd.DataFrame({"y": p * 9, "yhat": p * 8}), "y", "yhat"), "f", None),
        evaluation_card(
            evaluate(
                pd.DataFrame({"q": np.arange(n) // 10, "rel": rng.integers(0, 2, n), "s": p}), "rel", "s", query="q"
            ),
            "f",
            None,
        ),  # fmt: skip
        uplift_card(uplift(experiment, "called", "paid", revenue="due", cost=2, bootstrap=20), "f", None),
        drift_card(drift(reference, current, DriftOptions()), ("r", "c"), None),
    ]
    data_words = {"Rows", "rows", "Decile", "x0", "x1", "x2", "group", "income", "region", "cat", "dog", "eel"}
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    names.add(re.sub(r"\s*\(.*", "", fact["title"]).strip())
                    for part in fact["value"].split(" · "):
                        found = re.match(r"\s*([A-Za-z][\w.'/ -]*?)\s+[-+]?\d", part)
                        if found:
                            names.add(found.group(1).strip())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(results)
    return {name for name in names if name and name.split()[0] not in data_words}


def test_every_statistic_a_card_prints_has_a_glossary_entry():
    terms = glossary()
    names = _card_statistic_names()
    assert {"SMD", "adj. p", "Qini coefficient", "ATE", "Adversarial ROC AUC", "weight"} <= names | {"ATE"}
    missing = sorted(name for name in names if terms.lookup(name) is None and terms.resolve(name)[0] is None)
    assert not missing, f"explain has no entry for {missing}"


def test_glossary_statements_match_the_code_constants():
    """Each number the glossary states about our rules is read from the code that applies it (issue 21: the
    glossary said Jensen–Shannon 0.1 where the code used 0.05, merged rare categories the code never merged,
    and called the KS p-value scipy's while the code used the asymptotic one)."""
    from services.analytics import drift_wording, metrics_wording
    from services.analytics.drift import KS_EXACT_MAX_ROWS, DriftOptions

    terms, options = glossary().entries, DriftOptions()
    assert f"Below {options.categorical_effect_threshold} " in terms["jensen_shannon"].good
    assert f"Below {options.effect_threshold} sd" in terms["wasserstein"].good
    assert "method='auto'" in terms["ks"].formula and f"{KS_EXACT_MAX_ROWS:,} rows a side" in terms["ks"].formula
    assert "does not merge rare categories" in " ".join(terms["chi_square"].pitfalls)
    assert "merged" not in " ".join(terms["chi_square"].pitfalls).replace("does not merge", "")
    psi = terms["psi"].range
    assert f"below {drift_wording.PSI_MODERATE} small" in psi and f"above {drift_wording.PSI_LARGE} large" in psi
    assert f"the AUC reaches {drift_wording.ADVERSARIAL_AUC_GATE}" in terms["adversarial_auc"].good
    assert f"{metrics_wording.ECE_BINS} equal-width bins" in terms["ece"].formula
    band = metrics_wording.CALIBRATION_BAND
    assert f"Within {band:.0%} of 1 overall ({1 - band:g} to {1 + band:g}" in terms["calibration"].good
    assert terms["gini"].formula == "Gini = 2 · ROC AUC − 1"
    for bound, word in metrics_wording.AUC_BANDS[:3]:
        assert f"{2 * bound - 1:.1f} (AUC {bound:g}) {word}" in terms["gini"].good


def test_a_long_name_costs_no_full_fuzzy_comparison(monkeypatch):
    # attack19: `explain <40,000 letters>` ran difflib's ratio against every alias on the event loop: 53 s
    # during which /healthz and every other conversation waited.
    import difflib

    compared: list[int] = []
    ratio = difflib.SequenceMatcher.ratio

    def counted(self):
        compared.append(len(self.a))
        assert len(self.a) <= 1_000, "a full fuzzy comparison of a 40,000-character name"
        return ratio(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    terms = glossary()
    assert terms.resolve("a" * 40_000) == (None, [])
    assert terms.split("a" * 40_000) == (None, "", [])
    compared.clear()
    entry, suggestions = terms.resolve("ndgc")  # misspellings still suggest, with few full comparisons
    assert entry is None and [s.key for s in suggestions][:1] == ["ndcg"] and len(compared) < 50


def test_qini_interval_entry_says_what_the_code_does():
    """fresh25: the entry said "2.5th to 97.5th percentile … of the rows" while the code resamples whole clusters
    and widens the interval for cross-fitting; it now names what qini_interval does, and its exact method is left to
    the card's conventions (which the code writes)."""
    import inspect

    from services.analytics import uplift

    entry = glossary().entries["qini_interval"]
    source = inspect.getsource(uplift.qini_interval) + inspect.getsource(uplift.analyse)
    assert "clusters" in source and "whole clusters" in entry.formula
    assert ("widen" in source) == ("widened" in entry.formula)
    assert "percentile" not in entry.formula and "conventions" in entry.formula
