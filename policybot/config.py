"""Settings from the environment (and `.env`), as one frozen dataclass. See .env.example.

Every command reads its settings here (the bot, the console and the CLI alike), so a value in
`.env` is a default for all of them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _float_or_none(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Config:
    token: str = field(default="", repr=False)  # never printed
    api_base_url: str = ""  # empty: Telegram's own servers
    webhook_url: str = ""  # the public URL Telegram posts updates to; empty = long polling
    webhook_secret: str = field(default="", repr=False)  # Telegram's X-Telegram-Bot-Api-Secret-Token
    listen: tuple[str, int] = ("127.0.0.1", 8443)  # where the webhook server listens
    knowledge_dir: Path = Path("knowledge")
    db_path: Path = Path("data/policybot.sqlite3")
    # postgresql://… : one query log for several replicas; empty = SQLite at db_path
    database_url: str = field(default="", repr=False)
    # where the checked and indexed knowledge is kept between starts; None = not kept
    cache_dir: Path | None = Path("data/cache")
    hash_salt: str = field(default="", repr=False)
    staff_ids: frozenset[int] = frozenset()
    retention_days: int = 180
    reload_interval: float = 5.0  # seconds between checks of knowledge/ for edits; 0 = off
    user_limit: int = 20  # questions per user per minute; 0 = no limit
    timezone: str = "Asia/Shanghai"  # the bureau's: days and times shown to staff
    answer_threshold: float | None = None  # overrides knowledge/matching.yaml when set
    suggest_threshold: float | None = None
    margin: float | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Config:
        if env is None:
            if dotenv:
                from dotenv import find_dotenv, load_dotenv

                # the working directory's .env, as documented (python-dotenv's default would
                # search from this file's folder instead)
                load_dotenv(find_dotenv(usecwd=True), override=False)
            env = dict(os.environ)
        staff: set[int] = set()
        for part in env.get("STAFF_IDS", "").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                staff.add(int(part))
            except ValueError:
                raise ConfigError(f"STAFF_IDS must be comma-separated Telegram user ids, got {part!r}") from None
        log_level = env.get("POLICYBOT_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"POLICYBOT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        database_url = env.get("POLICYBOT_DATABASE_URL", "").strip()
        if database_url:
            if not database_url.startswith(("postgresql://", "postgres://")):
                raise ConfigError("POLICYBOT_DATABASE_URL must be a postgresql:// URL (empty: SQLite at POLICYBOT_DB)")
            if not env.get("POLICYBOT_HASH_SALT", "").strip():
                raise ConfigError("POLICYBOT_DATABASE_URL needs POLICYBOT_HASH_SALT: replicas must hash chats "
                                  "and sign buttons alike (python -c 'import secrets; print(secrets.token_hex(16))')")
        webhook_url = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
        webhook_secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
        if webhook_url:
            if not webhook_url.startswith("https://"):
                raise ConfigError("TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram posts only over TLS)")
            if not _SECRET.fullmatch(webhook_secret):
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                                  "when TELEGRAM_WEBHOOK_URL is set (python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        try:
            reload_interval = float(env.get("POLICYBOT_RELOAD_INTERVAL", "5") or 5)
        except ValueError:
            raise ConfigError("POLICYBOT_RELOAD_INTERVAL must be a number of seconds") from None
        return cls(
            token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            api_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip(),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            listen=_listen(env.get("POLICYBOT_LISTEN", "").strip() or "127.0.0.1:8443"),
            knowledge_dir=Path(env.get("POLICYBOT_KNOWLEDGE_DIR", "").strip() or "knowledge"),
            db_path=Path(env.get("POLICYBOT_DB", "").strip() or "data/policybot.sqlite3"),
            database_url=database_url,
            cache_dir=_cache_dir(env.get("POLICYBOT_CACHE_DIR", "").strip()),
            hash_salt=env.get("POLICYBOT_HASH_SALT", "").strip(),
            staff_ids=frozenset(staff),
            retention_days=_int(env, "POLICYBOT_RETENTION_DAYS", 180),
            reload_interval=reload_interval,
            user_limit=_int(env, "POLICYBOT_USER_LIMIT", 20),
            timezone=_timezone(env.get("POLICYBOT_TIMEZONE", "").strip() or "Asia/Shanghai"),
            answer_threshold=_float_or_none(env, "POLICYBOT_ANSWER_THRESHOLD"),
            suggest_threshold=_float_or_none(env, "POLICYBOT_SUGGEST_THRESHOLD"),
            margin=_float_or_none(env, "POLICYBOT_MARGIN"),
            log_level=log_level,
        )

    @property
    def database_name(self) -> str:
        """The log for messages: the SQLite file, or the PostgreSQL host and database (never
        the password)."""
        if not self.database_url:
            return str(self.db_path)
        import urllib.parse

        u = urllib.parse.urlsplit(self.database_url)
        return f"postgresql://{u.hostname or ''}{':' + str(u.port) if u.port else ''}{u.path}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def utc_offset(self, at: dt.datetime | None = None) -> dt.timedelta:
        """The bureau's offset from UTC now (or at `at`)."""
        return (at or dt.datetime.now(dt.UTC)).astimezone(self.tz).utcoffset() or dt.timedelta(0)

    @property
    def threshold_overrides(self) -> dict[str, float]:
        """The matcher thresholds set here; they override knowledge/matching.yaml."""
        given = {
            "answer_threshold": self.answer_threshold,
            "suggest_threshold": self.suggest_threshold,
            "margin": self.margin,
        }
        return {name: value for name, value in given.items() if value is not None}

    def salt(self) -> str:
        """The salt for chat hashes: configured, or made once and kept beside the database."""
        if self.hash_salt:
            return self.hash_salt
        import secrets

        path = self.db_path.parent / "hash-salt"
        try:
            return path.read_text().strip() or _write_salt(path, secrets.token_hex(16))
        except FileNotFoundError:
            return _write_salt(path, secrets.token_hex(16))


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"POLICYBOT_TIMEZONE must be an IANA time zone like Asia/Shanghai, got {name!r}") from None
    return name


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"POLICYBOT_LISTEN must be host:port, like 127.0.0.1:8443; got {raw!r}")
    return host.strip("[]"), int(port)


def _cache_dir(raw: str) -> Path | None:
    if raw.lower() in ("off", "none", "0"):
        return None
    return Path(raw or "data/cache")


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700), made if missing. A shared folder
    (sticky bit, as /tmp) or another user's is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if not st.st_mode & stat.S_ISVTX and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` created if missing (0600); an existing file loses its group and other
    permissions (a file made read-only on purpose stays read-only)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDONLY, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & 0o700)
    except PermissionError:  # another user's file: not ours to change
        pass
    finally:
        os.close(fd)
    return path


def _write_salt(path: Path, salt: str) -> str:
    private_file(path).write_text(salt + "\n")
    return salt
