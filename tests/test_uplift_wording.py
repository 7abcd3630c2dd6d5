"""Uplift wording and typed results on published experiments shipped in `causaldata`: Thornton (2008), cash
incentives to learn HIV results in Malawi (`thornton_hiv`), and the NSW job-training experiment
(Dehejia-Wahba sample, `nsw_mixtape`); Cai et al. (2015), weather insurance in China (`social_insure`)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from handlers.analytics_cards import uplift_card
from services.analytics.uplift import _features, analyse
from services.analytics.uplift_decision import heterogeneity
from services.analytics.uplift_types import Estimate
from services.analytics.uplift_wording import fact_text
from tests.conftest import card_text


def _load(name: str) -> pd.DataFrame:
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"causaldata.{name}").load_pandas().data


@pytest.fixture(scope="module")
def thornton() -> pd.DataFrame:
    return _load("thornton_hiv").dropna(subset=["any", "got"]).drop(columns=["tinc"]).reset_index(drop=True)


def test_a_harmful_treatment_is_said_to_lose_with_the_outcome_named(thornton):
    flipped = thornton.assign(no_incentive=1 - thornton["any"]).drop(columns=["any"])  # the incentive withheld
    result = analyse(flipped, "no_incentive", "got", bootstrap=10)
    assert result.recommendation.treat_everyone.estimate < 0
    verdict = result.summary[0]
    assert "adds -" not in verdict and "treating everyone loses" in verdict  # old: "adds -1,488 successes"
    assert "successes of 'got'" in verdict and "a loss of" in verdict
    assert "successes of 'got'" in card_text(uplift_card(result, "thornton.csv", None))


def test_deciles_without_an_arm_say_why(thornton):
    result = analyse(thornton.assign(s=thornton["any"]), "any", "got", score="s", bootstrap=10)  # treated first
    top = result.deciles[0]
    assert top.uplift is None and top.missing == "no control rows in it"
    assert "uplift n/a (no control rows in it)" in json.dumps(uplift_card(result, "t.csv", None))


def test_an_estimate_without_an_interval_says_why(thornton):
    tiny = thornton.sample(14, random_state=5).reset_index(drop=True)
    result = analyse(tiny, "any", "got", score="age", bootstrap=10)
    estimates = [result.recommendation.beats_no_one, result.recommendation.beats_everyone]
    missing = [e for e in estimates if e.ci is None]
    assert missing and all(e.reason for e in missing)
    text = json.dumps(uplift_card(result, "t.csv", None))
    assert "inf" not in text and "no interval: " in text  # old: "+0 (95% CI -inf to +inf)"
    assert fact_text(Estimate.of(0.0, float("inf"), 1.96, "an arm is empty"), "successes") == (
        "+0 (no interval: an arm is empty)"
    )


def test_driver_groups_of_0_1_columns_are_named_0_and_1():
    nsw = _load("nsw_mixtape").drop(columns=["data_id"])
    features, _ = _features(nsw, {"treat", "re78"})
    rows = heterogeneity(features, nsw.re78.to_numpy(float), nsw.treat.to_numpy(float))
    black = next(r for r in rows if r["name"] == "black")
    assert sorted(g["group"] for g in black["groups"]) == ["0", "1"]  # old: '0.0' and '1.0'


def test_numeric_totals_name_the_outcome_summed():
    nsw = _load("nsw_mixtape").drop(columns=["data_id"])
    result = analyse(nsw, "treat", "re78", bootstrap=10)
    assert "in total 're78'" in result.summary[0]


def test_the_result_is_frozen_and_plain_as_a_dict(thornton):
    result = analyse(thornton, "any", "got", bootstrap=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.learner = "x"  # type: ignore[misc]
    document = json.loads(json.dumps(result.to_dict()))
    assert document["ate"]["estimate"] == result.ate.estimate and len(document["deciles"]) == 10
    assert document["recommendation"]["beats_no_one"]["ci"] == list(result.recommendation.beats_no_one.ci)


def test_a_qini_interval_below_zero_keeps_the_warning():
    cai = _load("social_insure").drop(columns=["address"]).dropna(subset=["takeup_survey"]).reset_index(drop=True)
    y, t = cai.takeup_survey.to_numpy(float), cai.intensive.to_numpy(float)
    worst_first = -(y * t - y * (1 - t)) + np.random.default_rng(0).normal(0, 0.01, y.size)  # reversed perfect
    result = analyse(cai.assign(s=worst_first), "intensive", "takeup_survey", score="s", bootstrap=50)
    assert result.qini_auc_ci[1] < 0
    assert any("not reliably better than random" in w for w in result.warnings)  # old: dropped below 0 too
