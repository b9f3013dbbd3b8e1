"""The completion times read over a whole column at once (``_plain_times``: numpy over the
column's bytes) are exactly the times the value-by-value reader (``_times_of``, then
``completion_file.parse_time``) gives: for every value the fast reader takes, the same
microseconds, and never one the slow reader would have refused or had to look at again."""

from __future__ import annotations

import random

import numpy as np
import pytest
from powerpro_moodle.formats.completion_chunks import _array, _plain_times, _times_of


def iso(rnd: random.Random) -> str:
    """An ISO 8601-looking time: mostly real, often off by one in some field, now and then mangled."""
    y = rnd.choice([rnd.randint(1900, 2200), 1969, 1970, 2100, 2101, 1900, 2000, 2024, 0, 1, 9999])
    m = rnd.choice([rnd.randint(1, 12), 0, 13, 2])
    d = rnd.choice([rnd.randint(1, 31), 28, 29, 30, 31, 0, 32])
    hh, mm, ss = rnd.choice([rnd.randint(0, 23), 24]), rnd.choice([rnd.randint(0, 59), 60]), rnd.choice(
        [rnd.randint(0, 59), 60])
    sign = rnd.choice("+-")
    tz = rnd.choice(["Z", "z", f"{sign}{rnd.randint(0, 25):02d}:{rnd.choice([0, 30, 45, 59, 60]):02d}", "", "+1000",
                     "+10:00:00"])
    text = f"{y:04d}-{m:02d}-{d:02d}{rnd.choice('TTTT t_')}{hh:02d}:{mm:02d}:{ss:02d}{tz}"
    if rnd.random() < 0.05:
        i = rnd.randrange(len(text))
        text = text[:i] + rnd.choice("x0 9\u0660-:+") + text[i + 1:]
    return text


def other(rnd: random.Random) -> str:
    """Unix seconds and the odd values around them (empty, ``-``, other digit scripts, spaces)."""
    return rnd.choice(["", "-", "0", "00", " 5", "5 ", "\u0661\u0662", "1" * rnd.randint(1, 14),
                       str(rnd.randint(0, 5_000_000_000)), "4133980799", "4133980800", "-5", "--", "x", "é",
                       "2026-03-01 10:00", "\t", "000000000000", "999999999999", str(rnd.randint(0, 10**12)).zfill(12)])


@pytest.mark.parametrize("seed", range(4))
def test_times_read_at_once_are_the_times_read_one_by_one(seed):
    rnd = random.Random(seed)
    taken = 0
    for _ in range(60):
        values = [iso(rnd) if rnd.random() < 0.6 else other(rnd) for _ in range(rnd.randint(0, 400))]
        if rnd.random() < 0.05:
            values.append("2026-03-31T14:30:00Z\n")  # a line break inside a value: all one by one
        raw = _array(values)
        sure, fast = _plain_times(raw)
        slow_value, needs_parse = _times_of(raw)
        for j in np.flatnonzero(sure):
            assert not needs_parse[j], values[j]
            assert (np.isnan(fast[j]) and np.isnan(slow_value[j])) or fast[j] == slow_value[j], values[j]
        taken += int(sure.sum())
    assert taken > 1000  # the fast reader is really used


def test_the_usual_times_are_read_at_once():
    raw = _array(["1774967400", "2026-04-01T01:30:00+11:00", "2026-03-31T14:30:00Z", "", "-", "0"])
    sure, micros = _plain_times(raw)
    assert sure.all()
    assert micros[0] == micros[1] == micros[2] == 1774967400 * 1_000_000
    assert np.isnan(micros[3:]).all()


EDGES = ["2100-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2024-02-29T12:00:00+10:00",
         "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-03-31T24:00:00Z", "2026-03-31T23:60:00Z",
         "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1970-01-01T10:00:00+10:00", "1970-01-01T09:59:59+10:00",
         "2100-12-31T23:59:59Z", "2101-01-01T00:00:00Z", "2100-12-31T23:59:59-01:00", "2026-03-31T14:30:00+24:00",
         "2026-03-31T14:30:00+23:59", "2026-03-31T14:30:00-00:00", "4133980799", "4133980800", "000000000001"]


@pytest.mark.parametrize("value", EDGES)
def test_each_edge_is_read_the_same_both_ways(value):
    raw = _array([value])
    sure, fast = _plain_times(raw)
    slow_value, needs_parse = _times_of(raw)
    if sure[0]:
        assert not needs_parse[0]
        assert (np.isnan(fast[0]) and np.isnan(slow_value[0])) or fast[0] == slow_value[0]
