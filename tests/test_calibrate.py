"""`calibrate` on the small fixture knowledge base: questions made from the knowledge base
alone, thresholds that keep confident wrong answers under the target, matching.yaml rewritten."""

from __future__ import annotations

from pathlib import Path

from policybot.knowledge import load
from policybot.model import MatchSettings
from policybot.quality.calibrate import (
    DEFAULT_TEXT,
    calibrate,
    calibration_set,
    read_out_of_scope,
    write_settings,
)
from policybot.quality.evaluate import NONE
from tests.conftest import write_knowledge

OUT = ["今天天气怎么样", "红烧肉怎么做", "who won the football match", "手机充不进电了"]


def test_questions_come_from_the_knowledge_base_held_out_of_the_index(tmp_path: Path) -> None:
    kb = load(Path(__file__).parent / "fixtures" / "knowledge" / "clean").kb
    assert kb is not None
    reduced, questions = calibration_set(kb, OUT)
    held = {q.q for q in questions if q.expect == "outpatient-reimbursement"}
    # the 3rd alternate is asked, not indexed; with a character dropped; in the other script
    assert held == {"门诊报账", "门诊账", "門診報賬"}
    assert "门诊报账" not in reduced.entries["outpatient-reimbursement"].alternates
    assert [q.q for q in questions if q.expect == NONE] == OUT


def test_calibrate_keeps_confident_wrong_under_the_target_and_writes_matching_yaml(tmp_path: Path) -> None:
    kb = load(write_knowledge(tmp_path / "knowledge")).kb
    assert kb is not None
    result = calibrate(kb, OUT, target=1.0)
    assert result.chosen.tuning.confident_wrong <= 1.0
    assert result.chosen in result.tuning.trials
    matching = tmp_path / "knowledge" / "matching.yaml"
    matching.write_text("# thresholds\nanswer_threshold: 70   # answer from here\nmax_candidates: 3\n", "utf-8")
    write_settings(matching, MatchSettings(answer_threshold=52, suggest_threshold=41, margin=4))
    assert matching.read_text("utf-8") == (
        "# thresholds\nanswer_threshold: 52   # answer from here\nmax_candidates: 3\n"
        "suggest_threshold: 41\nmargin: 4\nclear_lead: 0\n"
    )
    assert load(tmp_path / "knowledge").kb.settings.answer_threshold == 52


def test_the_shipped_out_of_scope_text() -> None:
    everything = read_out_of_scope(DEFAULT_TEXT)
    general = read_out_of_scope(DEFAULT_TEXT, government=False)
    assert len(everything) == 600 and len(general) == 560
