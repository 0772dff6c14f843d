"""The bench's parts that are not timing: the corpora it measures on, its end-to-end driver
(every update one reply and one log row), its targets table and its options. No timing is
asserted here; speed lives in `python -m policybot bench` and docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from policybot.bot.throughput import measure
from policybot.cli import _sizes
from policybot.knowledge import load
from policybot.matching.normalise import normalise
from policybot.quality import bench, corpora
from tests.conftest import REAL_KNOWLEDGE

FAQ = [
    {"id": f"tpe-{i:04d}", "question": q, "answer": f"答覆 {i}，請洽 02-2720-8889。",
     "source": "https://example.gov.tw/faq", "updated": "2024-01-01"}
    for i, q in enumerate([
        "臺北市老人健康檢查怎麼預約", "市民如何申請低收入戶資格", "垃圾清運時間是幾點",
        "公費流感疫苗在哪裡打", "身心障礙手冊如何換發", "國民年金保費怎麼繳",
    ])
]


def test_grown_base_keeps_the_real_entries_and_adds_distinct_phrasings() -> None:
    grown = corpora.grow(FAQ, 50, seed=3)
    assert grown[: len(FAQ)] == FAQ
    texts = [t for e in grown for t in [e["question"], *(e.get("alternates") or [])]]
    assert len(texts) >= 50
    assert len({normalise(t) for t in texts}) == len(texts)  # no repeated phrasing
    assert all(e["source"] and e["updated"] for e in grown)


def test_fewer_phrasings_than_the_faq_takes_its_first_entries() -> None:
    assert [e["id"] for e in corpora.grow(FAQ, 3)] == ["tpe-0000", "tpe-0001", "tpe-0002"]


def test_written_knowledge_loads_without_errors(tmp_path: Path) -> None:
    entries = [{**e, "verified_numbers": ["02-2720-8889"]} for e in corpora.grow(FAQ, 30)]
    directory = corpora.write_knowledge(tmp_path / "kb", entries, REAL_KNOWLEDGE / "safety.yaml")
    result = load(directory)
    assert result.errors == [] and result.kb is not None
    assert len(result.kb.entries) == len(entries)


async def test_every_update_gets_one_reply_and_one_log_row() -> None:
    result = await measure(REAL_KNOWLEDGE, ["怎么在网上预约挂号", "医保报销比例是多少", "今天天气怎么样"], 30)
    ours, echo = result["policybot"], result["echo"]
    assert (ours["updates"], ours["sent"], ours["logged"]) == (30, 30, 30)
    assert ours["cycled_per_second"] > 0
    assert (echo["updates"], echo["sent"]) == (30, 30)
    assert ours["per_second"] > 0 and result["ratio"] > 0


def test_targets_table_says_what_was_not_measured() -> None:
    results = {
        "shipped": {"policybot": {"median_ms": 0.5, "p99_ms": 3.0}, "wratio": {"median_ms": 2.0, "p99_ms": 4.0},
                    "bm25s": {"median_ms": 0.1, "p99_ms": 0.2, "build_s": 0.1}, "entries": 40, "phrasings": 500,
                    "questions": 10, "load_s": 0.3, "build_s": 0.2, "peak_mb": 190.0,
                    "start": {"cold_s": 1.5, "cached_s": 0.7}},
    }
    checks = [(t, t.value(results)) for t in bench.TARGETS]
    text = bench.render(results, checks, 5, 2000, "python -m policybot bench")
    assert "| shipped: median vs WRatio | 0.25× | ≤ 0.50× | yes |" in text
    assert "| shipped: p99 per question | 3.00 ms | ≤ 2.00 ms | NO |" in text
    assert "| 100,000 phrasings: median | — | ≤ 5.00 ms | not measured |" in text


def test_sizes_option() -> None:
    assert _sizes("1000,10_000,100000") == [1000, 10000, 100000]
    with pytest.raises(Exception, match="whole numbers"):
        _sizes("10k")
