"""`staff-web`: the query log as a read-only web page for staff (Datasette).

The live log is served through Datasette's `mode=ro` connections with arbitrary SQL and
downloads off; staff/metadata.yml holds the canned queries (none shows a chat hash). Everything
is behind the "staff" login (datasette-auth-passwords; the hash from POLICYBOT_STAFF_PASSWORD_HASH,
made with `staff-password`), and staff/plugins closes Datasette's /-/ debug pages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

STAFF_METADATA = Path(__file__).resolve().parents[2] / "staff" / "metadata.yml"
# the login guard and the closed /-/ pages (a Datasette plugin kept beside the metadata)
STAFF_PLUGINS = STAFF_METADATA.parent / "plugins"
STAFF_TEMPLATES = STAFF_METADATA.parent / "templates"
PASSWORD_HASH_VAR = "POLICYBOT_STAFF_PASSWORD_HASH"  # noqa: S105 (the variable's name, not a secret)
# the database name staff/metadata.yml is written for; staff-web renames it to the file's stem
METADATA_DB_NAME = "policybot"


def staff_metadata(source: str | Path, db_name: str, timezone: str = "Asia/Shanghai") -> dict[str, Any]:
    """staff/metadata.yml with its database block renamed to the served file's name, and its
    times in `timezone`: the SQL modifier 'TZ' becomes the zone's offset now (a zone with
    summer time shifts at the next start), {timezone} its name."""
    text = Path(source).read_text(encoding="utf-8")
    offset = dt.datetime.now(zoneinfo.ZoneInfo(timezone)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    text = text.replace("'TZ'", f"'{minutes:+d} minutes'").replace("{timezone}", timezone)
    data = yaml.safe_load(text) or {}
    databases = data.get("databases") or {}
    if METADATA_DB_NAME in databases and db_name != METADATA_DB_NAME:
        databases[db_name] = databases.pop(METADATA_DB_NAME)
    return data


def datasette_command(
    db: str | Path,
    metadata: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    immutable: bool = False,
) -> list[str]:
    """The venv's Datasette, serving the log read-only.

    A live log is served in mutable mode: Datasette 0.65 reads it through `mode=ro`
    connections and has no write API, while `-i` (immutable) would ignore the WAL and show
    stale rows. Arbitrary SQL and whole-file download are off, so nothing beyond the canned
    queries and the allowed tables (none of which show chat hashes) can be read.
    """
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        *(["-i"] if immutable else []),
        str(db),
        "--metadata",
        str(metadata),
        "--plugins-dir",
        str(STAFF_PLUGINS),
        "--template-dir",
        str(STAFF_TEMPLATES),
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "default_allow_sql",
        "off",
        "--setting",
        "allow_download",
        "off",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]


def hash_password(password: str) -> str:
    """What POLICYBOT_STAFF_PASSWORD_HASH holds (PBKDF2-SHA256, as datasette-auth-passwords checks it)."""
    from datasette_auth_passwords.utils import hash_password as pbkdf2

    return str(pbkdf2(password))


def serve(
    db: Path, metadata_source: str | Path, *, host: str, port: int, immutable: bool = False,
    timezone: str = "Asia/Shanghai", refresh: Callable[[], None] | None = None, every: float = 60.0,
) -> int:
    """Run Datasette on `db` until it stops or this process is told to; its exit status.
    With `refresh` (the copy of a PostgreSQL log), it is called every `every` seconds meanwhile."""
    if not os.environ.get(PASSWORD_HASH_VAR, "").startswith("pbkdf2_sha256$"):
        print(f"staff-web needs a login: set {PASSWORD_HASH_VAR} (in .env) to the output of "
              "`python -m policybot staff-password`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="policybot-staff-") as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(
            json.dumps(staff_metadata(metadata_source, db.stem, timezone), ensure_ascii=False), encoding="utf-8"
        )
        cmd = datasette_command(db, metadata, host=host, port=port, immutable=immutable)
        print(f"staff page: http://{host}:{port}/{db.stem}", file=sys.stderr, flush=True)
        # the staff plugins import policybot (its grouping): the repository on the path
        root = str(STAFF_METADATA.parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        proc = subprocess.Popen(cmd, env=env)  # noqa: S603 (datasette with our fixed arguments)
        # pass a service manager's SIGTERM on, so Datasette never outlives this process
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            while True:
                try:
                    return proc.wait(timeout=every if refresh else None)
                except subprocess.TimeoutExpired:
                    if refresh is not None:
                        refresh()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
