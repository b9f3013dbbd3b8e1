"""Keep exported text data, never a spreadsheet formula (OWASP CSV injection guidance)."""

from __future__ import annotations

#: Characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: str | None) -> bool:
    return bool(value) and value.startswith(FORMULA_PREFIXES)


def neutralise(value: str) -> str:
    """Prefix a formula-looking free-text value with a single quote; return others unchanged."""
    return "'" + value if looks_like_formula(value) else value
