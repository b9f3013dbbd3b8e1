"""Identifiers: the one comparison key, and how ids are shown in messages (SPEC section 5)."""

from __future__ import annotations

import pytest
from powerpro_moodle.formats.ids import has_hidden_characters, id_key, shown


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("S1001", "S1001", id="plain"),
        pytest.param("s1001", "S1001", id="lower case"),
        pytest.param("  bsb WHS211\t", "BSB WHS211", id="surrounding whitespace stripped, inner kept"),
        pytest.param("S1001\r\n", "S1001", id="line break stripped"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
        pytest.param("T043\u200b", "T043\u200b", id="zero-width space is kept"),
        pytest.param("\u0422043", "\u0422043", id="cyrillic look-alike is kept"),
        pytest.param("élève", "ÉLÈVE", id="non-ascii upper-cased"),
    ],
)
def test_id_key(value, expected):
    assert id_key(value) == expected


def test_id_key_does_not_match_an_id_with_an_invisible_character():
    assert id_key("T043\u200b") != id_key("T043")
    assert id_key("\u0422043") != id_key("T043")
    assert id_key(" t043 ") == id_key("T043")


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("S1001", "S1001", id="plain id unchanged"),
        pytest.param("BSB WHS211-x_y.z", "BSB WHS211-x_y.z", id="printable ascii unchanged"),
        pytest.param("T043\u200b", "T043\\u200b", id="zero-width space"),
        pytest.param("\u0422043", "\\u0422043", id="cyrillic capital te"),
        pytest.param("S1\t", "S1\\t", id="tab"),
        pytest.param("S1\r\n", "S1\\r\\n", id="line break"),
        pytest.param("S\xa01", "S\\xa01", id="non-breaking space"),
        pytest.param("\ufeffS1", "\\ufeffS1", id="byte order mark"),
        pytest.param("S\x001", "S\\x001", id="nul"),
        pytest.param("S\x7f", "S\\x7f", id="delete"),
        pytest.param("élève", "\\xe9l\\xe8ve", id="accented latin"),
        pytest.param("S1\U0001f600", "S1\\U0001f600", id="astral character"),
        pytest.param("", "", id="empty"),
    ],
)
def test_shown(value, expected):
    assert shown(value) == expected
    assert has_hidden_characters(value) is (value != expected)


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("S1001", False, id="plain"),
        pytest.param("S 1001", False, id="space is visible"),
        pytest.param("", False, id="empty"),
        pytest.param("T043\u200b", True, id="zero-width space"),
        pytest.param("\u0422043", True, id="cyrillic look-alike"),
        pytest.param("S1001\xa0", True, id="non-breaking space"),
        pytest.param("S1001\t", True, id="tab"),
    ],
)
def test_has_hidden_characters(value, expected):
    assert has_hidden_characters(value) is expected


def test_shown_is_ascii_and_never_loses_a_character():
    value = "a\u200bb\u0422c\x00d\U0001f600"
    escaped = shown(value)
    assert escaped.isascii()
    assert escaped.encode("ascii").decode("unicode_escape") == value
