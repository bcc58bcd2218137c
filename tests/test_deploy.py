"""What an operator deploys (deploy/, the lock files, the Streamlit settings) holds together.
No container daemon runs here: deploy/nginx.conf itself is run for real by the two-replica
browser tests (tests/e2e/proxy.py); these check the rest as files."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def locked(name: str) -> dict[str, str]:
    """{package: version} of a lock file, after checking every pin carries its hashes."""
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        head = block.split(" ", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        package, version = head.split("==")
        assert "--hash=sha256:" in block, package
        pins[package.lower().replace("_", "-")] = version
    return pins


def test_the_lock_files_pin_every_dependency_with_its_hash():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    run, dev = locked("run.lock"), locked("dev.lock")

    def name(requirement: str) -> str:
        return re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    assert {name(r) for r in project["dependencies"]} <= set(run)
    assert {name(r) for r in project["optional-dependencies"]["dev"]} <= set(dev)
    assert all(dev[p] == v for p, v in run.items() if p in dev)  # one version of each
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements/run.lock" in makefile
    assert "--require-hashes --no-deps -r requirements/dev.lock" in makefile
    assert "pip install --quiet -e" not in makefile  # nothing unpinned on the way
    assert set(locked("tools.lock")) == {"uv"}  # the installer, pinned the same way
    assert "--require-hashes --no-deps -r requirements/tools.lock" in makefile


def test_the_image_installs_the_lock_runs_unprivileged_and_holds_no_secret():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0].startswith("FROM python:3.11-slim")
    assert any("--require-hashes" in line and "requirements/run.lock" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/_stcore/health" in dockerfile
    command = [line for line in lines if line.startswith("CMD ")][-1]  # (the last one counts)
    assert '"--server.address", "0.0.0.0"' in command and '"streamlit", "run"' in command
    for line in lines:
        if line.startswith(("ENV ", "ARG ")):
            assert not re.search(r"SECRET|PASSWORD|API_KEY|TOKEN", line), line
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source  # (built from the repository's root)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"deploy/.env", ".streamlit/secrets.toml", "data", ".git"} <= set(ignored)


def test_compose_runs_two_replicas_on_postgres_behind_nginx():
    services = compose()["services"]
    assert set(services) == {"db", "console-a", "console-b", "proxy"}
    db = services["db"]
    assert db["image"].startswith("postgres:15") and "healthcheck" in db
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    replicas = [services["console-a"], services["console-b"]]
    names = {r["environment"]["PARTNER_CONSOLE_REPLICA_ID"] for r in replicas}
    assert names == {"console-a", "console-b"}  # distinct, stable across restarts
    for replica in replicas:
        assert replica["env_file"] == ".env"  # the one shared secret and cookie secret
        assert replica["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@db:5432/" in replica["environment"]["DATABASE_URL"]
        assert replica["depends_on"]["db"]["condition"] == "service_healthy"
        assert replica["build"]["dockerfile"] == "deploy/Dockerfile"
        assert "ports" not in replica  # reached through nginx only
        assert any(v.endswith(":/app/data") for v in replica["volumes"])  # the journal kept
    proxy = services["proxy"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["ports"] == ["8080:8080"]
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    for name in ("console-a:8501", "console-b:8501"):
        assert name in nginx  # the services' own names (the tests substitute only these)


def test_the_secrets_come_from_an_env_file_that_is_never_committed():
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for setting in ("POSTGRES_PASSWORD", "PARTNER_CONSOLE_SECRET",
                    "STREAMLIT_SERVER_COOKIE_SECRET"):
        assert re.search(rf"^{setting}=", example, re.MULTILINE), setting
    assert "deploy/.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert not (DEPLOY / ".env").exists() or ".env" not in _tracked()


def _tracked() -> set[str]:
    import subprocess

    out = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout
    return {Path(line).name for line in out.split()}


def test_the_streamlit_settings_a_replica_set_needs():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert "cookieSecret" not in server  # a secret: from the environment, never committed
    # A replica's page view cost 0.9 s of CPU with source watching and a full garbage
    # collection after every run (Streamlit's defaults), 0.2 s without (docs/DEPLOY.md).
    assert server["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    body = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1))
    assert body >= server["maxUploadSize"]  # an upload Streamlit takes, nginx passes
    for needed in ("proxy_set_header Upgrade $http_upgrade;",
                   "proxy_set_header Connection $connection_upgrade;", "ip_hash;",
                   "proxy_read_timeout 1d;", "location = /_stcore/health"):
        assert needed in nginx, needed


def test_every_nginx_worker_sends_a_browser_to_the_same_replica():
    """Which replica failed, and until when, is kept in shared memory for each upstream group:
    with `worker_processes auto` each worker otherwise kept its own, and after a replica came
    back one of them still sent its browsers to the other for up to fail_timeout."""
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    groups = re.findall(r"upstream (\w+) \{(.*?)\}", nginx, re.S)
    assert {name for name, _ in groups} == {"console", "console_a", "console_b"}
    for name, body in groups:
        assert re.search(rf"^\s*zone {name} \d+k;", body, re.M), name
