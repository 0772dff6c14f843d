"""CLI output formats: check, ask (text, --json, stdin), eval, explain, tune; settings from the
environment. In-process through cli.main, plus one real `python -m policybot` process."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from policybot.cli import main
from policybot.knowledge import LoadResult
from tests.conftest import CLEAN, NO_ENV, ROOT

FIXTURE = str(CLEAN)


def run(
    capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    code = main(list(args), env=NO_ENV if env is None else env)
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_in_a_real_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "TELEGRAM_"))}
    p = subprocess.run(
        [sys.executable, "-m", "policybot", "ask", "--json", "--knowledge", FIXTURE],
        input="HPV疫苗免费吗\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == "hpv-vaccine"


def test_check_real_knowledge(capsys, real_knowledge: LoadResult) -> None:
    code, out, _ = run(capsys, "check", str(ROOT / "knowledge"))
    assert real_knowledge.kb is not None, "knowledge/ has errors: `python -m policybot check` lists them"
    assert code == 0
    kb = real_knowledge.kb
    summary = out.splitlines()[-1]
    assert summary.startswith(f"ok: {len(kb.entries)} entries in {len(kb.categories)} categories, ")
    assert summary.endswith(f"{len(real_knowledge.warnings)} warning(s); version {kb.version}")


def test_check_reports_file_line_and_exit_1(capsys, tmp_path) -> None:
    (tmp_path / "a.yaml").write_text(
        "category: {id: a, title: A}\nentries:\n  - id: x\n    question: 问\n    alternate: [b]\n", "utf-8"
    )
    code, out, _ = run(capsys, "check", str(tmp_path))
    assert code == 1
    assert "a.yaml:5:" in out and "alternate" in out
    assert re.search(r"\d+ error\(s\), \d+ warning\(s\)$", out.splitlines()[-1])


def test_check_directory_defaults_to_the_setting(capsys) -> None:
    code, out, _ = run(capsys, "check", env={"POLICYBOT_KNOWLEDGE_DIR": FIXTURE})
    assert code == 0 and out.startswith("ok: 4 entries in 2 categories")


def test_ask_json(capsys) -> None:
    code, out, err = run(capsys, "ask", "--json", "--knowledge", FIXTURE, "HPV疫苗免费吗")
    assert code == 0, err
    data = json.loads(out)
    assert data["query"] == "HPV疫苗免费吗"
    assert data["status"] == "answered" and data["id"] == "hpv-vaccine"
    assert isinstance(data["score"], float | int)
    assert data["candidates"][0] == {"id": "hpv-vaccine", "score": data["score"]}


def test_ask_text_prints_the_resident_reply(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--knowledge", FIXTURE, "HPV疫苗免费吗")
    assert "适龄女生可免费接种。" in out
    assert "来源：市疾控中心" in out


def test_ask_reads_stdin_one_json_line_each(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("HPV疫苗免费吗\n\n胸痛\n股票怎么买\n"))
    _, out, _ = run(capsys, "ask", "--knowledge", FIXTURE)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["status"] for d in lines] == ["answered", "emergency", "out_of_scope"]
    assert lines[1]["id"] is None and lines[2]["id"] is None


def test_thresholds_come_from_the_environment(capsys) -> None:
    """POLICYBOT_ANSWER_THRESHOLD (here above any score) overrides knowledge/matching.yaml."""
    _, out, _ = run(capsys, "ask", "--json", "HPV疫苗免费吗", env={"POLICYBOT_KNOWLEDGE_DIR": FIXTURE})
    assert json.loads(out)["status"] == "answered"
    env = {"POLICYBOT_KNOWLEDGE_DIR": FIXTURE, "POLICYBOT_ANSWER_THRESHOLD": "100", "POLICYBOT_MARGIN": "0"}
    _, out, _ = run(capsys, "ask", "--json", "HPV疫苗免费吗", env=env)
    assert json.loads(out)["status"] == "ambiguous"


def test_bad_setting_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "check", env={"POLICYBOT_MARGIN": "wide"})
    assert code == 2 and "configuration error: POLICYBOT_MARGIN" in err


def test_eval_prints_figures_and_misses(capsys, tmp_path) -> None:
    qs = tmp_path / "q.yaml"
    qs.write_text(
        "- {q: HPV疫苗免费吗, expect: hpv-vaccine}\n- {q: 胸痛, expect: emergency}\n"
        "- {q: 股票怎么买, expect: none}\n- {q: 流感疫苗, expect: inpatient-reimbursement}\n",
        "utf-8",
    )
    code, out, err = run(capsys, "eval", str(qs), "--knowledge", FIXTURE)
    assert code == 0, err
    for label in ("in-scope top-1 accuracy", "reached", "confident wrong answers", "out-of-scope rejection",
                  "emergency recall"):
        assert label in out
    assert "misses (1):" in out and "流感疫苗" in out
    _, out, _ = run(capsys, "eval", str(qs), "--knowledge", FIXTURE, "--json", "--baselines")
    data = json.loads(out)
    assert data["policybot"]["emergency_recall"] == 100.0
    assert {"rapidfuzz WRatio", "BM25 (jieba)", "thresholds"} <= set(data)


def test_eval_bad_file_is_a_clear_error(capsys, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("q: [unclosed", "utf-8")
    code, _, err = run(capsys, "eval", str(bad))
    assert code == 2 and "not valid YAML" in err


def test_explain_shows_components_and_thresholds(capsys) -> None:
    _, out, _ = run(capsys, "explain", "--knowledge", FIXTURE, "請問HPV疫苗要錢嗎")
    assert "normalised:   hpv疫苗要钱吗" in out
    assert re.search(r"^\s+entry\s+score\s+keyword\s+coverage\s+evidence\s+fuzzy\s+pinyin", out, re.M)
    assert "thresholds:   answer ≥ " in out and "decision:     " in out


def test_tune_prints_trade_off(capsys, tmp_path) -> None:
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
    code, out, err = run(capsys, "tune", str(qs), "--knowledge", FIXTURE)
    assert code == 0, err
    assert "trade-off" in out and "recommended" in out and "answer_threshold:" in out


def test_broken_knowledge_gives_errors_not_traceback(capsys, tmp_path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run(capsys, "ask", "--knowledge", str(tmp_path), "hello")
    assert code == 1
    assert "a.yaml:1: error: not valid UTF-8" in err
    assert f"the knowledge base in {tmp_path} has" in err


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["report", "--help"]])
def test_help(capsys, argv) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv, env=NO_ENV)
    assert exit_info.value.code == 0
    assert "usage: python -m policybot" in capsys.readouterr().out
