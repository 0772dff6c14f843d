"""Settings from the environment: defaults, parsing, clear errors."""

from pathlib import Path

import pytest

from policybot.config import Config, ConfigError


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
