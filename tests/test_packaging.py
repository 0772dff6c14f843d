"""The container files, checked without Docker (the test machines have no Docker engine): the
image's /app laid out from the Dockerfile's COPY lines runs the bot's commands with the image's
ENV, and compose.yaml names only commands, variables and services that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return env


def _ignored(path: Path) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip()]
    rel = path.relative_to(REPO).as_posix()
    return any(part == "__pycache__" for part in path.parts) or any(
        rel == p or rel.startswith(p + "/") or (p.startswith("*.") and rel.endswith(p[1:])) for p in patterns)


def _lay_out_app(app: Path) -> None:
    """What `COPY src… dest` puts under WORKDIR /app."""
    for word, rest in _instructions():
        if word != "COPY":
            continue
        *sources, dest = rest.split()
        for source in sources:
            src = REPO / source.rstrip("/")
            assert src.exists(), f"Dockerfile copies {source}, which is not in the repository"
            target = app / dest if dest not in ("./", ".") else app
            if src.is_dir():
                for f in src.rglob("*"):
                    if f.is_file() and not _ignored(f):
                        out = target / f.relative_to(src)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(f, out)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / src.name)


def test_the_images_files_run_the_bot(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _lay_out_app(app)
    assert (app / "bot.py").is_file() and (app / "policybot" / "quality" / "out-of-scope.txt").is_file()
    assert (app / "staff" / "metadata.yml").is_file() and (app / "knowledge").is_dir()
    image_env = _image_env()
    # the image's paths, moved into the temporary folder
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "TELEGRAM_"))}
    env.update({k: v.replace("/knowledge", str(app / "knowledge")).replace("/data", str(tmp_path / "data"))
                .replace("/cache", str(tmp_path / "cache")) for k, v in image_env.items()})
    env["PYTHONPATH"] = ""
    check = subprocess.run([sys.executable, "-m", "policybot", "check"], cwd=app, env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    ask = subprocess.run([sys.executable, "-m", "policybot", "ask", "门诊看病怎么报销"], cwd=app, env=env,
                         capture_output=True, text=True, timeout=120)
    assert ask.returncode == 0 and "报销" in ask.stdout, ask.stderr
    # the package came from the image's files, not from the repository
    where = subprocess.run([sys.executable, "-c", "import policybot; print(policybot.__file__)"], cwd=app, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(app))


def test_the_image_is_what_the_issue_asks() -> None:
    instructions = _instructions()
    words = [w for w, _ in instructions]
    base = next(rest for w, rest in instructions if w == "FROM")
    assert "slim" in base
    assert "USER" in words and next(rest for w, rest in instructions if w == "USER") != "root"
    volumes = next(rest for w, rest in instructions if w == "VOLUME")
    assert "/data" in volumes and "/cache" in volumes
    assert "/healthz" in next(rest for w, rest in instructions if w == "HEALTHCHECK")
    env = _image_env()
    assert env["POLICYBOT_KNOWLEDGE_DIR"] == "/knowledge" and env["POLICYBOT_CACHE_DIR"] == "/cache"
    # every variable the image sets is one the configuration reads
    config = (REPO / "policybot" / "config.py").read_text(encoding="utf-8")
    for name in env:
        if name.startswith("POLICYBOT_"):
            assert f'"{name}"' in config, name
    # requirements are installed from the pinned file
    assert any(w == "RUN" and "-r requirements.txt" in rest for w, rest in instructions)


def test_compose_names_what_exists() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"bot", "staff", "db", "replica", "staff-pg"} <= set(services)
    documented = (REPO / ".env.example").read_text(encoding="utf-8")
    from policybot.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name, service in services.items():
        for dep in service.get("depends_on", []):
            assert dep in services, (name, dep)
        command = service.get("command")
        if command and command[:3] == ["python", "-m", "policybot"]:
            assert command[3] in commands, (name, command)
        for key in service.get("environment", {}):
            assert key in documented or key.startswith("POSTGRES_"), (name, key)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], (name, volume)
    for variable in re.findall(r"\$\{(\w+)", (REPO / "compose.yaml").read_text(encoding="utf-8")):
        assert variable in documented or variable == "POSTGRES_PASSWORD", variable
