"""Static checks of the container deployment: docker-compose.yml, Dockerfile, .dockerignore.

Nothing is started: the files are parsed (YAML via ``yaml.safe_load``, the Dockerfile by a
small instruction parser) and their wiring is asserted. Compose ``${VAR:-default}``
interpolation is resolved with an EMPTY environment, so the checks describe what a fresh
checkout gets by default, whatever happens to be exported in the shell running pytest.
"""
from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"

PROJECT_IMAGE_REPO = "cloud-discovery-airflow"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
REQUIRED_SERVICES = {"postgres", "redis", "minio", "minio-init"} | AIRFLOW_SERVICES
DAGS_IN_CONTAINER = "/opt/airflow/dags"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


# ---------------------------------------------------------------------------
# Compose interpolation (the subset of the Compose spec this file uses)
# ---------------------------------------------------------------------------

def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Resolve ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:+r}``,
    ``${VAR?e}`` (nested too) and ``$$`` like Docker Compose does."""
    env = {} if env is None else env
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":  # escaped dollar: literal "$", left for the container's shell
            out.append("$")
            i += 2
        elif nxt == "{":
            depth, j = 0, i + 1
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            else:
                raise ValueError(f"unterminated ${{ in {text!r}")
            out.append(_expand(text[i + 2 : j], env))
            i = j + 1
        else:
            match = re.match(_NAME, text[i + 1 :])
            if match:
                out.append(env.get(match.group(0), ""))
                i += 1 + len(match.group(0))
            else:
                out.append("$")
                i += 1
    return "".join(out)


def _expand(body: str, env: dict[str, str]) -> str:
    match = re.fullmatch(rf"({_NAME})(?:(:?[-+?])(.*))?", body, re.S)
    if not match:
        raise ValueError(f"unsupported interpolation ${{{body}}}")
    name, op, arg = match.groups()
    value = env.get(name)
    if op is None:
        return value or ""
    is_set = value is not None and (value != "" or not op.startswith(":"))
    kind = op[-1]
    if kind == "-":
        return value if is_set else interpolate(arg, env)
    if kind == "+":
        return interpolate(arg, env) if is_set else ""
    if is_set:  # "?"
        return value
    raise ValueError(f"required variable {name} is not set: {interpolate(arg, env)}")


def _interpolate_tree(node):
    if isinstance(node, dict):
        return {key: _interpolate_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value) for value in node]
    if isinstance(node, str):
        return interpolate(node)
    return node


def test_interpolation_helper_matches_compose_semantics():
    assert interpolate("${A:-x}") == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("${A:-${B:-deep}}") == "deep"
    assert interpolate("${A:-${B:-deep}}", {"B": "b"}) == "b"
    assert interpolate("img:${T:-1.0}") == "img:1.0"
    assert interpolate('ping "celery@$${HOSTNAME}"') == 'ping "celery@${HOSTNAME}"'
    with pytest.raises(ValueError):
        interpolate("${A:?needed}")


# ---------------------------------------------------------------------------
# Loading helpers
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def raw_compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE}"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def compose(raw_compose) -> dict:
    """The compose document with defaults interpolated (empty environment)."""
    return _interpolate_tree(raw_compose)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        env = dict(pairs)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def split_image(ref: str) -> tuple[str, str | None]:
    """(repository, tag) of an image reference; tag None when absent."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag
    return name, None


def build_context(service: dict) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return build
    return build.get("context", ".")


def airflow_service_names(services: dict) -> set[str]:
    """Services running the project image (i.e. using the x-airflow-common anchor)."""
    return {
        name
        for name, svc in services.items()
        if split_image(str(svc.get("image", "")))[0] == PROJECT_IMAGE_REPO
    }


def command_text(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif value is not None:
            parts.append(str(value))
    return "\n".join(parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    assert DOCKERFILE.is_file(), f"missing {DOCKERFILE}"
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    result = []
    for entry in logical:
        instr, _, args = entry.partition(" ")
        result.append((instr.upper(), args.strip()))
    return result


def final_from_image() -> str:
    instructions = dockerfile_instructions()
    args: dict[str, str] = {}
    image = None
    for instr, rest in instructions:
        if instr == "ARG" and image is None:  # ARGs before FROM may parametrise FROM
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif instr == "FROM":
            tokens = [t for t in rest.split() if not t.startswith("--")]
            image = interpolate(tokens[0], args)
    assert image, "Dockerfile has no FROM"
    return image


def pinned_airflow_version() -> str:
    assert PYPROJECT.is_file(), f"missing {PYPROJECT} (the lead writes it)"
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    deps = list(project.get("dependencies", []))
    pattern = re.compile(r"^\s*apache-airflow\s*(\[[^\]]*\])?\s*==\s*([^\s;,]+)")
    pins = [m.group(2) for m in map(pattern.match, deps) if m]
    assert len(pins) == 1, f"expected exactly one apache-airflow==X pin in {deps}"
    return pins[0]


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------

def test_required_services_present(services):
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_every_image_has_an_explicit_non_latest_tag(services):
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"service {name} has no image"
        repo, tag = split_image(str(image))
        assert tag, f"service {name}: image {image!r} is untagged"
        assert tag.lower() != "latest", f"service {name}: image {image!r} uses latest"
        assert "$" not in tag and "{" not in tag, f"service {name}: unresolved tag {tag!r}"


def test_airflow_services_run_the_project_image_built_from_repo(compose, services):
    common = compose["x-airflow-common"]
    repo, tag = split_image(common["image"])
    assert repo == PROJECT_IMAGE_REPO and tag, common["image"]
    assert build_context(common) in (".", "./")
    project_services = airflow_service_names(services)
    assert AIRFLOW_SERVICES <= project_services, (
        f"not on the project image: {sorted(AIRFLOW_SERVICES - project_services)}"
    )
    for name in project_services:
        assert build_context(services[name]) in (".", "./"), f"{name}: build context is not ."
    assert (ROOT / build_context(common) / "Dockerfile").resolve() == DOCKERFILE.resolve()


def test_pinned_versions_for_backing_services(services):
    repo, tag = split_image(services["postgres"]["image"])
    assert repo == "postgres" and re.match(r"^16\.\d+", tag), tag  # postgres 16, pinned minor
    repo, tag = split_image(services["redis"]["image"])
    assert repo == "redis" and re.match(r"^\d+\.\d+\.\d+", tag), tag
    repo, tag = split_image(services["minio"]["image"])
    assert repo.endswith("minio/minio") and tag.startswith("RELEASE."), tag
    repo, tag = split_image(services["minio-init"]["image"])
    assert repo.endswith("minio/mc") and tag.startswith("RELEASE."), tag


def test_all_airflow_services_use_celery_executor(services):
    for name in airflow_service_names(services):
        env = env_of(services[name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        assert env.get("AIRFLOW__CELERY__BROKER_URL", "").startswith("redis://redis:") or \
            env.get("AIRFLOW__CELERY__BROKER_URL", "").startswith("redis://:@redis:"), name
        assert env.get("AIRFLOW__CELERY__RESULT_BACKEND", "").startswith("db+postgresql://"), name
        assert "@postgres" in env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""), name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name


def test_airflow_services_share_secrets_and_execution_api(services):
    names = airflow_service_names(services)
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    ):
        values = {env_of(services[name]).get(key) for name in names}
        assert None not in values, f"{key} missing from some Airflow service"
        assert len(values) == 1, f"{key} differs between Airflow services: {values}"
    jwt = env_of(services["airflow-worker"])["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(jwt) >= 32, "default JWT secret should be at least 32 bytes (HS512)"
    url = urlsplit(env_of(services["airflow-worker"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.path.rstrip("/") == "/execution"
    apiserver_ports = [str(p) for p in services["airflow-apiserver"].get("ports", [])]
    assert any(p.split(":")[-1] == str(url.port) for p in apiserver_ports)


def test_lake_and_endpoint_reach_worker_and_scheduler(services):
    minio_ports = {str(p).split(":")[-1] for p in services["minio"].get("ports", [])}
    for name in ("airflow-worker", "airflow-scheduler"):
        env = env_of(services[name])
        lake = env.get("CLOUD_DISCOVERY_LAKE", "")
        assert lake.startswith("s3://"), f"{name}: CLOUD_DISCOVERY_LAKE={lake!r}"
        endpoint = urlsplit(env.get("AWS_ENDPOINT_URL", ""))
        assert endpoint.scheme in ("http", "https"), f"{name}: AWS_ENDPOINT_URL"
        assert endpoint.hostname == "minio" and "minio" in services, name
        assert str(endpoint.port) in minio_ports | {"9000"}, name
        assert env.get("AWS_DEFAULT_REGION") == "us-east-1", name


def test_s3_credentials_match_minio_root_user(services):
    minio_env = env_of(services["minio"])
    assert len(minio_env["MINIO_ROOT_PASSWORD"]) >= 8  # MinIO refuses shorter passwords
    for name in airflow_service_names(services):
        env = env_of(services[name])
        assert env.get("AWS_ACCESS_KEY_ID") == minio_env["MINIO_ROOT_USER"], name
        assert env.get("AWS_SECRET_ACCESS_KEY") == minio_env["MINIO_ROOT_PASSWORD"], name


def test_minio_init_creates_the_lake_bucket(services):
    lake = env_of(services["airflow-worker"])["CLOUD_DISCOVERY_LAKE"]
    bucket = urlsplit(lake).netloc
    assert bucket, lake
    script = command_text(services["minio-init"])
    created = set()
    for match in re.finditer(r"\bmc\s+mb\b([^\n;&|]*)", script):
        for token in shlex.split(match.group(1)):
            if not token.startswith("-") and "/" in token:
                created.add(token.split("/", 2)[1])
    assert bucket in created, f"minio-init creates {sorted(created)}, lake needs {bucket!r}"
    assert "--ignore-existing" in script or "-p" in script.split(), "bucket creation not idempotent"
    minio_init_env = env_of(services["minio-init"])
    assert minio_init_env.get("MINIO_ROOT_USER") == env_of(services["minio"])["MINIO_ROOT_USER"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_startup_ordering(services):
    for name in ("postgres", "redis", "minio", "airflow-apiserver", "airflow-scheduler",
                 "airflow-worker", "airflow-triggerer", "airflow-dag-processor"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ("airflow-worker", "airflow-scheduler"):
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["minio-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    init_env = env_of(services["airflow-init"])
    assert init_env.get("_AIRFLOW_DB_MIGRATE") == "true"
    assert init_env.get("_AIRFLOW_WWW_USER_CREATE") == "true"
    assert init_env.get("_AIRFLOW_WWW_USER_PASSWORD")


def test_worker_is_scalable(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker
    assert not worker.get("ports"), "a fixed host port prevents --scale airflow-worker=N"
    assert "celery worker" in command_text(worker)


def test_dags_folder_reaches_airflow_containers(services):
    assert (ROOT / "dags").is_dir()
    baked = any(
        instr in ("COPY", "ADD")
        and (tokens := [t for t in args.split() if not t.startswith("--")])
        and any(src.rstrip("/") in ("dags", "./dags") for src in tokens[:-1])
        and tokens[-1].rstrip("/") == DAGS_IN_CONTAINER
        for instr, args in dockerfile_instructions()
    )
    for name in AIRFLOW_SERVICES:
        mounts = services[name].get("volumes") or []
        targets = {
            (m.split(":")[1] if isinstance(m, str) else m.get("target", "")).rstrip("/")
            for m in mounts
        }
        assert baked or DAGS_IN_CONTAINER in targets, f"{name} cannot see dags/"


# ---------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ---------------------------------------------------------------------------

def test_dockerfile_base_is_official_airflow_python311():
    repo, tag = split_image(final_from_image())
    assert repo in ("apache/airflow", "docker.io/apache/airflow"), repo
    assert tag and re.fullmatch(r"\d+\.\d+\.\d+-python3\.11", tag), tag


def test_dockerfile_airflow_version_matches_pyproject_pin():
    """Depends on /work/main/pyproject.toml (apache-airflow==X in [project].dependencies)."""
    _, tag = split_image(final_from_image())
    assert tag.split("-python", 1)[0] == pinned_airflow_version()


def test_dockerfile_installs_project_as_airflow_user():
    instructions = dockerfile_instructions()
    copied = set()
    user = "root"
    installs = []
    for instr, args in instructions:
        if instr == "USER":
            user = args.split(":")[0]
        elif instr in ("COPY", "ADD"):
            tokens = [t for t in args.split() if not t.startswith("--")]
            copied.update(t.rstrip("/").removeprefix("./") for t in tokens[:-1])
        elif instr == "RUN" and re.search(r"\bpip\s+install\b", args):
            installs.append((user, shlex.split(args)))
    assert {"pyproject.toml", "etl", "schemas", "README.md"} <= copied, copied
    project_installs = [(u, toks) for u, toks in installs if "." in toks or "./" in toks]
    assert project_installs, "no `pip install .` in the Dockerfile"
    for run_user, tokens in project_installs:
        assert run_user == "airflow", f"pip install runs as {run_user}, not airflow"
        assert "apache-airflow==${AIRFLOW_VERSION}" in tokens, "Airflow not pinned in pip call"
        assert "--no-cache-dir" in tokens


def test_dockerignore_keeps_context_small_and_secret_free():
    assert DOCKERIGNORE.is_file()
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".venv", "lake", ".env", "**/__pycache__", "bench"):
        assert needed in patterns, f".dockerignore should exclude {needed}"
    for kept in ("etl", "schemas", "dags", "pyproject.toml", "README.md"):
        assert kept not in patterns, f".dockerignore must not exclude {kept}"
