"""CSV cells safe to open in a spreadsheet (OWASP "CSV injection").

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets; an id or a name someone chose (a team name, a model id, a user id from another
channel) could then run one. Such a text cell gets a leading apostrophe, which the spreadsheet shows as text.
Numbers are written as they are. Our own function rather than a dependency (defusedcsv): it is one rule.
"""

from __future__ import annotations

# Also, defensively: a line feed (a cell's second line, which some importers read as a line of its own) and the
# full-width signs, which spreadsheets with East Asian input settings may read as their ASCII forms.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: object) -> object:
    """Return `value` ready for a CSV writer: a text cell that would start a formula is prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: list[object]) -> list[object]:
    """Return the row with every cell made safe (see safe_cell)."""
    return [safe_cell(value) for value in values]
