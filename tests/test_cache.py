"""The knowledge cache: a restart with unchanged knowledge and code reads the built index;
an edit, other code or a damaged file builds it again; errors are never cached."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from policybot.knowledge import cache
from policybot.model import Status

QUESTION = "网上怎么挂号"


def _files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("knowledge-*.pickle"))


def test_second_start_reads_the_cache_and_answers_alike(kb_dir: Path, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    first = cache.prepare(kb_dir, cache_dir)
    assert not first.from_cache and first.matcher is not None
    second = cache.prepare(kb_dir, cache_dir)
    assert second.from_cache and second.matcher is not None
    a, b = first.matcher.match(QUESTION), second.matcher.match(QUESTION)
    assert (b.status, b.entry_id, b.score) == (a.status, a.entry_id, a.score) == (Status.ANSWERED, "online-appointment", a.score)
    # the knowledge terms are back in the cached index's tokenizer: 预约挂号 is not cut apart
    assert second.matcher.index.tokens("预约挂号") == first.matcher.index.tokens("预约挂号")
    assert second.result.warnings == first.result.warnings
    assert second.matcher.kb is second.result.kb


def test_cache_is_private(kb_dir: Path, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    cache.prepare(kb_dir, cache_dir)
    [f] = _files(cache_dir)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_a_knowledge_edit_builds_again(kb_dir: Path, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    cache.prepare(kb_dir, cache_dir)
    old = _files(cache_dir)
    booking = kb_dir / "booking.yaml"
    booking.write_text(booking.read_text(encoding="utf-8").replace("网上怎么挂号", "网上怎么挂号呢朋友"),
                       encoding="utf-8")
    edited = cache.prepare(kb_dir, cache_dir)
    assert not edited.from_cache
    assert any("网上怎么挂号呢朋友" in e.alternates for e in edited.result.kb.entries.values())
    assert _files(cache_dir) != old and len(_files(cache_dir)) == 1  # the stale file is gone


def test_other_code_builds_again(kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cache_dir = tmp_path / "cache"
    cache.prepare(kb_dir, cache_dir)
    monkeypatch.setattr(cache, "code_version", lambda: "another release")
    assert not cache.prepare(kb_dir, cache_dir).from_cache
    assert cache.prepare(kb_dir, cache_dir).from_cache


def test_code_version_covers_every_source_file():
    assert len(cache.code_version()) == 64
    cache.code_version.cache_clear()
    assert len(cache.code_version()) == 64


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_damaged_cache_is_rebuilt(kb_dir: Path, tmp_path: Path, damage: bytes, caplog):
    cache_dir = tmp_path / "cache"
    cache.prepare(kb_dir, cache_dir)
    [f] = _files(cache_dir)
    f.write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        again = cache.prepare(kb_dir, cache_dir)
    assert not again.from_cache and again.matcher is not None
    assert again.matcher.match(QUESTION).entry_id == "online-appointment"
    assert "unreadable" in caplog.text
    assert cache.prepare(kb_dir, cache_dir).from_cache  # written again


def test_knowledge_with_errors_is_not_cached(kb_dir: Path, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    (kb_dir / "booking.yaml").write_text("entries: [\n", encoding="utf-8")
    broken = cache.prepare(kb_dir, cache_dir)
    assert broken.matcher is None and broken.result.errors
    assert _files(cache_dir) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_folder_costs_only_time(kb_dir: Path, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(mode=0o500)
    assert cache.prepare(kb_dir, cache_dir).matcher is not None


def test_a_cache_folder_that_is_a_file_costs_only_time(kb_dir: Path, tmp_path: Path, caplog):
    blocked = tmp_path / "cache"
    blocked.write_text("in the way")
    with caplog.at_level(logging.WARNING):
        prepared = cache.prepare(kb_dir, blocked)
    assert prepared.matcher is not None and not prepared.from_cache
    assert "could not write the knowledge cache" in caplog.text


def test_without_a_cache_folder_nothing_is_written(kb_dir: Path, tmp_path: Path):
    assert not cache.prepare(kb_dir, None).from_cache
    assert not cache.prepare(kb_dir, None).from_cache


def test_operator_thresholds_apply_to_a_cached_matcher(kb_dir: Path, tmp_path: Path):
    from policybot.bootstrap import prepared_matcher
    from policybot.config import Config

    cfg = Config(knowledge_dir=kb_dir, cache_dir=tmp_path / "cache", answer_threshold=99.0)
    built = prepared_matcher(cfg)
    cached = prepared_matcher(cfg)
    assert built.settings.answer_threshold == cached.settings.answer_threshold == 99.0
    assert cached.match(QUESTION).status is Status.AMBIGUOUS
