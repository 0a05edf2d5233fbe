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

What the deployment means (docs/deploy.md): a one-shot `migrate` job, then two stateless web
processes and a dispatcher, on PostgreSQL; Caddy for HTTPS under the `https` profile, Rasa under
`rasa`. Every variable the bot reads reaches every bot process; secrets only from the environment.
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
ENV_EXAMPLE = ROOT / "deploy" / "env.example"

RASA_SERVICES = {"rasa-train", "rasa"}


def _web_services() -> set[str]:
    """The services that run `python -m bot run --role web` (two, or more: docs/deploy.md)."""
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    return {
        name
        for name, svc in services.items()
        if " ".join(map(str, svc.get("command") or [])).startswith("python -m bot run --role web")
    }


WEB_SERVICES = _web_services()
BOT_SERVICES = {"migrate", "dispatcher", *WEB_SERVICES}
PROFILES = {"rasa-train": ["rasa"], "rasa": ["rasa"], "caddy": ["https"]}
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")
# What `up` needs: the database password and the keys every web process must share.
REQUIRED = {
    "POSTGRES_PASSWORD": "example",
    "WEB_SESSION_KEY": "a" * 43 + "=",
    "TOKEN_ENCRYPTION_KEYS": "b" * 43 + "=",
}
# Variables of config.yml that docker-compose.yml sets to its own, fixed value (the compose
# network's addresses and ports), instead of passing the operator's through.
FIXED = {
    "DATABASE_URL": "postgresql+asyncpg://langso:${POSTGRES_PASSWORD}@db:5432/langso",
    "BOT_HOST": "0.0.0.0",
    "BOT_PORT": "8080",
    "DISPATCHER_PORT": "8090",
    "RASA_URL": "http://rasa:5005",
}
# Variables read with os.environ in bot/ that are not deployment settings. GLIBC_TUNABLES is
# glibc's own (bot/allocator.py only looks whether the operator set a malloc threshold in it).
NOT_SETTINGS = {"LANGSO_CONFIG", "GLIBC_TUNABLES"}


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


def seconds(duration: str) -> float:
    """A Compose duration such as 30s, 1m30s, 1h."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), duration
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    return sum(float(n) * scale[u] for n, u in parts)


def config_variables() -> dict[str, str | None]:
    """Every ${VAR} that config.yml's values read (comments excluded), with its default."""
    found: dict[str, str | None] = {}

    def walk(value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", value):
                found[m.group(1)] = m.group(2)

    walk(yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8")))
    return found


def environ_variables() -> set[str]:
    """Variables the bot's code reads from the environment directly."""
    names: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r"environ(?:\.get)?\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']", text))
        names.update(re.findall(r"environ\[\s*[\"']([A-Z][A-Z0-9_]+)[\"']\s*\]", text))
        names.update(re.findall(r"getenv\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']", text))
    return names - NOT_SETTINGS


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
    resolved = interpolate(compose, REQUIRED)
    errors = schema_errors(resolved)
    assert not errors, "\n".join(errors)


def test_schema_is_strict_enough_to_catch_typos(compose):
    """Guards against a schema that accepts anything (which would make the test above moot)."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["web-1"]["healtcheck"] = broken["services"]["web-1"].pop("healthcheck")
    assert schema_errors(broken)
    broken = json.loads(json.dumps(compose))
    broken["services"]["db"]["depends_on"] = {"web-1": {"condition": "healthy"}}
    assert schema_errors(broken)
    broken = json.loads(json.dumps(compose))
    broken["services"]["web-1"]["stop_grace_period"] = ["30s"]
    assert schema_errors(broken)


# --------------------------------------------------------------------------- services


def test_expected_services(services):
    assert len(WEB_SERVICES) >= 2, "two web processes at least, behind the proxy"
    assert set(services) == {*BOT_SERVICES, "db", "caddy", *RASA_SERVICES}


def test_profiles(services):
    for name, svc in services.items():
        if name in PROFILES:
            assert svc.get("profiles") == PROFILES[name], name
        else:
            assert not svc.get("profiles"), f"{name} must start without a profile"
    for name in RASA_SERVICES:
        assert services[name]["image"] == "rasa/rasa:3.6.21"


def test_no_required_variable_in_a_profile_gated_service(services):
    """Compose interpolates every service, active profile or not: a `${VAR:?}` in an optional
    service would stop a plain `docker compose up`."""
    for name in PROFILES:
        text = yaml.safe_dump(services[name])
        assert not re.search(r"\$\{\w+:?\?", text), f"{name}: no required variable here"


def test_bot_services_are_the_image_built_from_the_dockerfile(services):
    images = set()
    for name in BOT_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).resolve() == (ROOT / "Dockerfile").resolve()
        images.add(services[name]["image"])
    assert images == {"langso-bot:latest"}


def test_commands(services):
    """Each bot service runs the command its role needs, and `python -m bot` accepts it."""
    from bot.__main__ import build_parser

    expected = {
        "migrate": ["db", "upgrade"],
        "dispatcher": ["run", "--role", "dispatcher"],
        **{name: ["run", "--role", "web"] for name in WEB_SERVICES},
    }
    for name, words in expected.items():
        cmd = services[name]["command"]
        assert isinstance(cmd, list), f"{name}: exec form, so the bot is PID 1's child directly"
        assert cmd[:3] == ["python", "-m", "bot"], name
        assert cmd[3 : 3 + len(words)] == words, f"{name}: {cmd}"
        try:
            args = build_parser().parse_args(cmd[3:])
        except SystemExit:
            pytest.fail(f"{name}: `python -m bot {' '.join(cmd[3:])}` is not a valid command")
        if "--role" in words:
            assert args.role == words[-1]


def test_only_the_migration_job_migrates(services):
    """Two web processes starting at once must not race through the same migration."""
    for name in BOT_SERVICES - {"migrate"}:
        assert "upgrade" not in services[name]["command"], name
    assert services["migrate"]["restart"] == "no"


def test_start_order(services):
    assert depends_on(services["migrate"])["db"]["condition"] == "service_healthy"
    for name in BOT_SERVICES - {"migrate"}:
        deps = depends_on(services[name])
        assert deps["db"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["restart"] == "unless-stopped"
    assert set(depends_on(services["caddy"])) == WEB_SERVICES


def test_web_waits_for_rasa_only_when_the_profile_is_active(services):
    for name in WEB_SERVICES:
        dep = depends_on(services[name]).get("rasa")
        if dep is not None:  # a hard dependency on a profile-gated service breaks plain `up`
            assert dep.get("required") is False
            assert dep["condition"] == "service_healthy"


def test_rasa_waits_for_training(services):
    assert (
        depends_on(services["rasa"])["rasa-train"]["condition"] == "service_completed_successfully"
    )


def test_healthchecks_point_at_healthz(services):
    for name in BOT_SERVICES - {"migrate"}:
        env = env_map(services[name])
        port = env["DISPATCHER_PORT"] if name == "dispatcher" else env["BOT_PORT"]
        check = healthcheck_command(services[name])
        assert f"http://127.0.0.1:{port}/healthz" in check, name
        assert check.split()[:2] == ["CMD", "python"], "python:3.11-slim has no curl/wget"
    assert "healthcheck" not in services["migrate"]
    assert "pg_isready" in healthcheck_command(services["db"])
    assert "CMD" in healthcheck_command(services["rasa"])


def test_stop_grace_period_is_longer_than_the_bots_shutdown_grace(services):
    """SIGTERM lets the bot finish what is in hand within SHUTDOWN_GRACE_SECONDS; Docker sends
    SIGKILL after stop_grace_period (default 10 s), which must leave it time to."""
    default = config_variables().get("SHUTDOWN_GRACE_SECONDS")
    assert default, "config.yml: server.shutdown_grace_seconds: ${SHUTDOWN_GRACE_SECONDS:-N}"
    for name in BOT_SERVICES - {"migrate"}:
        svc = services[name]
        assert seconds(svc["stop_grace_period"]) >= float(default) + 5, name
        assert svc.get("init") is True, f"{name}: an init as PID 1 forwards SIGTERM, reaps"
        assert "stop_signal" not in svc or svc["stop_signal"] == "SIGTERM"


def test_every_variable_the_bot_reads_reaches_every_bot_process(services):
    wanted = set(config_variables()) | environ_variables()
    assert {"DATABASE_URL", "TELEGRAM_BOT_TOKEN", "ZALO_APP_ID"} <= wanted
    for name in BOT_SERVICES:
        env = env_map(services[name])
        missing = wanted - set(env)
        assert not missing, f"pass these through to {name}: {sorted(missing)}"
        for var in wanted:
            if var in FIXED:
                assert env[var] == FIXED[var], f"{name}.{var}"
            else:
                assert re.fullmatch(rf"\$\{{{var}(:[-?][^}}]*)?\}}", env[var]), (
                    f"{name}.{var}: pass the operator's value through, got {env[var]!r}"
                )


def test_web_processes_are_interchangeable(services):
    """Stateless: the same settings (one session key, one database) in every web process."""
    first, *others = sorted(WEB_SERVICES)
    for name in others:
        assert env_map(services[name]) == env_map(services[first])
        assert services[name]["command"] == services[first]["command"]
    for name in BOT_SERVICES:
        assert env_map(services[name]) == env_map(services[first]), name


def test_shared_keys_are_required(compose):
    """Without one WEB_SESSION_KEY, each web process would make its own and refuse the other's
    cookies; without TOKEN_ENCRYPTION_KEYS, tokens would be encrypted with a development key."""
    for var in REQUIRED:
        env = {k: v for k, v in REQUIRED.items() if k != var}
        with pytest.raises(InterpolationError, match=var):
            interpolate(compose, env)
        with pytest.raises(InterpolationError, match=var):
            interpolate(compose, {**env, var: ""})
    resolved = interpolate(compose, REQUIRED)["services"]["web-1"]["environment"]
    assert resolved["WEB_SESSION_KEY"] == REQUIRED["WEB_SESSION_KEY"]


def test_bot_environment_resolves(services):
    env = env_map(services["web-1"])
    resolved = interpolate(env, {"POSTGRES_PASSWORD": "pw", "WEB_SESSION_KEY": "k", **REQUIRED})
    assert resolved["DATABASE_URL"] == "postgresql+asyncpg://langso:example@db:5432/langso"
    assert resolved["NLU_ENGINE"] == "builtin"
    assert resolved["WEB_HTTPS"] == "true" and resolved["WEB_TRUST_PROXY"] == "true"
    assert interpolate(env, {**REQUIRED, "NLU_ENGINE": "rasa"})["NLU_ENGINE"] == "rasa"


def test_ports(services):
    """Only the proxy faces the network; the web processes listen on the host's loopback (for a
    proxy on the host), each on its own port; the database and dispatcher publish nothing."""
    host_ports = []
    for name in sorted(WEB_SERVICES):
        (port,) = services[name]["ports"]
        ip, host, container = str(port).split(":")
        assert ip == "127.0.0.1", f"{name}: bind the loopback only"
        assert container == env_map(services[name])["BOT_PORT"]
        host_ports.append(host)
    assert len(set(host_ports)) == len(host_ports)
    for name in ("db", "dispatcher", "migrate", *RASA_SERVICES):
        assert not services[name].get("ports"), f"{name} is reached on the compose network only"
    assert {"80:80", "443:443"} <= set(map(str, services["caddy"]["ports"]))


def test_caddy_balances_every_web_process(services):
    caddy = services["caddy"]
    assert caddy["image"].startswith("caddy:2")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert (ROOT / "deploy" / "Caddyfile").is_file()
    assert {"caddy_data:/data", "caddy_config:/config"} <= set(caddy["volumes"]), (
        "certificates must survive a restart (the CA rate-limits new ones)"
    )
    upstreams = env_map(caddy)["LANGSO_UPSTREAMS"].split()
    assert sorted(upstreams) == sorted(
        f"{name}:{env_map(services[name])['BOT_PORT']}" for name in WEB_SERVICES
    ), "add every web service to LANGSO_UPSTREAMS"
    assert not re.search(r"\$\{LANGSO_DOMAIN:?\?", yaml.safe_dump(caddy))


def test_containers_are_locked_down(services):
    for name in BOT_SERVICES:
        svc = services[name]
        assert svc.get("read_only") is True, name
        assert "ALL" in svc.get("cap_drop", []), name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert "/tmp" in svc.get("tmpfs", []), name
    for name in (*BOT_SERVICES, "db", "caddy"):
        logging = services[name].get("logging", {})
        assert logging.get("options", {}).get("max-size"), f"{name}: bounded logs"


def test_exports_and_media_are_shared_by_every_bot_process(compose, services):
    """A /dulieu file written by one web process is downloaded from, or sent by, another; a
    photo stored by one is erased by another (and the root file system is read-only)."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for name in BOT_SERVICES:
        assert "exports:/app/var/exports" in services[name]["volumes"], name
        assert config["privacy"]["export_dir"] == "var/exports"
        media = config.get("media", {}).get("dir")
        if media:  # ${MEDIA_DIR:-var/media}
            assert re.fullmatch(r"\$\{MEDIA_DIR:-var/media\}|var/media", media), media
            assert "media:/app/var/media" in services[name]["volumes"], name


def test_volumes_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    assert {"pgdata", "rasa_models", "exports", "media", "caddy_data", "caddy_config"} <= declared
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


def test_database_service(services):
    db = services["db"]
    assert db["image"] == "postgres:15"
    env = env_map(db)
    assert env["POSTGRES_USER"] == "langso" and env["POSTGRES_DB"] == "langso"
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    assert seconds(db["stop_grace_period"]) >= 30, "let PostgreSQL shut down cleanly"


def test_missing_password_is_an_error(compose):
    others = {k: v for k, v in REQUIRED.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(InterpolationError, match="set POSTGRES_PASSWORD"):
        interpolate(compose, others)
    with pytest.raises(InterpolationError):
        interpolate(compose, {**others, "POSTGRES_PASSWORD": ""})


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


# --------------------------------------------------------------------------- env.example


def test_env_example_lists_every_variable_and_holds_no_value():
    """The operator's template for .env / /etc/langso/langso.env: complete, and empty (a
    template that held a value would be a secret in git)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assigned = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            assigned[m.group(2)] = (m.group(1) is None, m.group(3))
    wanted = set(config_variables()) | environ_variables() | {"POSTGRES_PASSWORD", "LANGSO_DOMAIN"}
    missing = wanted - set(assigned)
    assert not missing, f"add to deploy/env.example: {sorted(missing)}"
    for name, (_active, value) in assigned.items():
        assert value == "", f"deploy/env.example: {name} must be empty"
    # The units set these per process; a value in the EnvironmentFile would override them.
    for name in ("BOT_HOST", "BOT_PORT", "DISPATCHER_PORT"):
        assert assigned[name][0] is False, f"deploy/env.example: keep {name} commented out"


def test_env_files_are_never_committed_or_copied_into_the_image():
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in dockerignore and ".env.*" in dockerignore


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
    # The exports volume is created from the image's directory, owned by the bot's user.
    assert config["privacy"]["export_dir"] == "var/exports"
    assert re.search(r"mkdir -p var/exports var/media .*chown -R langso:langso var", joined)
    health = next(ln for ln in instructions if ln.startswith("HEALTHCHECK"))
    assert "/healthz" in health


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


def test_compose_cli_accepts_the_file_in_every_profile():
    """Optional: where a Compose v2 CLI exists (or LANGSO_COMPOSE_BIN names one), let it
    load the project with and without the profiles, as `up` would."""
    import os
    import subprocess

    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI here (the schema tests above cover the file)")
    base = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    env["COMPOSE_DISABLE_ENV_FILE"] = "1"  # an operator's .env must not change the answer

    missing = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and any(var in missing.stderr for var in REQUIRED)

    env.update(REQUIRED)
    plain = subprocess.run([*base, "config", "--services"], capture_output=True, text=True, env=env)
    assert plain.returncode == 0, plain.stderr
    assert set(plain.stdout.split()) == {*BOT_SERVICES, "db"}

    every = subprocess.run(
        [*base, "--profile", "rasa", "--profile", "https", "config", "--services"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert every.returncode == 0, every.stderr
    assert set(every.stdout.split()) == {*BOT_SERVICES, "db", "caddy", *RASA_SERVICES}
