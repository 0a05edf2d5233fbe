"""docker-compose.yml is a valid Compose file and deploys what we mean (no Docker engine needed).

The schema in tests/data/compose-spec.json is the Compose Specification's own JSON schema,
`schema/compose-spec.json` of the compose-spec/compose-spec repository, vendored unmodified
from the PyPI package check-jsonschema 0.39.0
(check_jsonschema/builtin_schemas/vendor/compose-spec.json, which that project refreshes from
compose-spec/compose-spec's master branch; Apache-2.0, see its
vendor/licenses/LICENSE.compose-spec). Its sha256 is pinned below so that an edit by hand shows up.
To refresh it:

    pip download --no-deps -d /tmp/cj check-jsonschema
    unzip -p /tmp/cj/check_jsonschema-*.whl \
        check_jsonschema/builtin_schemas/vendor/compose-spec.json > tests/data/compose-spec.json

then update SCHEMA_SHA256.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

RASA_SERVICES = {"rasa-train", "rasa"}
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")


# --------------------------------------------------------------------------- helpers


class InterpolationError(Exception):
    pass


_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value, env: dict[str, str]):
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        present = name in env
        got = env.get(name, "")
        if op in (":-", "-"):
            use_default = not got if op == ":-" else not present
            return arg if use_default else got
        if op in (":?", "?"):
            if (not got) if op == ":?" else (not present):
                raise InterpolationError(f"{name}: {arg}")
            return got
        if op in (":+", "+"):
            return arg if (got if op == ":+" else present) else ""
        return got

    return _VAR.sub(sub, value)


def env_map(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {d: {"condition": "service_started"} for d in deps}
    return deps


def healthcheck_command(service: dict) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


def validator():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(doc) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


# --------------------------------------------------------------------------- schema


def test_schema_is_the_vendored_upstream_file():
    data = SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, (
        "tests/data/compose-spec.json changed; vendor it from upstream and update SCHEMA_SHA256"
    )
    schema = json.loads(data)
    assert schema["title"] == "Compose Specification"


def test_compose_file_validates_against_compose_spec(compose):
    errors = schema_errors(compose)
    assert not errors, (
        "docker-compose.yml does not follow the Compose Specification:\n" + "\n".join(errors)
    )


def test_interpolated_compose_file_validates_too(compose):
    resolved = interpolate(compose, {"POSTGRES_PASSWORD": "example"})
    errors = schema_errors(resolved)
    assert not errors, "\n".join(errors)


def test_schema_is_strict_enough_to_catch_typos(compose):
    """Guards against a schema that accepts anything (which would make the test above moot)."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["bot"]["healtcheck"] = broken["services"]["bot"].pop("healthcheck")
    assert schema_errors(broken)
    broken = json.loads(json.dumps(compose))
    broken["services"]["db"]["depends_on"] = {"bot": {"condition": "healthy"}}
    assert schema_errors(broken)


# --------------------------------------------------------------------------- semantics


def test_expected_services(services):
    assert set(services) == {"bot", "db", *RASA_SERVICES}


def test_bot_is_built_from_the_dockerfile(services):
    build = services["bot"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == (ROOT / "Dockerfile").resolve()


def test_healthchecks_on_bot_and_db(services):
    bot = healthcheck_command(services["bot"])
    assert "/healthz" in bot and "8080" in bot
    assert bot.split()[:2] == ["CMD", "python"], "python:3.11-slim has no curl/wget"
    assert "pg_isready" in healthcheck_command(services["db"])
    assert "CMD" in healthcheck_command(services["rasa"])


def test_bot_waits_for_a_healthy_database(services):
    assert depends_on(services["bot"])["db"]["condition"] == "service_healthy"


def test_bot_waits_for_rasa_only_when_the_profile_is_active(services):
    dep = depends_on(services["bot"]).get("rasa")
    if dep is not None:  # a hard dependency on a profile-gated service breaks plain `up`
        assert dep.get("required") is False
        assert dep["condition"] == "service_healthy"


def test_rasa_waits_for_training(services):
    assert (
        depends_on(services["rasa"])["rasa-train"]["condition"] == "service_completed_successfully"
    )


def test_volumes_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    assert {"pgdata", "rasa_models"} <= declared
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    for name in RASA_SERVICES:
        assert any(str(v).startswith("rasa_models:/app/models") for v in services[name]["volumes"])
    assert "./nlu:/app/nlu:ro" in services["rasa-train"]["volumes"]
    used = {
        str(v).split(":", 1)[0]
        for s in services.values()
        for v in s.get("volumes", [])
        if isinstance(v, str) and not str(v).startswith((".", "/"))
    }
    assert used <= declared, f"named volumes used but not declared: {used - declared}"


def test_rasa_services_only_in_the_rasa_profile(services):
    for name, svc in services.items():
        if name in RASA_SERVICES:
            assert svc.get("profiles") == ["rasa"], name
            assert svc["image"] == "rasa/rasa:3.6.21"
        else:
            assert not svc.get("profiles"), f"{name} must start without a profile"


def test_rasa_commands(services):
    # `rasa train nlu` takes --nlu (not --data) and needs the pipeline config we ship.
    train = services["rasa-train"]["command"]
    assert train[:2] == ["train", "nlu"]
    assert train[train.index("--nlu") + 1] == "/app/nlu/data"
    assert train[train.index("--config") + 1] == "/app/nlu/rasa-config.yml"
    assert (ROOT / "nlu" / "rasa-config.yml").is_file()
    for name in ("rasa-train", "rasa"):
        assert env_map(services[name])["RASA_TELEMETRY_ENABLED"] == "false"
    cmd = services["rasa"]["command"]
    assert cmd[0] == "run" and "--enable-api" in cmd and "/app/models" in cmd
    assert cmd[cmd.index("--port") + 1] == "5005"


def test_bot_environment(services):
    env = env_map(services["bot"])
    assert env["DATABASE_URL"] == "postgresql+asyncpg://langso:${POSTGRES_PASSWORD}@db:5432/langso"
    assert env["BOT_HOST"] == "0.0.0.0"
    assert env["BOT_PORT"] == "8080"
    assert env["RASA_URL"] == "http://rasa:5005"
    assert env["NLU_ENGINE"].startswith("${NLU_ENGINE")
    resolved = interpolate(env, {"POSTGRES_PASSWORD": "pw"})
    assert resolved["DATABASE_URL"] == "postgresql+asyncpg://langso:pw@db:5432/langso"
    assert resolved["NLU_ENGINE"] == "builtin"
    assert (
        interpolate(env, {"POSTGRES_PASSWORD": "pw", "NLU_ENGINE": "rasa"})["NLU_ENGINE"] == "rasa"
    )
    assert "8080:8080" in [str(p) for p in services["bot"]["ports"]]
    assert services["bot"]["restart"] == "unless-stopped"


def test_channel_variables_of_config_yml_are_passed_through(services):
    """Every TELEGRAM_*/ZALO_* variable config.yml reads reaches the bot, empty by default."""
    config = ROOT / "config.yml"
    if not config.exists():
        pytest.fail("config.yml missing")
    wanted = set(
        re.findall(r"\$\{((?:TELEGRAM|ZALO)_[A-Z0-9_]+)", config.read_text(encoding="utf-8"))
    )
    assert wanted, "config.yml reads no TELEGRAM_*/ZALO_* variables?"
    env = env_map(services["bot"])
    missing = wanted - set(env)
    assert not missing, f"pass these through to the bot service: {sorted(missing)}"
    for name in wanted:
        assert env[name] == f"${{{name}:-}}", f"{name}: pass through with an empty default"


def test_database_service(services):
    db = services["db"]
    assert db["image"] == "postgres:15"
    env = env_map(db)
    assert env["POSTGRES_USER"] == "langso" and env["POSTGRES_DB"] == "langso"
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    assert not db.get("ports"), "the database is reached on the compose network only"


def test_missing_password_is_an_error(compose):
    with pytest.raises(InterpolationError, match="set POSTGRES_PASSWORD"):
        interpolate(compose, {})
    with pytest.raises(InterpolationError):
        interpolate(compose, {"POSTGRES_PASSWORD": ""})


def test_no_secrets_hard_coded(compose, services):
    for name, svc in services.items():
        for key, value in env_map(svc).items():
            if any(word in key.upper() for word in SECRET_WORDS):
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}", value), (
                    f"{name}.{key} must come from the environment, got {value!r}"
                )
                m = re.fullmatch(r"\$\{\w+:?-(.*)\}", value)
                assert not (m and m.group(1)), (
                    f"{name}.{key}: a secret must not have a default value"
                )
            for m in re.finditer(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert re.fullmatch(r"\$\{\w+\}", m.group(1)), f"{name}.{key}: password in a URL"
    # and nothing that looks like a real token anywhere in the file
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert not re.search(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b", text), (
        "Telegram bot token in compose file"
    )


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))  # backslash line continuations
    instructions = [ln.strip() for ln in joined.splitlines() if ln.strip()]
    stages: list[str] = []
    for ln in instructions:
        if ln.startswith("FROM "):
            parts = ln.split()
            assert parts[1] == "python:3.11-slim" or parts[1] in stages, ln
            if len(parts) >= 4 and parts[2].upper() == "AS":
                stages.append(parts[3])
    assert "pip install -c constraints.txt ." in text
    # `python -m bot run` refuses to start without the built-in NLU model that config.yml
    # names, and var/ is not in the build context: the image must build it.
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    model = config["nlu"]["model"]
    assert f"nlu train --data nlu/data --out {model}" in joined
    assert any(
        ln.startswith("COPY --from=") and model.rsplit("/", 1)[0] in ln for ln in instructions
    )
    cmd = next(ln for ln in instructions if ln.startswith("CMD"))
    assert cmd.index("python -m bot db upgrade") < cmd.index("python -m bot run")
    assert "EXPOSE 8080" in instructions
    assert any(ln.startswith("USER ") and "root" not in ln for ln in instructions), (
        "run as non-root"
    )


def test_dockerignore():
    entries = {
        ln.strip().rstrip("/").lstrip("/")
        for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert {".venv", "var", ".git", "tests", ".env"} <= entries


# --------------------------------------------------------------------------- real Compose CLI


def _compose_cli() -> list[str] | None:
    """A Docker Compose v2 CLI if one is installed (it parses files without an engine)."""
    import os
    import shutil
    import subprocess

    candidates = []
    if os.environ.get("LANGSO_COMPOSE_BIN"):
        candidates.append([os.environ["LANGSO_COMPOSE_BIN"]])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        try:
            out = subprocess.run(
                [*cmd, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except OSError:
            continue
        if out.returncode == 0 and re.match(r"v?[2-9]\.", out.stdout.strip()):
            return cmd
    return None


def test_compose_cli_accepts_the_file_in_both_profiles():
    """Optional: where a Compose v2 CLI exists (or LANGSO_COMPOSE_BIN names one), let it
    load the project with and without the rasa profile, as `up` would."""
    import os
    import subprocess

    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI here (the schema tests above cover the file)")
    base = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}

    missing = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD" in missing.stderr

    env["POSTGRES_PASSWORD"] = "example"
    plain = subprocess.run([*base, "config", "--services"], capture_output=True, text=True, env=env)
    assert plain.returncode == 0, plain.stderr
    assert set(plain.stdout.split()) == {"bot", "db"}

    rasa = subprocess.run(
        [*base, "--profile", "rasa", "config", "--services"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert rasa.returncode == 0, rasa.stderr
    assert set(rasa.stdout.split()) == {"bot", "db", *RASA_SERVICES}
