"""Settings from the environment: defaults, parsing, clear errors."""

import os
from pathlib import Path

import pytest

from policybot.config import Config, ConfigError
from policybot.model import MatchSettings


def test_defaults():
    c = Config.from_env({})
    assert c.token == "" and c.api_base_url == ""
    assert c.knowledge_dir == Path("knowledge") and c.db_path == Path("data/policybot.sqlite3")
    assert c.staff_ids == frozenset() and c.retention_days == 180
    assert c.answer_threshold is None


def test_parsing_and_token_not_in_repr():
    c = Config.from_env(
        {"TELEGRAM_BOT_TOKEN": "123:secret", "STAFF_IDS": "1, 2;3", "POLICYBOT_ANSWER_THRESHOLD": "55",
         "POLICYBOT_LOG_LEVEL": "debug"}
    )
    assert c.staff_ids == {1, 2, 3} and c.answer_threshold == 55.0 and c.log_level == "DEBUG"
    assert "secret" not in repr(c)


@pytest.mark.parametrize(
    ("name", "value"),
    [("STAFF_IDS", "alice"), ("POLICYBOT_ANSWER_THRESHOLD", "high"), ("POLICYBOT_LOG_LEVEL", "LOUD"),
     ("POLICYBOT_RETENTION_DAYS", "x"), ("POLICYBOT_RELOAD_INTERVAL", "soon")],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_salt_made_once_and_kept(tmp_path):
    c = Config.from_env({"POLICYBOT_DB": str(tmp_path / "d" / "log.db")})
    first = c.salt()
    assert first and c.salt() == first
    assert (tmp_path / "d" / "hash-salt").stat().st_mode & 0o077 == 0
    assert Config.from_env({"POLICYBOT_HASH_SALT": "fixed"}).salt() == "fixed"


def test_dotenv_is_read_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("POLICYBOT_RETENTION_DAYS", raising=False)
    (tmp_path / ".env").write_text("POLICYBOT_RETENTION_DAYS=42\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    try:
        assert Config.from_env().retention_days == 42
    finally:
        os.environ.pop("POLICYBOT_RETENTION_DAYS", None)  # load_dotenv wrote it into the process


def test_threshold_overrides_only_what_is_set():
    assert Config.from_env({}).threshold_overrides == {}
    c = Config.from_env({"POLICYBOT_ANSWER_THRESHOLD": "70", "POLICYBOT_MARGIN": "3"})
    assert c.threshold_overrides == {"answer_threshold": 70.0, "margin": 3.0}
    settings = MatchSettings().with_overrides(c.threshold_overrides)
    assert (settings.answer_threshold, settings.suggest_threshold, settings.margin) == (70.0, 45.0, 3.0)
