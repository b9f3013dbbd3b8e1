"""Columns handed to ``Partitions.add`` already factorized (codes into their distinct values,
as the import task has them) are spilled byte for byte as when each part factorizes its own
values."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from powerpro_moodle.scratch import Partitions, objects, part_of


def spill(folder, columns, part, parts, factorized=None) -> dict[str, bytes]:
    spilled = Partitions(folder, parts)
    for _ in range(2):  # a second block after the first
        spilled.add("rows", columns, part=part, packed=("user", "course"), factorized=factorized)
    spilled.close()
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize(("seed", "parts"), [(0, 1), (1, 5), (2, 17), (3, 40)])
def test_factorized_columns_spill_as_their_values(tmp_path, seed, parts):
    rnd = random.Random(seed)
    n = 3000
    users = objects([f"S{rnd.randint(1, 400):06d}" for _ in range(n)])
    courses = objects([rnd.choice(["UNT1", "UNT2", "unt2", "UNT3", "X"]) for _ in range(n)])
    columns = {"row": np.arange(n, dtype=np.int64), "user": users, "course": courses,
               "text": objects([f"line {j}\n" for j in range(n)])}
    part = part_of(objects([u.upper() for u in users]), parts)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = spill(tmp_path / "a", columns, part, parts)
    got = spill(tmp_path / "b", columns, part, parts,
                factorized={"user": pd.factorize(users), "course": pd.factorize(courses)})
    assert got == expected


def test_a_missing_value_is_factorized_by_the_part(tmp_path):
    users = objects(["a", None, "b", "a", None])
    columns = {"row": np.arange(5, dtype=np.int64), "user": users, "course": objects(["c"] * 5)}
    part = np.array([1, 0, 1, 0, 0])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = spill(tmp_path / "a", columns, part, 2)
    got = spill(tmp_path / "b", columns, part, 2, factorized={"user": pd.factorize(users)})
    assert got == expected
