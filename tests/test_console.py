"""The console chat, driven through standard input as a resident would use it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "knowledge" / "clean"


def chat(
    lines: list[str], tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "TELEGRAM_"))}
    env |= {"POLICYBOT_KNOWLEDGE_DIR": str(FIXTURE), "POLICYBOT_DB": str(tmp_path / "log.sqlite3")}
    env |= env_extra or {}
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no .env from the repo
        env=env,
        timeout=120,
    )


def test_no_token_starts_console_with_notice(tmp_path):
    p = chat(["/quit"], tmp_path)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert "TELEGRAM_BOT_TOKEN" in first and "console" in first
    assert "紧急情况请立即拨打 120" in p.stdout  # the welcome


def test_answer_emergency_unanswered_and_buttons(tmp_path):
    p = chat(["HPV疫苗免费吗", "胸痛得厉害", "帮我买股票", "1", "/quit"], tmp_path)
    out = p.stdout
    assert "适龄女生可免费接种。" in out and "来源：市疾控中心" in out
    assert "[1] 流感疫苗在哪里打？" in out  # related entry as a numbered button
    assert "请立即拨打 120。" in out
    assert "12345" in out and "12320" in out  # the apology with hotlines
    assert "请选择主题：" in out  # "1" pressed the "browse topics" button of the apology


def test_did_you_mean_choice(tmp_path):
    p = chat(["疫苗", "1", "/quit"], tmp_path)
    out = p.stdout
    assert "您是想问：" in out
    assert "都不是" in out
    # choosing the first candidate sends its answer
    assert "适龄女生可免费接种。" in out or "可在社区卫生服务中心接种。" in out


def test_console_flag_forces_console_even_with_token(tmp_path):
    p = chat(["/quit"], tmp_path, "--console", env_extra={"TELEGRAM_BOT_TOKEN": "123:fake"})
    assert p.returncode == 0
    assert "TELEGRAM_BOT_TOKEN" not in p.stdout.splitlines()[0]  # no notice: a token is set
    assert "紧急情况" in p.stdout


def test_traditional_question_gets_traditional_answer(tmp_path):
    p = chat(["HPV疫苗免費嗎", "/quit"], tmp_path)
    assert "適齡女生可免費接種。" in p.stdout
