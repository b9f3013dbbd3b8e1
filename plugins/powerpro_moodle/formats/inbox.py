"""Which entries of the completions inbox the resulting DAG takes, and why it leaves the others.

SPEC section 5, "Field conditions". A completion file is taken only once it has stopped
changing: Moodle's host may still be copying it in when the sync looks. An entry is *settled*
when its modification time is at least ``settle_seconds`` old, or when two looks at least that far
apart saw the same size and modification time. Servers that report neither size nor time get
the two looks too: with nothing to compare, the second look only proves the file is still there,
so such a server should write files under a temporary name and rename them (as the sync does).

Entries are described by anything with ``name``, ``kind`` (``"file"``/``"folder"``), ``size``
and ``modified`` (an aware datetime or ``None``): the FTP layer's ``Entry``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from powerpro_moodle.formats.ids import shown
from powerpro_moodle.formats.summary import WARNING, Anomaly

ERRORS_SUFFIX = ".errors.csv"


class EntryLike(Protocol):
    name: str
    kind: str
    size: int | None
    modified: datetime | None


#: Why an inbox entry is not taken: code -> words.
IGNORED_REASONS = {
    "folder": "a folder",
    "not_csv": "not a .csv file",
    "errors_file": "an errors file the sync wrote, which belongs beside its file in processed/ or rejected/",
    "settling": "still being written: it changed between two looks",
}


@dataclass
class InboxLook:
    """One look at the inbox.

    :param taken: names of the settled ``*.csv`` completion files, sorted.
    :param ignored: ``(name, code)`` of the entries not taken, with a code of :data:`IGNORED_REASONS`.
    :param unsettled: the candidate files too young to take yet, by name (they need a second look).
    """

    taken: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    unsettled: dict[str, Any] = field(default_factory=dict)

    def anomalies(self) -> list[Anomaly]:
        """The entries not taken, as sync log warnings naming each one."""
        return [
            Anomaly("file", shown(name), f"inbox_{code}", f"{shown(name)} was not taken: {IGNORED_REASONS[code]}",
                    level=WARNING)
            for name, code in self.ignored
        ]


def _age_seconds(entry: EntryLike, now: datetime) -> float | None:
    return None if entry.modified is None else (now - entry.modified).total_seconds()


def first_look(entries: Iterable[EntryLike], now: datetime, settle_seconds: float,
               own_folders: Iterable[str] = ()) -> InboxLook:
    """Sort the inbox's entries into taken, ignored and still to be looked at again.

    :param own_folders: names of the sync's own folders inside the inbox (processed/, rejected/):
        passed over without a word.
    """
    look = InboxLook()
    own = set(own_folders)
    for entry in sorted(entries, key=lambda e: e.name):
        lower, age = entry.name.lower(), _age_seconds(entry, now)
        if entry.kind != "file" and entry.name in own:
            continue
        if entry.kind != "file":
            look.ignored.append((entry.name, "folder"))
        elif lower.endswith(ERRORS_SUFFIX):
            look.ignored.append((entry.name, "errors_file"))
        elif not lower.endswith(".csv"):
            look.ignored.append((entry.name, "not_csv"))
        elif settle_seconds <= 0 or (age is not None and age >= settle_seconds):
            look.taken.append(entry.name)
        else:
            look.unsettled[entry.name] = entry
    return look


def wait_before_second_look(look: InboxLook, now: datetime, settle_seconds: float) -> float:
    """Seconds to wait before looking again: until the youngest unsettled file is old enough, or
    the whole settle time when a file has no usable modification time (or one from the future:
    the server's clock is not ours)."""
    waits = []
    for entry in look.unsettled.values():
        age = _age_seconds(entry, now)
        waits.append(settle_seconds if age is None or age < 0 else settle_seconds - age)
    return max(0.0, min(settle_seconds, max(waits, default=0.0)))


def second_look(look: InboxLook, later: Mapping[str, EntryLike]) -> InboxLook:
    """Take the unsettled files that did not change since the first look; the others are left
    (named) for the next run. ``later`` is the second listing, by name."""
    for name, before in look.unsettled.items():
        after = later.get(name)
        if after is None:
            continue  # gone meanwhile (renamed by its writer): nothing to take, nothing to report
        if (after.size, after.modified) == (before.size, before.modified):
            look.taken.append(name)
        else:
            look.ignored.append((name, "settling"))
    look.unsettled = {}
    look.taken.sort()
    look.ignored.sort()
    return look
