"""README.md and docs/: what can be checked offline, so that every command and name in them works
as written.

* every ``make X`` is a Makefile target;
* every path under ``scripts/``, ``include/sql/``, ``plugins/``, ``tests/``, ``dags/``, ``docs/``
  or ``.ci/`` exists (``<…>``, ``…`` and ``*`` stand for any text, and must match a file);
* the settings table lists exactly the keys of ``Settings``, with their defaults, and every
  ``airflow variables set powerpro_moodle_settings '…'`` example is valid settings JSON;
* the ``POWERPRO_MOODLE_*`` variables named are exactly those the package reads;
* no "SPEC" citation (the SPEC is not part of the package);
* relative links resolve, to a file and to a heading's anchor;
* every ``airflow <group> <command>`` is a real command of the installed Airflow
  (``airflow … --help`` exits 0), and every option it is given is one that command has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = (README, *sorted((ROOT / "docs").glob("*.md")))

_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_PATH = re.compile(r"(?<![\w./-])((?:scripts|include/sql|plugins|tests|dags|docs|\.ci)/[^\s`'\"|()\[\],;:]*)")
_ENV = re.compile(r"\bPOWERPRO_MOODLE_[A-Z][A-Z_]*\b")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@cache
def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def snippets(path: Path) -> tuple[str, ...]:
    """The file's code: each fenced block's lines and each inline code span, with shell lines
    continued by a backslash joined into one."""
    body = text(path)
    found = []
    for block in _FENCE.findall(body):
        found.extend(line for line in block.replace("\\\n", " ").splitlines() if line.strip())
    found.extend(_INLINE.findall(_FENCE.sub("", body)))
    return tuple(found)


def all_snippets() -> list[tuple[Path, str]]:
    return [(path, s) for path in DOCS for s in snippets(path)]


def without_comment(line: str) -> str:
    return re.split(r"\s#", line, maxsplit=1)[0]


def test_the_docs_are_there_and_the_readme_is_short():
    names = {p.name for p in DOCS}
    assert {"install-and-operate.md", "how-the-sync-works.md", "sync-log.md", "data-team.md", "moodle-side.md",
            "troubleshooting.md"} <= names
    readme = text(README)
    assert len(readme.splitlines()) <= 80, "README.md: the quick start and links; the rest belongs in docs/"
    for doc in DOCS[1:]:
        assert f"(docs/{doc.name}" in readme, f"README.md does not link to docs/{doc.name}"


# --- make targets ------------------------------------------------------------------------------


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", (ROOT / "Makefile").read_text(), re.MULTILINE))


def test_every_make_command_is_a_makefile_target():
    targets = makefile_targets()
    mentioned = {}
    for path, snippet in all_snippets():
        for target in re.findall(r"(?:^|[\s;&|(])make ([A-Za-z][\w-]*)", without_comment(snippet)):
            mentioned.setdefault(target, rel(path))
    assert {"demo", "test", "airflow"} <= set(mentioned)
    assert {t: where for t, where in mentioned.items() if t not in targets} == {}, f"Makefile targets: {targets}"


# --- paths -------------------------------------------------------------------------------------


def test_every_path_mentioned_exists():
    missing = []
    for path in DOCS:
        for found in _PATH.findall(text(path)):
            name = found.split("#", 1)[0].rstrip(".")
            pattern = re.sub(r"<[^<>]*>|…", "*", name)
            if "*" in pattern:
                ok = any(ROOT.glob(pattern))
            else:
                ok = (ROOT / pattern).exists()
            if not ok:
                missing.append(f"{rel(path)}: {found}")
    assert missing == []


# --- settings ----------------------------------------------------------------------------------


def table_rows(body: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line is ``header``, as lists of cells."""
    lines = body.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def code_cell(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


def documented_settings() -> dict[str, object]:
    rows = table_rows(text(ROOT / "docs" / "install-and-operate.md"), "| key | default | meaning |")
    return {code_cell(key): json.loads(code_cell(default)) for key, default, _ in rows}


def test_the_settings_table_lists_every_setting_with_its_default():
    from powerpro_moodle.formats.settings import OutcomeRules, Settings

    defaults = Settings().model_dump(mode="json")
    expected = {}
    for key in Settings.model_fields:
        if key == "outcome_rules":
            expected.update({f"outcome_rules.{sub}": defaults[key][sub] for sub in OutcomeRules.model_fields})
        else:
            expected[key] = defaults[key]
    documented = documented_settings()
    assert sorted(set(expected) - set(documented)) == [], "settings missing from docs/install-and-operate.md"
    assert sorted(set(documented) - set(expected)) == [], "documented settings that Settings does not have"
    assert {k: v for k, v in documented.items() if v != expected[k]} == {}, f"defaults in the code: {expected}"


def test_every_settings_example_is_valid():
    from powerpro_moodle.formats.settings import parse_settings

    examples = []
    for path, snippet in all_snippets():
        examples += [(path, raw) for raw in re.findall(r"variables set powerpro_moodle_settings\s+'([^']*)'", snippet)]
    assert len(examples) >= 3
    wrong = []
    for path, raw in examples:
        try:
            parse_settings(json.loads(raw))
        except ValueError as err:  # SettingsError and json's error both are
            wrong.append(f"{rel(path)}: {raw}: {err}")
    assert wrong == []


# --- environment variables ---------------------------------------------------------------------


class _Recorder(dict):
    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return default

    def __getitem__(self, key):
        self.read.add(key)
        raise KeyError(key)


def variables_read(monkeypatch) -> set[str]:
    """The ``POWERPRO_MOODLE_*`` variables the package reads: what ``config`` asks for while the
    DAG defaults and schedules are built, and any other read spelled out in ``plugins/``."""
    from powerpro_moodle import config

    environ = _Recorder()
    monkeypatch.setattr(config, "os", SimpleNamespace(environ=environ))
    config.default_args("Provisioning")
    config.default_args("Resulting")
    config.schedule("provisioning")
    config.schedule("resulting")
    names = {n for n in environ.read if n.startswith("POWERPRO_MOODLE_")}
    read = re.compile(r"(?:environ\.get\(|environ\[|getenv\()\s*[\"'](POWERPRO_MOODLE_\w+)[\"']")
    for source in (ROOT / "plugins").rglob("*.py"):
        names.update(read.findall(source.read_text(encoding="utf-8")))
    return names


def test_the_environment_variables_documented_are_those_the_package_reads(monkeypatch):
    read = variables_read(monkeypatch)
    assert {"POWERPRO_MOODLE_RETRIES", "POWERPRO_MOODLE_PROVISIONING_SCHEDULE"} <= read
    mentioned = {name: rel(path) for path in DOCS for name in _ENV.findall(text(path))}
    assert {n: where for n, where in mentioned.items() if n not in read} == {}, "documented but never read"
    table = table_rows(text(ROOT / "docs" / "install-and-operate.md"), "| variable | default | meaning |")
    assert sorted(code_cell(row[0]) for row in table) == sorted(read), "the environment variables table"


# --- SPEC, links -------------------------------------------------------------------------------


def test_no_spec_citation():
    cited = [f"{rel(path)}:{n}" for path in DOCS for n, line in enumerate(text(path).splitlines(), 1)
             if re.search(r"\bSPEC\b", line)]
    assert cited == [], "say the rule itself: the SPEC is not part of the package"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    heading = heading.replace("`", "").replace("*", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in _FENCE.sub("", text(path)).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def test_every_relative_link_resolves():
    broken = []
    links = 0
    for path in DOCS:
        for target in _LINK.findall(_FENCE.sub("", text(path))):
            if re.match(r"[a-z]+:", target):
                continue
            links += 1
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{rel(path)}: {target} (no such file)")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                broken.append(f"{rel(path)}: {target} (no such heading)")
    assert links > 30
    assert broken == []


# --- airflow commands --------------------------------------------------------------------------


def dag_ids() -> set[str]:
    return {m for f in (ROOT / "dags").glob("*.py") for m in re.findall(r'dag_id="([^"]+)"', f.read_text())}


def airflow_mentions() -> list[tuple[str, list[str]]]:
    """(where, the words after ``airflow``) of every ``airflow …`` command in the docs' code."""
    found = []
    for path, snippet in all_snippets():
        for rest in re.findall(r"(?:^|[\s;&|(`$])airflow ([a-z][^\n]*)", without_comment(snippet)):
            found.append((rel(path), rest.split()))
    return found


#: Runs the ``airflow`` console script's own entry point (what ``.venv/bin/airflow`` runs) once per
#: command with ``--help``, all in one process: a fresh interpreter per command costs about 1.6 s
#: of CPU for Airflow's imports alone.
_HELP_SCRIPT = """
import contextlib, io, json, sys
from airflow.__main__ import main
results = {}
for command in json.load(sys.stdin):
    out = io.StringIO()
    sys.argv = ["airflow", *command, "--help"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main() or 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
    results[" ".join(command)] = [code, out.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def airflow_help(tmp_path_factory):
    """``airflow <command…> --help``: exit code and output per command, each run once, with the
    installed Airflow, in a subprocess with a throwaway ``AIRFLOW_HOME``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow-home"))
    results: dict[tuple[str, ...], tuple[int, str]] = {}

    def get(commands):
        todo = [c for c in dict.fromkeys(commands) if c not in results]
        if todo:
            done = subprocess.run([sys.executable, "-c", _HELP_SCRIPT], input=json.dumps(todo), env=env,
                                  capture_output=True, text=True, timeout=300, check=True)
            answers = json.loads(done.stdout.strip().splitlines()[-1])
            results.update({c: tuple(answers[" ".join(c)]) for c in todo})
        return {c: results[c] for c in commands}

    return get


def test_every_airflow_command_is_real(airflow_help):
    mentions = airflow_mentions()
    # One batch: Airflow's own help first (which words are groups), and each mention read both ways.
    airflow_help([(), *{tuple(words[:n]) for _, words in mentions for n in (1, 2) if len(words) >= n}])
    code, root_help = airflow_help([()])[()]
    assert code == 0, root_help
    groups = set(re.findall(r"^ {6}([a-z][\w-]*) ", root_help.split("Groups", 1)[1].split("Commands:", 1)[0],
                            re.MULTILINE))
    assert {"dags", "connections", "variables"} <= groups

    uses = []
    for where, words in mentions:
        size = 2 if words[0] in groups else 1
        command, args = tuple(words[:size]), words[size:]
        uses.append((where, command, args))
    assert len(uses) >= 10
    helps = airflow_help([command for _, command, _ in uses])

    problems = []
    for where, command, args in uses:
        code, output = helps[command]
        if code != 0:
            problems.append(f"{where}: airflow {' '.join(command)} is not a command ({output.strip()[-200:]})")
            continue
        for option in (a.split("=", 1)[0] for a in args if a.startswith("-")):
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", output):
                problems.append(f"{where}: airflow {' '.join(command)} has no option {option}")
        positional = [a for a in args if not a.startswith(("-", "'", '"'))]
        if command[0] == "dags" and positional and positional[0].startswith("powerpro_moodle_"):
            if positional[0] not in dag_ids():
                problems.append(f"{where}: no DAG {positional[0]}")
    assert problems == []
