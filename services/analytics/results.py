"""The base of typed analysis results: frozen dataclasses read by attribute and turned into plain JSON-ready
data by `to_dict()`. A result type whose JSON shape is not simply its fields (keys that depend on the kind of
column or task, keys that are Python keywords) overrides `to_dict`; `plain` honours such overrides when the
type is nested in another result."""

from __future__ import annotations

import dataclasses
from typing import Any


def plain(value: Any) -> Any:
    """Return `value` as plain data (dicts, lists, numbers, strings, None): dataclasses by their `to_dict`
    (or field by field), tuples as lists, dict keys as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Data) and type(value).to_dict is not Data.to_dict:
            return value.to_dict()
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


class Data:
    """Mixin of result types: `to_dict()` returns the result as plain data, ready for JSON."""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data (dicts, lists, numbers, strings, None), ready for JSON."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
