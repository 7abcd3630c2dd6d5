"""The metric glossary: complete entries, synonyms and misspellings, suggestions for unknown names."""

from __future__ import annotations

import pytest

from services.analytics.glossary import glossary

REQUIRED = [
    "accuracy", "precision", "recall", "f1", "threshold", "confusion_matrix", "roc_auc", "pr_auc", "log_loss",
    "normalized_entropy", "calibration", "brier", "recalibration", "ndcg", "mrr", "map", "hit_rate", "mae", "rmse",
    "r2", "qini", "auuc", "uplift_at_k",
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
     ("mean average precison", "map"), ("F1 score", "f1"), ("average precision", "pr_auc")],
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
