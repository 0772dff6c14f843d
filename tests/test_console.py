"""The console chat, driven through standard input as a resident would use it: in-process
through bot.main, and once as a real `python bot.py` process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from policybot.console import to_plain
from tests.conftest import CLEAN, ROOT


def chat(
    lines: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    env_extra: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Exit status and standard output of bot.py with `lines` on standard input."""
    env = {"POLICYBOT_KNOWLEDGE_DIR": str(CLEAN), "POLICYBOT_DB": str(tmp_path / "log.sqlite3")}
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = bot.main(list(argv), env=env | (env_extra or {}))
    return code, capsys.readouterr().out


def test_no_token_starts_console_with_notice_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "TELEGRAM_"))}
    env |= {"POLICYBOT_KNOWLEDGE_DIR": str(CLEAN), "POLICYBOT_DB": str(tmp_path / "log.sqlite3")}
    p = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")],
        input="HPV疫苗免费吗\n/quit\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no .env from the repo
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert "TELEGRAM_BOT_TOKEN" in first and "console" in first
    assert "紧急情况请立即拨打 120" in p.stdout  # the welcome
    assert "适龄女生可免费接种。" in p.stdout


def test_answer_emergency_unanswered_and_buttons(tmp_path, monkeypatch, capsys) -> None:
    code, out = chat(["HPV疫苗免费吗", "胸痛得厉害", "帮我买股票", "1", "/quit"], tmp_path, monkeypatch, capsys)
    assert code == 0
    assert "TELEGRAM_BOT_TOKEN" in out.splitlines()[0]  # the notice, then the welcome
    assert "适龄女生可免费接种。" in out and "来源：市疾控中心" in out
    assert "[1] 流感疫苗在哪里打？" in out  # related entry as a numbered button
    assert "请立即拨打 120。" in out
    assert "不在卫生健康政策的范围内" in out and "12345" in out  # out of scope, with the hotline
    assert "请选择主题：" in out  # "1" pressed the "browse topics" button of the apology


def test_did_you_mean_choice(tmp_path, monkeypatch, capsys) -> None:
    _, out = chat(["疫苗", "1", "/quit"], tmp_path, monkeypatch, capsys)
    assert "您是想问：" in out
    assert "[1] HPV疫苗免费吗？" in out and "都不是" in out
    # choosing the first candidate sends its answer
    assert "适龄女生可免费接种。" in out


def test_console_flag_forces_console_even_with_token(tmp_path, monkeypatch, capsys) -> None:
    code, out = chat(["/quit"], tmp_path, monkeypatch, capsys, "--console", env_extra={"TELEGRAM_BOT_TOKEN": "123:fake"})
    assert code == 0
    assert "TELEGRAM_BOT_TOKEN" not in out.splitlines()[0]  # no notice: a token is set
    assert "紧急情况" in out


def test_traditional_question_gets_traditional_answer(tmp_path, monkeypatch, capsys) -> None:
    _, out = chat(["HPV疫苗免費嗎", "/quit"], tmp_path, monkeypatch, capsys)
    assert "適齡女生可免費接種。" in out


def test_broken_knowledge_does_not_start(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "a.yaml").write_text("category: [unclosed\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    code = bot.main(["--console"], env={"POLICYBOT_KNOWLEDGE_DIR": str(tmp_path), "POLICYBOT_DB": str(tmp_path / "x.db")})
    err = capsys.readouterr().err
    assert code == 1
    assert "a.yaml:2: error: YAML syntax error" in err and "cannot start: the knowledge base" in err


def test_to_plain_unescapes() -> None:
    assert to_plain("<b>a &lt; b</b>") == "a < b"
