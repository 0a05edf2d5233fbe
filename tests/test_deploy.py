"""deploy/: the systemd units, the Caddyfile, the nginx example and the scripts say what
docs/deploy.md says, and the real tools accept them where they are installed (systemd-analyze,
caddy, nginx, bash). The backup and restore scripts are exercised against PostgreSQL in
tests/storage/test_backup_restore.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
WEB_PORTS = ["8081", "8082"]  # the two web processes on a host (and docker-compose.yml's)


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values, in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key, [])
    assert values, f"{key} missing"
    return values[-1]


def shutdown_grace() -> float:
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    m = re.search(r"\$\{SHUTDOWN_GRACE_SECONDS:-([0-9.]+)\}", text)
    assert m, "config.yml: server.shutdown_grace_seconds: ${SHUTDOWN_GRACE_SECONDS:-N}"
    return float(m.group(1))


def bot_command(exec_start: str) -> list[str]:
    argv = exec_start.split()
    assert argv[0].endswith("/python") and argv[1:3] == ["-m", "bot"], exec_start
    return argv[3:]


def parses(words: list[str]):
    from bot.__main__ import build_parser

    try:
        return build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"`python -m bot {' '.join(words)}` is not a valid command")


# --------------------------------------------------------------------------- systemd

BOT_UNITS = ["langso-web@.service", "langso-dispatcher.service", "langso-migrate.service"]


@pytest.mark.parametrize("name", BOT_UNITS)
def test_units_are_hardened_and_read_their_secrets_from_a_file(name):
    svc = unit(name)["Service"]
    assert one(svc, "User") not in ("", "root") or one(svc, "DynamicUser") == "yes"
    assert one(svc, "NoNewPrivileges") == "yes"
    assert one(svc, "ProtectSystem") == "strict"
    assert one(svc, "ProtectHome") == "yes"
    assert one(svc, "PrivateTmp") == "yes"
    assert one(svc, "CapabilityBoundingSet") == ""
    # Writable: var/ only (NLU model, catalogs, /dulieu exports).
    assert svc["ReadWritePaths"] == [f"{one(svc, 'WorkingDirectory')}/var"]
    assert one(svc, "EnvironmentFile") == "/etc/langso/langso.env"
    assert one(svc, "UMask") == "0077"
    for key, values in svc.items():  # secrets never in the unit (world-readable) itself
        for value in values:
            assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD|DATABASE_URL)\w*=", value), (
                f"{name}: {key}={value}: put secrets in the EnvironmentFile"
            )


def test_web_template_runs_one_web_process_per_port():
    u = unit("langso-web@.service")
    svc = u["Service"]
    words = bot_command(one(svc, "ExecStart"))
    assert words[:3] == ["run", "--role", "web"]
    assert parses(words).role == "web"
    env = dict(v.split("=", 1) for v in svc["Environment"])
    assert env == {"BOT_HOST": "127.0.0.1", "BOT_PORT": "%i"}
    assert "%i" in one(u["Unit"], "Description")
    assert one(u["Install"], "WantedBy") == "langso.target"


def test_dispatcher_unit():
    svc = unit("langso-dispatcher.service")["Service"]
    words = bot_command(one(svc, "ExecStart"))
    assert words[:3] == ["run", "--role", "dispatcher"]
    assert parses(words).role == "dispatcher"
    env = dict(v.split("=", 1) for v in svc["Environment"])
    # Its /healthz port must not be one of the web processes'.
    assert env["DISPATCHER_PORT"] not in WEB_PORTS
    assert env.get("BOT_HOST") == "127.0.0.1"


@pytest.mark.parametrize("name", ["langso-web@.service", "langso-dispatcher.service"])
def test_stopping_leaves_the_bot_its_grace_period(name):
    u = unit(name)
    svc = u["Service"]
    assert one(svc, "KillSignal") == "SIGTERM"
    assert float(one(svc, "TimeoutStopSec")) >= shutdown_grace() + 5
    assert one(svc, "Restart") == "on-failure"
    # The migrations run first: the bot refuses to start on a schema older than its code.
    assert "langso-migrate.service" in " ".join(u["Unit"]["After"])
    assert "langso-migrate.service" in " ".join(u["Unit"].get("Wants", []))
    assert one(u["Unit"], "PartOf") == "langso.target"


def test_migration_unit_is_one_shot():
    svc = unit("langso-migrate.service")["Service"]
    assert one(svc, "Type") == "oneshot"
    assert bot_command(one(svc, "ExecStart")) == ["db", "upgrade"]
    parses(["db", "upgrade"])


def test_nightly_backup_unit():
    svc = unit("langso-backup.service")["Service"]
    assert one(svc, "Type") == "oneshot"
    exec_start = one(svc, "ExecStart").split()
    assert exec_start[0] == "/opt/langso/deploy/backup.sh"
    backups = exec_start[1]
    assert svc["ReadWritePaths"] == [backups]
    assert f"-m 0700 {backups}" in one(svc, "ExecStartPre")
    assert one(svc, "EnvironmentFile") == "/etc/langso/langso.env"
    assert one(svc, "User") == "langso" and one(svc, "NoNewPrivileges") == "yes"
    assert one(svc, "ProtectSystem") == "strict" and one(svc, "UMask") == "0077"
    keep = dict(v.split("=", 1) for v in svc["Environment"])["BACKUP_KEEP"]
    assert int(keep) >= 2
    timer = unit("langso-backup.timer")
    assert one(timer["Timer"], "Persistent") == "true"
    assert one(timer["Timer"], "OnCalendar")


def test_target_starts_two_web_processes_and_the_dispatcher():
    wants = " ".join(unit("langso.target")["Unit"]["Wants"]).split()
    assert sorted(wants) == sorted(
        [*(f"langso-web@{p}.service" for p in WEB_PORTS), "langso-dispatcher.service"]
    )


@pytest.fixture(scope="module")
def installed_units(tmp_path_factory) -> Path:
    """The units as an operator installs them, pointed at this checkout and its venv."""
    out = tmp_path_factory.mktemp("units")
    for path in UNITS.iterdir():
        text = path.read_text(encoding="utf-8")
        text = text.replace("/opt/langso/.venv/bin/python", sys.executable)
        text = text.replace("/opt/langso", str(ROOT))
        names = [f"langso-web@{p}.service" for p in WEB_PORTS] if "@." in path.name else [path.name]
        for name in names:
            (out / name).write_text(text, encoding="utf-8")
    return out


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed (the static checks above cover the units)")
    return tool


def test_systemd_accepts_the_units(installed_units):
    tool = _systemd_analyze()
    files = sorted(str(p) for p in installed_units.iterdir())
    done = subprocess.run(
        [tool, "verify", "--man=no", *files], capture_output=True, text=True, timeout=60
    )
    # `verify` exits 0 on an unknown key (a typo that silently drops a protection): read it all.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr
    )


@pytest.mark.parametrize(
    "name",
    [
        "langso-web@8081.service",
        "langso-dispatcher.service",
        "langso-migrate.service",
        "langso-backup.service",
    ],
)
def test_systemd_rates_the_units_well_protected(installed_units, name):
    tool = _systemd_analyze()
    done = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(installed_units / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout + done.stderr)
    if m is None:
        pytest.skip(f"this systemd-analyze has no offline security report: {done.stderr[-200:]}")
    assert float(m.group(1)) <= 2.5, done.stdout[-2000:]


# --------------------------------------------------------------------------- Caddy


def test_caddyfile_balances_two_processes_with_health_checks():
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    m = re.search(r"reverse_proxy \{\$LANGSO_UPSTREAMS:([^}]*)\}", text)
    assert m and m.group(1).split() == [f"127.0.0.1:{p}" for p in WEB_PORTS]
    assert re.search(r"^\s*health_uri /healthz$", text, re.M)
    assert "Strict-Transport-Security" in text
    assert re.search(r"^\{\$LANGSO_DOMAIN", text, re.M), "the site address is the domain: HTTPS"


def _caddy_adapt(env: dict[str, str]) -> dict:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy not installed (apt-get install caddy); static checks above")
    done = subprocess.run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--validate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env},
    )
    assert done.returncode == 0, done.stderr
    assert '"level":"warn"' not in done.stderr, done.stderr  # e.g. not `caddy fmt`-formatted
    return json.loads(done.stdout)


def _proxy_handlers(config: dict) -> list[dict]:
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("handler") == "reverse_proxy":
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    return found


def test_caddy_accepts_the_caddyfile_on_a_host():
    config = _caddy_adapt({"LANGSO_DOMAIN": "bot.example.gov.vn"})
    server = next(iter(config["apps"]["http"]["servers"].values()))
    assert server["listen"] == [":443"]  # automatic HTTPS (and the redirect from :80)
    assert server["routes"][0]["match"] == [{"host": ["bot.example.gov.vn"]}]
    (proxy,) = _proxy_handlers(config)
    assert [u["dial"] for u in proxy["upstreams"]] == [f"127.0.0.1:{p}" for p in WEB_PORTS]
    assert proxy["health_checks"]["active"]["uri"] == "/healthz"
    assert proxy["health_checks"]["passive"]["max_fails"] >= 1
    body = json.dumps(config)
    assert '"Strict-Transport-Security"' in body and '"max_size": 1000000' in body
    assert '"max_size": 21000000' in body  # /api/uploads


def test_caddy_with_docker_composes_upstreams():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["caddy"]["environment"]
    config = _caddy_adapt({**env, "LANGSO_DOMAIN": "bot.example.gov.vn"})
    (proxy,) = _proxy_handlers(config)
    assert [u["dial"] for u in proxy["upstreams"]] == env["LANGSO_UPSTREAMS"].split()


# --------------------------------------------------------------------------- nginx


def test_nginx_example_passes_the_client_to_two_processes():
    lines = (DEPLOY / "nginx.conf").read_text(encoding="utf-8").splitlines()
    text = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))
    upstream = re.search(r"upstream langso_web \{(.*?)\}", text, re.S).group(1)
    assert re.findall(r"server 127\.0\.0\.1:(\d+)", upstream) == WEB_PORTS
    assert "proxy_pass http://langso_web;" in text
    # The address nginx saw, never appended to what the client sent (a forged X-Forwarded-For
    # would choose the address the per-address rate limit counts).
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "$proxy_add_x_forwarded_for" not in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    # The web chat's per-address limit is kept at the proxy too, across both processes.
    chat = re.search(r"location = /api/messages \{(.*?)\}", text, re.S).group(1)
    assert "limit_req zone=langso_chat" in chat and "limit_req_status 429;" in chat
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in chat
    assert re.search(r"listen 443 ssl", text) and "ssl_certificate " in text
    assert "return 301 https://" in text
    assert "Strict-Transport-Security" in text and "server_tokens off;" in text


def test_nginx_accepts_the_example(tmp_path):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx not installed (apt-get install nginx-light); static checks above")
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bot.example.gov.vn")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    site = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    live = "/etc/letsencrypt/live/bot.example.gov.vn/"
    assert site.count(live) == 2
    site = site.replace(live + "fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace(live + "privkey.pem", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- scripts and ports


@pytest.mark.parametrize("name", ["backup.sh", "restore.sh", "pgurl.sh"])
def test_scripts_parse(name):
    done = subprocess.run(["bash", "-n", str(DEPLOY / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if name != "pgurl.sh":
        assert os.access(DEPLOY / name, os.X_OK), f"chmod +x deploy/{name}"
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        done = subprocess.run(
            [shellcheck, "-x", str(DEPLOY / name)], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stdout


def test_every_place_agrees_on_the_web_ports():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    published = sorted(
        str(p).split(":")[1]
        for name, svc in compose["services"].items()
        if name.startswith("web-")
        for p in svc.get("ports", [])
    )
    assert set(WEB_PORTS) <= set(published), "the host proxy examples' ports are compose's"


# --------------------------------------------------------------------------- docs/deploy.md


def test_deploy_doc_links_resolve_and_name_every_deploy_file():
    doc = ROOT / "docs" / "deploy.md"
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        assert (doc.parent / target).exists(), f"docs/deploy.md links to missing {target}"
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert path.name in text, f"docs/deploy.md does not mention deploy/{path.name}"


# --------------------------------------------------------------------------- the proxies, running
#
# The examples run for real (where caddy / nginx are installed) in front of two stand-in web
# processes that echo what reached them: round robin over both, a dead one skipped, the
# client's own address in X-Forwarded-For whatever the client claims, /healthz hidden, big
# bodies refused, HSTS added and the upstream's Server header dropped.


class _Upstream:
    """A stand-in web process on a free loopback port that answers what it was sent."""

    def __init__(self, name: str) -> None:
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    if len(self.rfile.read(length)) == length:
                        outer.bodies.append(length)
                body = json.dumps(
                    {
                        "name": outer.name,
                        "path": self.path,
                        "xff": self.headers.get("X-Forwarded-For"),
                        "proto": self.headers.get("X-Forwarded-Proto"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:  # quiet
                pass

        self.name = name
        self.bodies: list[int] = []  # sizes of the bodies received whole
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams():
    ups = [_Upstream("a"), _Upstream("b")]
    try:
        yield ups
    finally:
        for up in ups:
            with contextlib_suppress():
                up.stop()


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(Exception)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, *, data: bytes | None = None, headers: dict | None = None):
    """(status, headers, json body or None), never raising on an HTTP error status."""
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the test's self-signed cert
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, exc.headers, exc.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return status, hdrs, body


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the proxy exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if _request(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the proxy never answered: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _check_proxy(
    base: str, upstreams: list[_Upstream], proto: str, too_big: tuple[int, ...] = (413,)
) -> dict:
    """What both proxies must do; returns the headers of one answer for proxy-specific checks."""
    seen = []
    for _ in range(4):
        status, headers, body = _request(f"{base}/api/x", headers={"X-Forwarded-For": "6.6.6.6"})
        assert status == 200
        seen.append(body["name"])
        # The client's own address, not the one it claimed: the rate limit counts that one.
        assert body["xff"] == "127.0.0.1", body
        assert body["proto"] == proto
        assert headers.get("Strict-Transport-Security", "").startswith("max-age=31536000")
        assert "Python" not in headers.get("Server", ""), "the upstream's Server header leaks"
    assert sorted(seen) == ["a", "a", "b", "b"], f"not balanced over both: {seen}"

    assert _request(f"{base}/healthz")[0] == 404  # for monitoring on the host, not the world
    big = b"x" * (1024 * 1024 + 1)
    assert _request(f"{base}/api/messages", data=big)[0] in too_big
    assert all(size < len(big) for up in upstreams for size in up.bodies), "a big body got through"
    # ...but a web chat photo or recording of a few MB reaches the bot (which caps it itself).
    photo = b"p" * (3 * 1024 * 1024)
    assert _request(f"{base}/api/uploads", data=photo)[0] == 200
    assert any(size == len(photo) for up in upstreams for size in up.bodies)

    upstreams[1].stop()  # one web process dies: every request still answered, by the other
    for _ in range(4):
        status, _headers, body = _request(f"{base}/api/x")
        assert status == 200 and body["name"] == "a"
    return dict(headers)


def test_caddy_in_front_of_two_processes(tmp_path, upstreams):
    port = _free_port()
    env = {
        "LANGSO_DOMAIN": f"http://127.0.0.1:{port}",  # plain HTTP here: no certificate to get
        "LANGSO_UPSTREAMS": " ".join(f"127.0.0.1:{u.port}" for u in upstreams),
    }
    config = _caddy_adapt(env)
    config["admin"] = {"disabled": True}  # no admin endpoint on :2019 to collide with
    (tmp_path / "caddy.json").write_text(json.dumps(config), encoding="utf-8")
    log = tmp_path / "caddy.log"
    proc = subprocess.Popen(
        [shutil.which("caddy"), "run", "--config", str(tmp_path / "caddy.json")],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/", proc, log)
        # Caddy 2.6 (Debian's) cuts the body off and answers 502; newer ones answer 413.
        headers = _check_proxy(
            f"http://127.0.0.1:{port}", upstreams, proto="http", too_big=(413, 502)
        )
        assert "Server" not in headers
    finally:
        _stop(proc)


def test_nginx_in_front_of_two_processes(tmp_path, upstreams):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    test_nginx_accepts_the_example(tmp_path)  # writes cert.pem, key.pem, site.conf
    http_port, https_port = _free_port(), _free_port()
    site = (tmp_path / "site.conf").read_text(encoding="utf-8")
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)  # no IPv6 needed here
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;")
    site = site.replace("server 127.0.0.1:8081 ", f"server 127.0.0.1:{upstreams[0].port} ")
    site = site.replace("server 127.0.0.1:8082 ", f"server 127.0.0.1:{upstreams[1].port} ")
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    log = tmp_path / "nginx.out"
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"https://127.0.0.1:{https_port}"
        _wait_until_serving(f"{base}/", proc, log)
        import http.client

        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/x?y=1")
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://127.0.0.1/x?y=1"
        plain.close()
        headers = _check_proxy(base, upstreams, proto="https")
        assert headers.get("Server") == "nginx", "server_tokens off: no version"
    finally:
        _stop(proc)
