"""Identifiers: how they are compared, and how they are shown in messages.

SPEC section 5. StudentNumber, UnitCode and the Moodle course idnumber are compared the way
SQL Server's default case-insensitive collation compares them: :func:`id_key` is the one
normalisation used everywhere.

An id that holds an invisible character (a zero-width space pasted from a web page) or a
non-ASCII look-alike (Cyrillic ``Т`` for Latin ``T``) does *not* match the id without it, and a
person cannot see why from the id as printed. :func:`shown` makes such characters visible,
Python style (``T043\\u200b``).
"""

from __future__ import annotations

__all__ = ["has_hidden_characters", "id_key", "shown"]


def id_key(value: str | None) -> str:
    """The identifier as compared: surrounding whitespace stripped, upper case.

    Nothing else is removed: ``"T043\\u200b"`` and ``"T043"`` are different ids.
    """
    return (value or "").strip().upper()


def _is_plain(char: str) -> bool:
    """A printable ASCII character (space to tilde)."""
    return " " <= char <= "~"


def shown(value: str) -> str:
    """The id as a message shows it: printable ASCII as it is, everything else escaped Python style.

    ``shown("S1001") == "S1001"``, ``shown("T043\\u200b") == "T043\\\\u200b"``, a tab becomes
    ``\\t``, a non-breaking space ``\\xa0``, Cyrillic ``Т`` ``\\u0422``.
    """
    if all(_is_plain(char) for char in value):
        return value
    return "".join(char if _is_plain(char) else char.encode("unicode_escape").decode("ascii") for char in value)


def has_hidden_characters(value: str) -> bool:
    """Whether ``value`` holds anything but printable ASCII (so :func:`shown` escapes something)."""
    return not all(_is_plain(char) for char in value)
