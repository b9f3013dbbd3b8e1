"""Static checks of the local Docker stack (docker-compose.yaml, Dockerfile, .env.example).

Docker is not available where these tests run, so nothing is started: the files are parsed, and
``${VAR:-default}`` substitutions are resolved the way Docker Compose resolves them, which is
enough to check that the pieces agree with each other (connection URIs vs. the services they
point at, the Dockerfile vs. the pinned requirements, .env.example vs. what the compose file reads).
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
REQUIREMENTS = ROOT / "requirements.txt"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
# Long-running Airflow components and the `airflow` sub-command each one runs.
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
CORE_SERVICES = ("postgres", *AIRFLOW_SERVICES)
INTEGRATION_SERVICES = ("mssql", "ftp")

SECRET_KEY_PATTERN = re.compile(r"PASSWORD|SECRET|FERNET_KEY|TOKEN", re.IGNORECASE)
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _matching_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start`` (substitutions may nest)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unterminated ${{...}} in {text!r}")


def _split_substitution(expression: str) -> tuple[str, str | None, str]:
    """Split the inside of ``${...}`` into (name, operator, argument)."""
    match = re.fullmatch(rf"({VARIABLE_NAME})(?:(:-|-|:\?|\?|:\+|\+)(.*))?", expression, re.DOTALL)
    if match is None:
        raise ValueError(f"unsupported substitution ${{{expression}}}")
    name, operator, argument = match.groups()
    return name, operator, argument or ""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Resolve Compose-style substitutions in ``text`` against ``env``.

    Supports ``$$`` escapes, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}`` and nesting inside defaults, as Docker Compose v2 does.
    """
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _matching_brace(text, index + 1)
            name, operator, argument = _split_substitution(text[index + 2 : end])
            value = env.get(name)
            if operator == ":-":
                out.append(value if value else interpolate(argument, env))
            elif operator == "-":
                out.append(value if value is not None else interpolate(argument, env))
            elif operator in (":?", "?"):
                if value is None or (operator == ":?" and not value):
                    raise KeyError(f"{name}: {argument}")
                out.append(value)
            elif operator in (":+", "+"):
                is_set = bool(value) if operator == ":+" else value is not None
                out.append(interpolate(argument, env) if is_set else "")
            else:
                out.append(value or "")
            index = end + 1
        elif (match := re.match(rf"\$({VARIABLE_NAME})", text[index:])) is not None:
            out.append(env.get(match.group(1)) or "")
            index += match.end()
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def referenced_variables(text: str) -> set[str]:
    """Names of every variable Compose would substitute in ``text`` (including nested ones)."""
    names: set[str] = set()
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
        elif text.startswith("${", index):
            end = _matching_brace(text, index + 1)
            name, _, argument = _split_substitution(text[index + 2 : end])
            names.add(name)
            names |= referenced_variables(argument)
            index = end + 1
        elif (match := re.match(rf"\$({VARIABLE_NAME})", text[index:])) is not None:
            names.add(match.group(1))
            index += match.end()
        else:
            index += 1
    return names


def iter_strings(node: object) -> Iterator[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from iter_strings(key)
            yield from iter_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_strings(item)


def environment_of(service: Mapping) -> dict[str, str]:
    """A service's ``environment`` as a dict, whichever of the two Compose syntaxes it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def volume_targets(service: Mapping) -> dict[str, str]:
    """Map container path -> host source for a service's volumes (short or long syntax)."""
    targets: dict[str, str] = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        targets[target.rstrip("/")] = source
    return targets


def command_words(service: Mapping) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file (comments and blank lines skipped, quotes stripped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def substitution_parts(value: str) -> tuple[str, str | None, str] | None:
    """(name, operator, default) if ``value`` is exactly one ``${...}`` substitution, else None."""
    if not value.startswith("${") or _matching_brace(value, 1) != len(value) - 1:
        return None
    return _split_substitution(value[2:-1])


def is_sql_server_strong(password: str) -> bool:
    """SQL Server's sa password policy: 8+ characters from at least 3 of the 4 classes."""
    classes = (
        any(c in string.ascii_uppercase for c in password),
        any(c in string.ascii_lowercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isalnum() for c in password),
    )
    return len(password) >= 8 and sum(classes) >= 3


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instructions.append((instruction.upper(), arguments.strip()))
    return instructions


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("no-env-file", id="defaults-without-.env"),
        pytest.param("env-example", id="with-.env.example"),
    ],
)
def compose_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The substitution environment for `docker compose up` without a .env, and after
    `cp .env.example .env`."""
    return {} if request.param == "no-env-file" else parse_env_file(ENV_EXAMPLE)


def resolved_env(services: dict, service: str, env: Mapping[str, str]) -> dict[str, str]:
    return {key: interpolate(value, env) for key, value in environment_of(services[service]).items()}


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in CORE_SERVICES])
def test_core_service_exists_and_starts_by_default(services: dict, name: str) -> None:
    assert name in services, f"missing service {name!r}; have {sorted(services)}"
    # A profile would keep it from starting on a plain `docker compose up`.
    assert not services[name].get("profiles"), f"{name} must not be behind a profile"


@pytest.mark.parametrize(
    ("name", "subcommand"),
    [pytest.param(name, sub, id=name) for name, sub in AIRFLOW_COMPONENTS.items()],
)
def test_airflow_component_runs_expected_command(services: dict, name: str, subcommand: str) -> None:
    assert command_words(services[name]) == [subcommand]


def test_postgres_is_the_metadata_database(services: dict) -> None:
    assert services["postgres"]["image"].startswith("postgres:")
    for name in AIRFLOW_SERVICES:
        conn = interpolate(environment_of(services[name])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], {})
        parts = urlsplit(conn)
        assert parts.scheme.startswith("postgresql"), name
        assert parts.hostname == "postgres", name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_airflow_init_migrates_db_and_creates_admin(services: dict) -> None:
    init = services["airflow-init"]
    script = " ".join(command_words(init))
    assert "airflow db migrate" in script
    # The admin's password lands in the file the SimpleAuthManager of the API server reads.
    env = environment_of(init)
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert "_AIRFLOW_WWW_USER_PASSWORD" in env
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].endswith(":admin")
    api_env = environment_of(services["airflow-apiserver"])
    passwords_file = api_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert passwords_file == env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    shared = [
        target
        for target in volume_targets(init)
        if passwords_file.startswith(target + "/") and target in volume_targets(services["airflow-apiserver"])
    ]
    assert shared, "the passwords file must be on a volume shared by airflow-init and the API server"
    assert volume_targets(init)[shared[0]] == volume_targets(services["airflow-apiserver"])[shared[0]]


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in AIRFLOW_COMPONENTS])
def test_components_wait_for_airflow_init(services: dict, name: str) -> None:
    assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_apiserver_serves_port_8080(services: dict) -> None:
    assert "8080:8080" in [str(port) for port in services["airflow-apiserver"]["ports"]]


# --------------------------------------------------------------------------------------------
# Mounts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "folder"),
    [
        pytest.param(service, folder, id=f"{service}-{folder}")
        for service in AIRFLOW_SERVICES
        for folder in ("dags", "plugins", "include", "logs")
    ],
)
def test_airflow_service_mounts_project_folder(services: dict, service: str, folder: str) -> None:
    targets = volume_targets(services[service])
    target = f"/opt/airflow/{folder}"
    assert target in targets, f"{service} does not mount {target}; mounts: {targets}"
    assert Path(targets[target]).parts == Path(f"./{folder}").parts, f"{target} <- {targets[target]}"


# --------------------------------------------------------------------------------------------
# Image
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", [pytest.param(service, id=service) for service in AIRFLOW_SERVICES])
def test_airflow_image_is_built_from_repo_dockerfile(services: dict, service: str) -> None:
    build = services[service].get("build")
    assert build is not None, f"{service} pulls an image instead of building the pinned one"
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()


def test_airflow_services_share_one_image(services: dict) -> None:
    images = {services[service].get("image") for service in AIRFLOW_SERVICES}
    assert len(images) == 1 and None not in images, images


def test_dockerfile_base_image_matches_pinned_airflow() -> None:
    pinned = re.search(r"^apache-airflow==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE)
    assert pinned is not None, "requirements.txt must pin apache-airflow"
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert froms == [f"apache/airflow:{pinned.group(1)}-python3.11"]


def test_dockerfile_installs_requirements_constrained_by_lock() -> None:
    instructions = dockerfile_instructions()
    copied = " ".join(args for instruction, args in instructions if instruction in ("COPY", "ADD"))
    assert "requirements.txt" in copied and "requirements.lock" in copied

    pip_runs = [
        (position, shlex.split(args))
        for position, (instruction, args) in enumerate(instructions)
        if instruction == "RUN" and "pip" in args and "install" in args
    ]
    assert len(pip_runs) == 1, pip_runs
    position, words = pip_runs[0]
    pairs = list(zip(words, words[1:], strict=False))
    requirement_files = [Path(value).name for flag, value in pairs if flag in ("-r", "--requirement")]
    constraint_files = [Path(value).name for flag, value in pairs if flag in ("-c", "--constraint")]
    assert requirement_files == ["requirements.txt"]
    assert constraint_files == ["requirements.lock"]
    assert "--no-cache-dir" in words

    # The official image installs into the airflow user's site-packages; pip must not run as root.
    users = [args for instruction, args in instructions[:position] if instruction == "USER"]
    assert not users or users[-1] == "airflow", users


# --------------------------------------------------------------------------------------------
# Airflow configuration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", [pytest.param(service, id=service) for service in AIRFLOW_SERVICES])
def test_airflow_core_settings(services: dict, service: str) -> None:
    env = environment_of(services[service])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution_api.hostname, execution_api.port, execution_api.path) == (
        "airflow-apiserver",
        8080,
        "/execution/",
    )
    assert execution_api.hostname in services


@pytest.mark.parametrize(
    ("variable", "default"),
    [
        pytest.param("POWERPRO_MOODLE_RETRIES", "3", id="retries"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "300", id="retry-delay"),
        pytest.param("POWERPRO_MOODLE_PROVISIONING_SCHEDULE", "@hourly", id="provisioning-schedule"),
        pytest.param("POWERPRO_MOODLE_RESULTING_SCHEDULE", "@hourly", id="resulting-schedule"),
    ],
)
def test_dag_settings_are_passed_through_with_the_dag_defaults(
    services: dict, env_example: dict[str, str], variable: str, default: str
) -> None:
    for name in ("airflow-dag-processor", "airflow-scheduler"):
        value = environment_of(services[name])[variable]
        assert interpolate(value, {}) == default, name
        assert interpolate(value, {variable: "override"}) == "override", name
    assert env_example[variable] == default


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------

CONNECTIONS = [
    pytest.param(
        "AIRFLOW_CONN_POWERPRO_DB",
        "mssql",
        "mssql",
        "MSSQL_SA_PASSWORD",
        id="powerpro_db",
    ),
    pytest.param(
        "AIRFLOW_CONN_MOODLE_FTP",
        "ftp",
        "ftp",
        "MOODLE_FTP_PASSWORD",
        id="moodle_ftp",
    ),
]


@pytest.mark.parametrize("service", [pytest.param(service, id=service) for service in AIRFLOW_SERVICES])
@pytest.mark.parametrize(("variable", "conn_type", "host", "password_variable"), CONNECTIONS)
def test_connection_env_var_is_set_from_env_file(
    services: dict, service: str, variable: str, conn_type: str, host: str, password_variable: str
) -> None:
    value = environment_of(services[service]).get(variable)
    assert value is not None, f"{variable} missing on {service}"
    parts = substitution_parts(value)
    assert parts is not None and parts[0] == variable, f"{variable} must come from .env, got {value!r}"
    # Overriding in .env wins over the local default.
    assert interpolate(value, {variable: f"{conn_type}://u:p@elsewhere:1"}) == f"{conn_type}://u:p@elsewhere:1"


@pytest.mark.parametrize(("variable", "conn_type", "host", "password_variable"), CONNECTIONS)
def test_connection_default_points_at_integration_service(
    services: dict,
    compose_env: dict[str, str],
    variable: str,
    conn_type: str,
    host: str,
    password_variable: str,
) -> None:
    uri = resolved_env(services, "airflow-scheduler", compose_env)[variable]
    parts = urlsplit(uri)
    assert parts.scheme == conn_type  # Airflow takes the connection type from the URI scheme
    assert parts.hostname == host and host in services
    # The credentials in the URI are the ones the stand-in service is started with.
    service_env = resolved_env(services, host, compose_env)
    assert unquote(parts.password or "") == service_env[password_variable]
    if conn_type == "ftp":
        assert unquote(parts.username or "") == service_env["MOODLE_FTP_USER"]


@pytest.mark.parametrize(("variable", "conn_type", "host", "password_variable"), CONNECTIONS)
def test_connection_default_takes_password_from_variable(
    services: dict, variable: str, conn_type: str, host: str, password_variable: str
) -> None:
    _, operator, default = substitution_parts(environment_of(services["airflow-scheduler"])[variable])
    assert operator == ":-"
    # Whatever the password variable holds must be exactly what ends up in the URI.
    uri = interpolate(default, {password_variable: "sentinel-from-env"})
    assert urlsplit(uri).password == "sentinel-from-env", f"{variable} default has a literal password"


# --------------------------------------------------------------------------------------------
# Optional integration services
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in INTEGRATION_SERVICES])
def test_integration_service_is_behind_profile(services: dict, name: str) -> None:
    assert name in services
    assert services[name].get("profiles") == ["integration"]
    for airflow_service in AIRFLOW_SERVICES:
        # Depending on a profiled service would drag it into every `docker compose up`.
        assert name not in (services[airflow_service].get("depends_on") or {}), airflow_service


def test_mssql_service(services: dict, compose_env: dict[str, str]) -> None:
    mssql = services["mssql"]
    assert mssql["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    env = resolved_env(services, "mssql", compose_env)
    assert env["ACCEPT_EULA"] == "Y"
    password = env["MSSQL_SA_PASSWORD"]
    assert is_sql_server_strong(password), "SQL Server would refuse to start with this sa password"
    assert quote(password, safe="") == password, "the password is embedded in a URI unescaped"


def test_ftp_service_serves_moodle_user_with_passive_ports(services: dict) -> None:
    ftp = services["ftp"]
    script = command_words(ftp)[-1]
    words = shlex.split(script.replace("$$", "$"))
    assert "pyftpdlib" in words
    server = words[words.index("pyftpdlib") :]
    options = dict(zip(server, server[1:], strict=False))
    assert options["-p"] == "21"
    assert options["-u"] in ("$MOODLE_FTP_USER", "${MOODLE_FTP_USER}")
    assert options["-P"] in ("$MOODLE_FTP_PASSWORD", "${MOODLE_FTP_PASSWORD}")
    assert "-w" in server, "Airflow uploads to Moodle, so the FTP user needs write access"
    low, high = (int(port) for port in options["-r"].split("-"))
    exposed = {str(port) for port in ftp["expose"]}
    assert "21" in exposed and f"{low}-{high}" in exposed


# --------------------------------------------------------------------------------------------
# Secrets and .env.example
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "key", "variable"),
    [
        pytest.param("mssql", "MSSQL_SA_PASSWORD", "MSSQL_SA_PASSWORD", id="mssql-sa-password"),
        pytest.param("ftp", "MOODLE_FTP_PASSWORD", "MOODLE_FTP_PASSWORD", id="ftp-password"),
        pytest.param("postgres", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD", id="postgres-password"),
        pytest.param("airflow-init", "_AIRFLOW_WWW_USER_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD", id="admin-password"),
        pytest.param("airflow-scheduler", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET", id="jwt-secret"),
        pytest.param("airflow-scheduler", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY", id="fernet-key"),
    ],
)
def test_secret_comes_from_a_variable(services: dict, service: str, key: str, variable: str) -> None:
    value = environment_of(services[service])[key]
    parts = substitution_parts(value)
    assert parts is not None, f"{service}.{key} is a literal: {value!r}"
    name, _, default = parts
    assert name == variable
    # A fallback is tolerated only if nobody could mistake it for a real credential.
    assert not default or "local" in default.lower(), f"fallback {default!r} is not marked local-only"


def test_no_secret_literal_anywhere(services: dict) -> None:
    offenders = [
        f"{name}.{key}={value!r}"
        for name, service in services.items()
        for key, value in environment_of(service).items()
        if SECRET_KEY_PATTERN.search(key) and not key.endswith("_FILE") and substitution_parts(value) is None
    ]
    assert offenders == []


def test_env_example_lists_every_variable_the_compose_file_reads(compose: dict, env_example: dict) -> None:
    referenced: set[str] = set()
    for text in iter_strings(compose):
        referenced |= referenced_variables(text)
    assert "MSSQL_SA_PASSWORD" in referenced  # guards against the scan silently finding nothing
    assert sorted(referenced - env_example.keys()) == []
    assert sorted(env_example.keys() - referenced) == [], "stale entries in .env.example"


def test_env_example_placeholders_are_not_real_secrets(env_example: dict[str, str]) -> None:
    secrets = {key: value for key, value in env_example.items() if SECRET_KEY_PATTERN.search(key)}
    assert "MSSQL_SA_PASSWORD" in secrets
    for key, value in secrets.items():
        assert not value or re.search(r"local|change", value, re.IGNORECASE), f"{key}={value!r}"
