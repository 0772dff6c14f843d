"""Shared fixtures: a tiny knowledge directory written into tmp_path, for exact assertions;
knowledge bases and matchers built once per session for tests that only read them; ../shared
(which must exist in CI)."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from policybot import service as service_module
from policybot.knowledge import LoadResult, load
from policybot.matching.matcher import Matcher
from policybot.model import KnowledgeBase, MatchSettings
from policybot.storage.buffered import BufferedQueryLog
from policybot.storage.sqlite import SQLiteQueryLog

ROOT = Path(__file__).resolve().parents[1]
REAL_KNOWLEDGE = ROOT / "knowledge"
CLEAN = ROOT / "tests" / "fixtures" / "knowledge" / "clean"
SHARED = ROOT.parent / "shared"
# A clean environment for in-process commands: no POLICYBOT_* or TELEGRAM_* from the caller,
# and no .env read.
NO_ENV: dict[str, str] = {}

# Small but complete: the three /start example entries, a related pair, an English
# translation, two entries close enough to be ambiguous, HTML-looking knowledge text,
# an emergency and a greeting.
KNOWLEDGE: dict[str, str] = {
    "booking.yaml": """
        category:
          id: booking
          title: 预约挂号
          translations: {en: {title: Appointments}}
        entries:
          - id: online-appointment
            question: 怎么在网上预约挂号？
            alternates: [网上怎么挂号, 手机上能预约挂号吗]
            keywords: [预约, 挂号, 网上]
            answer: |
              可通过“健康城市”公众号或医院官网预约挂号，可预约未来 7 天的号源。
            source: 市卫健委便民服务指南
            updated: 2026-03-01
          - id: child-vaccine-booking
            question: 儿童疫苗接种怎么预约？
            alternates: [孩子打疫苗要预约吗]
            keywords: [儿童, 疫苗, 接种, 预约]
            answer: 在社区卫生服务中心的预防接种门诊预约，带好接种证。
            source: 市疾控中心
            updated: 2026-02-01
          - id: adult-vaccine-booking
            question: 成人疫苗接种怎么预约？
            alternates: [大人打疫苗要预约吗]
            keywords: [成人, 疫苗, 接种, 预约]
            answer: 成人疫苗在社区卫生服务中心的成人接种门诊预约。
            source: 市疾控中心
            updated: 2026-02-01
    """,
    "screening.yaml": """
        category:
          id: screening
          title: 免费筛查
          translations: {en: {title: Free screenings}}
        entries:
          - id: two-cancer-screening
            question: 两癌筛查免费吗？
            alternates: [宫颈癌乳腺癌筛查要钱吗]
            keywords: [两癌, 筛查, 宫颈癌, 乳腺癌]
            answer: |
              35-64 岁的本市户籍妇女可免费参加两癌筛查。

              请带身份证到户籍所在地的社区卫生服务中心登记，<不需要>预约 & 排队。
            source: 市妇幼保健院 & 市卫健委
            updated: 2026-01-15
            translations:
              en:
                question: Is the cervical and breast cancer screening free?
                answer: Free for registered women aged 35-64. Bring your ID card.
    """,
    "insurance.yaml": """
        category:
          id: insurance
          title: 医保与报销
          translations: {en: {title: Medical insurance}}
        entries:
          - id: outpatient-reimbursement
            question: 门诊看病怎么报销？
            alternates: [门诊费用能报多少, 门诊医保报销比例多少]
            keywords: [门诊, 报销]
            answer: |
              门诊费用在定点医疗机构直接结算。
              个人只需支付自付部分。
            source: 市医保局 2026 年门诊待遇通知
            updated: 2026-01-10
            related: [inpatient-reimbursement]
            translations:
              en: {question: "How are outpatient visits reimbursed?", answer: "Settled directly at designated clinics."}
          - id: inpatient-reimbursement
            question: 住院费用怎么报销？
            alternates: [住院能报多少]
            keywords: [住院, 报销]
            answer: 出院时在医院直接结算。
            source: 市医保局
            updated: 2026-01-10
    """,
    "safety.yaml": """
        kinds:
          - id: medical
            numbers: ["120"]
            reply: 这可能是急症，请立即拨打 120 急救电话。
            translations: {en: {reply: This may be an emergency. Call 120 now.}}
          - id: crisis
            numbers: ["12356", "120"]
            reply: 请拨打 12356 心理援助热线；有生命危险请拨打 120。
            translations: {en: {reply: Call 12356 now; if your life is in danger call 120.}}
        rules:
          - id: chest-pain
            kind: medical
            phrases: [胸痛, 胸口剧痛, 喘不上气, chest pain]
          - id: fall
            kind: medical
            all:
              - [摔, fell]
              - [起不来, can't get up]
          - id: suicide
            kind: crisis
            phrases: [不想活, 自杀, kill myself]
        guards:
          - id: idioms
            mask: [吓死, 笑死]
          - id: past
            kinds: [medical]
            when: [去年, 以前]
            unless: [又, 刚才]
          - id: negation
            before: [不是, not]
        watch: [头晕, 摔了]
    """,
    "smalltalk.yaml": """
        smalltalk:
          - id: hello
            patterns: [你好, 您好, hello]
            reply: 您好！请问有什么可以帮您？
            translations: {en: {reply: "Hello! How can I help?"}}
    """,
    "synonyms.yaml": """
        synonyms:
          - [报销, 报账]
          - [疫苗, 预防针]
        filler: [请问, 我想问一下]
        out_of_scope: [宠物, 股票]
        in_scope: [医, 药, 病, 疫苗]
    """,
}


def write_knowledge(directory: Path, files: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (files or KNOWLEDGE).items():
        (directory / name).write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return directory


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A small valid knowledge directory in tmp_path (safe to edit in a test)."""
    return write_knowledge(tmp_path / "knowledge")


# --- ../shared ----------------------------------------------------------------------------


def missing(message: str) -> None:
    """Something a test needs is missing: skip on a developer's machine, but fail in CI
    (CI=true), where a skip would hide that the check never ran."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: missing is a failure)")
    pytest.skip(message)


def shared_file(relative: str) -> Path:
    """A file of ../shared (missing: see `missing`)."""
    path = SHARED / relative
    if not path.exists():
        missing(f"{path} is missing: ../shared must be checked out beside this repository")
    return path


# --- knowledge bases and matchers built once ------------------------------------------------


@pytest.fixture(scope="session")
def real_knowledge() -> LoadResult:
    """knowledge/ loaded once (it takes a second or so); the result may have errors."""
    return load(REAL_KNOWLEDGE)


@pytest.fixture(scope="session")
def real_kb(real_knowledge: LoadResult) -> KnowledgeBase:
    assert real_knowledge.kb is not None, "\n".join(str(p) for p in real_knowledge.errors)
    return real_knowledge.kb


@pytest.fixture(scope="session")
def real_matcher(real_kb: KnowledgeBase) -> Matcher:
    return Matcher(real_kb)


@pytest.fixture(scope="session")
def clean_kb() -> KnowledgeBase:
    """tests/fixtures/knowledge/clean, read only."""
    kb = load(CLEAN).kb
    assert kb is not None
    return kb


@pytest.fixture(scope="session")
def clean_matcher(clean_kb: KnowledgeBase) -> Matcher:
    return Matcher(clean_kb)


@pytest.fixture(scope="session")
def _matchers() -> dict[tuple[object, ...], Matcher]:
    return {}


@pytest.fixture
def shared_matchers(
    monkeypatch: pytest.MonkeyPatch, _matchers: dict[tuple[object, ...], Matcher]
) -> Iterator[None]:
    """Services built in the test reuse a matcher built earlier in the session for the same
    knowledge content (kb.version hashes every file) and settings. A matcher never changes
    once built, so this only saves building the same index again; a test that edits the
    knowledge gets a new version and so a new matcher."""

    def build(kb: KnowledgeBase, settings: MatchSettings | None = None) -> Matcher:
        s = settings or kb.settings
        key = (kb.version, s, tuple(sorted(s.weights.items())))
        if key not in _matchers:
            _matchers[key] = Matcher(kb, settings)
        return _matchers[key]

    monkeypatch.setattr(service_module, "Matcher", build)
    yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A throw-away PostgreSQL server on 127.0.0.1 for the session (tests/pgserver.py)."""
    from tests.pgserver import PostgresServer, bin_dir

    if bin_dir() is None:
        missing("PostgreSQL is not installed (scripts/install-postgresql.sh; make test runs it)")
    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:  # e.g. no permission to run initdb here
        server.stop()
        missing(f"PostgreSQL could not start here: {exc}")
    try:
        yield server
    finally:
        server.stop()


# --- query logs on both back ends ---------------------------------------------------------

STORAGE_SALT = "test-salt"


def rows(path: Path, sql: str = "SELECT * FROM queries ORDER BY query_id") -> list[tuple[Any, ...]]:
    """Rows of a SQLite file, read from outside whatever has it open."""
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


class Backend:
    """One fresh database of a back end under test, and plain reads of it from outside the log."""

    def __init__(self, name: str, tmp_path: Path, url: str = "") -> None:
        self.name, self.tmp_path, self.url = name, tmp_path, url
        self.path = tmp_path / "log.sqlite3"

    def log(self, **options: Any) -> BufferedQueryLog:
        if self.name == "sqlite":
            return SQLiteQueryLog(self.path, STORAGE_SALT, **options)
        from policybot.storage.postgres import PostgresQueryLog

        return PostgresQueryLog(self.url, STORAGE_SALT, journal=self.tmp_path / "pg.journal", **options)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.name == "sqlite":
            return rows(self.path, sql)
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def count(self, table: str = "queries") -> int:
        return int((await self.rows(f"SELECT count(*) FROM {table}"))[0][0])

    def error(self, message: str) -> Exception:
        """What a write fails with when the database cannot take it."""
        return sqlite3.OperationalError(message) if self.name == "sqlite" else OSError(message)


_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same behaviour tests on both back ends: SQLite (a file) and PostgreSQL (a real server
    on 127.0.0.1, tests/pgserver.py)."""
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path)
    server = request.getfixturevalue("postgres")
    return Backend("postgres", tmp_path, server.createdb(f"storage{next(_databases)}"))
