"""CLI output formats: check, ask (text, --json, stdin), eval, explain, tune — run as real processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "knowledge" / "clean"


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "policybot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_check_real_knowledge_is_clean():
    p = run("check", "knowledge")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok: 40 entries" in p.stdout or "ok: " in p.stdout


def test_check_reports_file_line_and_exit_1(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "category: {id: a, title: A}\nentries:\n  - id: x\n    question: 问\n    alternate: [b]\n", "utf-8"
    )
    p = run("check", str(tmp_path))
    assert p.returncode == 1
    assert "a.yaml:5:" in p.stdout and "alternate" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr


def test_ask_json():
    p = run("ask", "--json", "--knowledge", str(FIXTURE), "HPV疫苗免费吗")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["query"] == "HPV疫苗免费吗"
    assert data["status"] == "answered" and data["id"] == "hpv-vaccine"
    assert isinstance(data["score"], float | int)
    assert data["candidates"][0] == {"id": "hpv-vaccine", "score": data["score"]}


def test_ask_text_prints_the_resident_reply():
    p = run("ask", "--knowledge", str(FIXTURE), "HPV疫苗免费吗")
    assert "适龄女生可免费接种。" in p.stdout
    assert "来源：市疾控中心" in p.stdout


def test_ask_reads_stdin_one_json_line_each():
    p = run("ask", "--knowledge", str(FIXTURE), stdin="HPV疫苗免费吗\n\n胸痛\n股票怎么买\n")
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert [d["status"] for d in lines] == ["answered", "emergency", "unanswered"]
    assert lines[1]["id"] is None and lines[2]["id"] is None


def test_eval_prints_figures_and_misses(tmp_path):
    qs = tmp_path / "q.yaml"
    qs.write_text(
        "- {q: HPV疫苗免费吗, expect: hpv-vaccine}\n- {q: 胸痛, expect: emergency}\n"
        "- {q: 股票怎么买, expect: none}\n- {q: 流感疫苗, expect: inpatient-reimbursement}\n",
        "utf-8",
    )
    p = run("eval", str(qs), "--knowledge", str(FIXTURE))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for label in ("in-scope top-1 accuracy", "reached", "confident wrong answers", "out-of-scope rejection",
                  "emergency recall"):
        assert label in out
    assert "misses (1):" in out and "流感疫苗" in out
    p = run("eval", str(qs), "--knowledge", str(FIXTURE), "--json", "--baselines")
    data = json.loads(p.stdout)
    assert data["policybot"]["emergency_recall"] == 100.0
    assert {"rapidfuzz WRatio", "BM25 (jieba)", "thresholds"} <= set(data)


def test_eval_bad_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("q: [unclosed", "utf-8")
    p = run("eval", str(bad))
    assert p.returncode == 2 and "not valid YAML" in p.stderr and "Traceback" not in p.stderr


def test_explain_shows_components_and_thresholds():
    p = run("explain", "--knowledge", str(FIXTURE), "請問HPV疫苗要錢嗎")
    out = p.stdout
    assert "normalised:   hpv疫苗要钱吗" in out
    assert "keyword" in out and "coverage" in out and "pinyin" in out
    assert "thresholds:" in out and "decision:" in out


def test_tune_prints_trade_off(tmp_path):
    qs = tmp_path / "q.yaml"
    lines = [
        "- {q: HPV疫苗免费吗, expect: hpv-vaccine}",
        "- {q: 流感疫苗在哪打, expect: flu-vaccine}",
        "- {q: 住院费用怎么报销, expect: inpatient-reimbursement}",
        "- {q: 看门诊可以报销吗, expect: outpatient-reimbursement}",
        "- {q: 股票怎么买, expect: none}",
        "- {q: 胸痛, expect: emergency}",
    ]
    qs.write_text("\n".join(lines) + "\n", "utf-8")
    p = run("tune", str(qs), "--knowledge", str(FIXTURE))
    assert p.returncode == 0, p.stderr
    assert "trade-off" in p.stdout and "recommended" in p.stdout and "answer_threshold:" in p.stdout


def test_broken_knowledge_gives_errors_not_traceback(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"\xff\xfe\x00garbage")
    p = run("ask", "--knowledge", str(tmp_path), "hello")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and "error" in p.stderr


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"]])
def test_help(argv):
    assert run(*argv).returncode == 0
