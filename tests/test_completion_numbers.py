"""The grades read over a whole column at once (``_plain_numbers``: numpy over the column's
bytes) are exactly the floats ``float()`` gives (``_numbers_of``, a value at a time): for every
value the fast reader takes, the same float to the bit, and it takes only plain decimals of at
most 15 characters, all of them."""

from __future__ import annotations

import random

import numpy as np
import pytest
from powerpro_moodle.formats.completion_chunks import _array, _numbers, _numbers_of, _plain_numbers
from powerpro_moodle.formats.completion_file import _DECIMAL


def decimal(rnd: random.Random) -> str:
    """A plain decimal: a sign now and then, up to 17 digits, a dot anywhere (or at an end)."""
    digits = "".join(rnd.choice("0123456789" if rnd.random() < 0.8 else "09") for _ in range(rnd.randint(1, 17)))
    dot = rnd.randint(0, len(digits))
    text = digits if rnd.random() < 0.2 else f"{digits[:dot]}.{digits[dot:]}"
    return rnd.choice(["", "", "", "-", "+"]) + text


def other(rnd: random.Random) -> str:
    """Values a float() may or may not read, none of them a plain decimal of the reader's kind
    (other scripts and line breaks: below)."""
    return rnd.choice(["", ".", "-", "+", "+-5", "--5", "5..5", "1.2.3", " 5", "5 ", "1e5", "1E-3", "1_000", "inf",
                       "nan", "0x10", "12,5", "9" * 16, "0." + "1" * 15])


def values(seed: int, size: int = 4000) -> list[str]:
    rnd = random.Random(seed)
    out = [decimal(rnd) if rnd.random() < 0.9 else other(rnd) for _ in range(size)]
    out += ["0", "-0", "+0", "-0.0", ".5", "5.", "-.5", "0.1", "0.3", "2.675", "999999999999999", "-99999999999999",
            "0.00000000000001", "9007199254740.99", "123456789012.345", "50.64503", "50.00000"]
    return out


def bits(x: float) -> int:
    return int(np.float64(x).view(np.int64))


@pytest.mark.parametrize("seed", range(4))
def test_grades_read_at_once_are_the_floats_read_one_by_one(seed):
    grades = values(seed)
    sure, out = _plain_numbers(_array(grades))
    for text, taken, value in zip(grades, sure, out, strict=True):
        plain = len(text) <= 15 and _DECIMAL.fullmatch(text) is not None
        assert bool(taken) == plain, text
        if taken:
            assert bits(value) == bits(float(text)), text


@pytest.mark.parametrize("seed", range(4))
def test_numbers_are_the_numbers_read_one_by_one(seed):
    grades = [g for g in values(seed) if _DECIMAL.fullmatch(g)]  # what competent() is given
    grades += ["1" * 20, "-0." + "5" * 20, "\u0661\u0662"]
    expected, expected_short = _numbers_of(_array(grades))
    got, short = _numbers(_array(grades))
    assert short.tolist() == expected_short.tolist()
    assert [bits(x) for x in got] == [bits(x) for x in expected]


def test_a_column_the_fast_reader_cannot_take_is_read_one_by_one():
    for grades in (["5", "\u0661"], ["5", "5\u0660"], ["5", "é"], ["5", "6\n7"], ["5\n"], ["5", None]):
        sure, _ = _plain_numbers(_array(grades))
        assert not sure.any()
