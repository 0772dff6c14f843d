"""knowledge.load / check: a clean directory loads, every kind of mistake is reported with its line."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path
from textwrap import dedent

import pytest

from policybot.knowledge import ERROR, WARNING, LoadResult, Problem, check, load
from policybot.model import MatchSettings, SafetyGuard, SafetyKind, SafetyRule, Smalltalk, Translation

CLEAN = Path(__file__).parent / "fixtures" / "knowledge" / "clean"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    """A writable copy of the clean fixture, for tests that break one file."""
    target = tmp_path / "knowledge"
    shutil.copytree(CLEAN, target)
    return target


def write(directory: Path, name: str, text: str) -> str:
    """Write dedented `text` (first line = line 1) and return the path as problems name it."""
    path = directory / name
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def run(directory: Path) -> LoadResult:
    return load(directory, today=TODAY)


def only(result: LoadResult, file: str, line: int, fragment: str, severity: str = ERROR) -> Problem:
    """The single problem at file:line with `fragment` in its message."""
    hits = [
        p
        for p in result.problems
        if p.file == file and p.line == line and p.severity == severity and fragment in p.message
    ]
    assert len(hits) == 1, "\n".join(map(str, result.problems))
    return hits[0]


def quality_free(problems: Iterable[Problem]) -> list[Problem]:
    """The problems left once the guide's quality warnings (alternates, English) on the minimal
    test entries below are set aside."""
    return [p for p in problems if "alternates; give at least" not in p.message and "no translations.en" not in p.message]


def category(entries: str, category_id: str = "wellness") -> str:
    """A category file holding `entries` (already indented as list items); entries start on line 4."""
    return f"category:\n  id: {category_id}\n  title: 其他\nentries:\n{dedent(entries).strip(chr(10))}\n"


def entry(entry_id: str, question: str, extra: str = "") -> str:
    """An entry with every required field; 6 lines, plus `extra` lines."""
    return (
        f"  - id: {entry_id}\n    question: {question}\n    answer: 答案。\n"
        f"    source: 来源\n    updated: 2026-01-01\n{extra}"
    )


# --- the clean fixture --------------------------------------------------------------------


def test_clean_fixture_loads():
    result = run(CLEAN)
    assert result.problems == ()
    kb = result.kb
    assert kb is not None
    assert [c.id for c in kb.categories] == ["insurance", "vaccination"]
    insurance = kb.categories[0]
    assert insurance.entry_ids == ("outpatient-reimbursement", "inpatient-reimbursement")
    assert insurance.title == "医保与报销"
    assert insurance.title_for("en") == "Medical insurance"
    assert insurance.file == str(CLEAN / "insurance.yaml")
    assert list(kb.entries) == [
        "outpatient-reimbursement",
        "inpatient-reimbursement",
        "flu-vaccine",
        "hpv-vaccine",
    ]

    e = kb.entries["outpatient-reimbursement"]
    assert e.category == "insurance"
    assert e.question == "门诊看病怎么报销？"
    assert e.alternates[:2] == ("门诊费用能报多少", "看门诊可以报销吗")  # surrounding spaces stripped
    assert e.keywords == ("门诊", "报销")
    assert e.answer == "门诊费用在定点医疗机构直接结算。\n个人只需支付自付部分。"  # inner break kept
    assert e.source == "市医保局 2026 年门诊待遇通知"
    assert e.updated == dt.date(2026, 11, 24)
    assert e.review_by == dt.date(2027, 11, 24)
    assert e.related == ("inpatient-reimbursement",)
    assert e.translations == {
        "en": Translation("How are outpatient visits reimbursed?", "Settled directly at designated clinics.")
    }
    assert (e.file, e.line) == (str(CLEAN / "insurance.yaml"), 6)
    inpatient = kb.entries["inpatient-reimbursement"]
    assert inpatient.updated == dt.date(2026, 10, 1)  # quoted 'YYYY-MM-DD' string
    assert inpatient.line == 19
    assert kb.entries["hpv-vaccine"].category == "vaccination"

    assert kb.synonyms == (("报销", "报账", "结算"), ("疫苗", "预防针"))
    assert kb.filler == ("请问", "我想问一下")
    assert kb.out_of_scope == ("宠物", "股票")
    safety = kb.safety
    assert safety.kinds == (
        SafetyKind("medical", ("120",), "请立即拨打 120。"),
        SafetyKind("crisis", ("12356", "120"), "请拨打 12356；有生命危险请拨打 120。"),
    )
    assert safety.kinds[0].translations == {"en": "Call 120 now."}
    assert safety.rules == (
        SafetyRule("chest-pain", "medical", ("胸痛", "喘不上气"), line=10),
        SafetyRule("swallowed", "medical", (), (("吞了",), ("电池",)), line=13),
        SafetyRule("suicide", "crisis", ("不想活",), line=18),
    )
    assert safety.guards == (
        SafetyGuard("idioms", mask=("吓死",)),
        SafetyGuard("past", when=("去年",), unless=("又",), kinds=("medical",)),
    )
    assert safety.watch == ("头晕",)
    assert kb.smalltalk == (Smalltalk("hello", ("你好", "您好"), "你好！请问有什么可以帮您？"),)
    assert kb.smalltalk[0].translations == {"en": "Hello! How can I help?"}

    s = kb.settings
    assert (s.answer_threshold, s.suggest_threshold, s.max_candidates) == (70.0, 50.0, 4)
    assert s.margin == MatchSettings().margin
    assert dict(s.weights) == {**MatchSettings().weights, "keyword": 0.5}  # merged over defaults
    assert len(kb.version) == 12
    int(kb.version, 16)


def test_check_is_load():
    assert check(CLEAN, today=TODAY) == load(CLEAN, today=TODAY)


def test_reserved_files_are_optional_but_safety(kdir: Path):
    for name in ("synonyms.yaml", "smalltalk.yaml", "matching.yaml"):
        (kdir / name).unlink()
    result = run(kdir)
    assert result.problems == ()
    assert result.kb is not None
    assert result.kb.synonyms == () and result.kb.smalltalk == ()
    assert result.kb.settings == MatchSettings()


# --- the safety file cannot be switched off by an edit -------------------------------------


def test_missing_safety_file_is_an_error(kdir: Path):
    (kdir / "safety.yaml").unlink()
    result = run(kdir)
    assert result.kb is None
    (problem,) = result.errors
    assert problem.file == str(kdir) and "safety.yaml is missing" in problem.message


def test_empty_or_old_style_safety_file_is_an_error(kdir: Path):
    file = write(kdir, "safety.yaml", "emergencies: []\n")
    result = run(kdir)
    assert result.kb is None
    only(result, file, 1, "unknown field 'emergencies'")
    only(result, file, 1, "missing required field 'kinds'")
    file = write(kdir, "safety.yaml", "")
    result = run(kdir)
    assert result.kb is None
    only(result, file, 1, "safety.yaml is empty")


def test_safety_needs_medical_and_crisis_kinds(kdir: Path):
    file = write(
        kdir,
        "safety.yaml",
        """
        kinds:
          - {id: medical, numbers: ["120"], reply: 拨打 120。}
        rules:
          - {id: chest, kind: medical, phrases: [胸痛]}
          - {id: sad, kind: crisis, phrases: [不想活]}
        """,
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 2, "defines no 'crisis' kind")
    only(result, file, 5, "rule 'sad': unknown kind 'crisis'")


def test_safety_reply_must_give_its_numbers(kdir: Path):
    file = write(
        kdir,
        "safety.yaml",
        """
        kinds:
          - id: medical
            numbers: ["120"]
            reply: 请马上去医院。
            translations: {en: {reply: Call 120 now.}}
          - id: crisis
            numbers: ["12356", "120"]
            reply: 请拨打 120。
            translations: {en: {reply: Call 12356.}}
          - id: poisoning
            numbers: ["1200"]
            reply: 请拨打 12000。
        rules:
          - {id: chest, kind: medical, phrases: [胸痛]}
        """,
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 4, "kind 'medical': reply does not give 120")
    only(result, file, 8, "kind 'crisis': reply does not give 12356")
    only(result, file, 9, "kind 'crisis': translation 'en' reply does not give 120")
    only(result, file, 12, "kind 'poisoning': reply does not give 1200")  # 12000 is not 1200
    crisis_numbers = write(
        kdir,
        "safety.yaml",
        """
        kinds:
          - {id: medical, numbers: ["120"], reply: 拨打 120。}
          - {id: crisis, numbers: ["12356"], reply: 拨打 12356。}
        rules:
          - {id: chest, kind: medical, phrases: [胸痛]}
        """,
    )
    only(run(kdir), crisis_numbers, 3, "kind 'crisis': numbers must include 120")


def test_safety_rule_shapes(kdir: Path):
    file = write(
        kdir,
        "safety.yaml",
        """
        kinds:
          - {id: medical, numbers: ["120"], reply: 拨打 120。}
          - {id: crisis, numbers: ["12356", "120"], reply: 拨打 12356 或 120。}
        rules:
          - {id: both, kind: medical, phrases: [胸痛], all: [[吞了], [电池]]}
          - {id: lonely, kind: medical, all: [[吞了]]}
          - {id: empty, kind: medical, phrases: []}
          - {id: dup, kind: crisis, phrases: [不想活]}
          - {id: dup, kind: crisis, phrases: [想死]}
        guards:
          - {id: nothing, kinds: [medical]}
          - {id: odd, kinds: [medcal], when: [去年]}
        """,
    )
    result = run(kdir)
    only(result, file, 5, "rule 'both': give either 'phrases'")
    only(result, file, 6, "'all' must be a list of two or more lists")
    only(result, file, 7, "rule 'empty': phrases is empty")
    only(result, file, 9, "duplicate rule id 'dup'")
    only(result, file, 11, "guard 'nothing': give 'mask'")
    only(result, file, 12, "guard 'odd': unknown kind 'medcal' (did you mean 'medical'?)")


def test_check_warns_about_phrasings_that_would_fire(kdir: Path):
    file = write(kdir, "first-aid.yaml", category(entry("first-aid", "胸痛了能报销吗")))
    write(kdir, "smalltalk.yaml", "smalltalk:\n  - {id: sad, patterns: [我不想活了], reply: r}\n")
    result = run(kdir)
    assert result.kb is not None  # warnings only: the bot still serves
    only(result, file, 6, "entry 'first-aid': '胸痛了能报销吗' would get the medical emergency reply "
         "(rule 'chest-pain': 胸痛)", WARNING)
    only(result, str(kdir / "smalltalk.yaml"), 2, "smalltalk 'sad': '我不想活了' would get the crisis", WARNING)


def test_version_changes_with_content(kdir: Path):
    first = run(kdir).kb
    assert first is not None
    assert run(kdir).kb.version == first.version  # stable
    path = kdir / "vaccination.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("适龄女生", "适龄女性"), encoding="utf-8")
    assert run(kdir).kb.version != first.version


def test_problem_str():
    assert str(Problem("k/a.yaml", 3, ERROR, "boom")) == "k/a.yaml:3: error: boom"
    assert str(Problem("k/a.yaml", 4, WARNING, "hm")) == "k/a.yaml:4: warning: hm"


# --- the directory and files as a whole ---------------------------------------------------


def test_missing_directory(tmp_path: Path):
    result = run(tmp_path / "nope")
    assert result.kb is None
    [problem] = result.errors
    assert problem.file == str(tmp_path / "nope")
    assert "does not exist" in problem.message


def test_directory_without_category_files(kdir: Path):
    for name in ("insurance.yaml", "vaccination.yaml"):
        (kdir / name).unlink()
    result = run(kdir)
    assert result.kb is None
    assert "no category files" in result.errors[0].message


def test_yaml_syntax_error_line(kdir: Path):
    file = write(kdir, "broken.yaml", 'category:\n  id: broken\n  title: "unclosed\nentries: []\n')
    result = run(kdir)
    assert result.kb is None
    assert any(p.file == file and "YAML syntax error" in p.message for p in result.errors)
    file = write(kdir, "broken.yaml", "category:\n  id: broken\n  title: [a, b\nentries: []\n")
    problem = run(kdir).errors[0]
    assert (problem.file, problem.line) == (file, 4)


def test_tab_indentation_is_a_syntax_error(kdir: Path):
    file = write(kdir, "tabs.yaml", "category:\n  id: tabs\n\ttitle: x\n")
    only(run(kdir), file, 3, "YAML syntax error")


def test_non_utf8(kdir: Path):
    path = kdir / "latin.yaml"
    path.write_bytes(b"category:\n  id: latin\n  title: caf\xe9\n")
    only(run(kdir), str(path), 3, "not valid UTF-8")


def test_empty_file_and_top_level_list(kdir: Path):
    empty = write(kdir, "empty.yaml", "# nothing yet\n")
    listed = write(kdir, "listed.yaml", "- id: a\n- id: b\n")
    result = run(kdir)
    only(result, empty, 1, "file is empty")
    only(result, listed, 1, "top level must be a mapping")


def test_empty_reserved_file_is_a_warning(kdir: Path):
    file = write(kdir, "smalltalk.yaml", "")
    result = run(kdir)
    only(result, file, 1, "file is empty", WARNING)
    assert result.kb is not None and result.kb.smalltalk == ()


# --- entries ------------------------------------------------------------------------------


def test_missing_required_field(kdir: Path):
    file = write(kdir, "wellness.yaml", category("  - id: no-answer\n    question: 问题\n    source: s\n"))
    result = run(kdir)
    assert result.kb is None
    only(result, file, 5, "entry 'no-answer': missing required field 'answer'")
    only(result, file, 5, "missing required field 'updated'")


def test_missing_category_fields(kdir: Path):
    file = write(kdir, "wellness.yaml", "category:\n  id: wellness\n")
    result = run(kdir)
    only(result, file, 2, "category 'wellness': missing required field 'title'")
    only(result, file, 1, "missing required field 'entries'")


def test_wrong_types(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(
            """
              - id: typed
                question: 12345
                alternates: 只有一个
                answer: 答案。
                source: 来源
                updated: 2026-02-30
                review_by: soon
            """
        ),
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 6, "question must be a string, got a number")
    only(result, file, 7, "alternates must be a list of strings, got a string")
    only(result, file, 10, "updated must be a date")
    only(result, file, 11, "review_by must be a date")


def test_unknown_fields_get_hints(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(
            """
              - id: typos
                question: 问题
                alternate: [别的问法]
                keyword: [词]
                anwser: 答案。
                source: 来源
                updated: 2026-01-01
                colour: blue
            """
        ),
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 7, "unknown field 'alternate' (did you mean 'alternates'?)")
    only(result, file, 8, "unknown field 'keyword' (did you mean 'keywords'?)")
    only(result, file, 9, "unknown field 'anwser' (did you mean 'answer'?)")
    assert "did you mean" not in only(result, file, 12, "unknown field 'colour'").message
    only(result, file, 5, "missing required field 'answer'")


def test_field_given_twice(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("twice", "问题", "    answer: 另一个答案。\n")))
    only(run(kdir), file, 10, "'answer' is given twice")


def test_bad_id_format(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("Bad_ID", "问题")))
    only(run(kdir), file, 5, "id must be kebab-case")


def test_duplicate_id_across_files(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("flu-vaccine", "另一个问题")))
    result = run(kdir)
    problem = only(result, file, 5, "duplicate id 'flu-vaccine'")
    assert f"{kdir / 'vaccination.yaml'}:5" in problem.message


def test_same_phrasing_in_two_entries(kdir: Path):
    # differs only in punctuation, spacing and script: the same once normalised
    file = write(kdir, "wellness.yaml", category(entry("copy", "流感疫苗 在哪裡打?")))
    result = run(kdir)
    assert result.kb is None
    problem = only(result, file, 6, "is the same as '流感疫苗在哪里打？'")
    assert "entry 'flu-vaccine'" in problem.message
    assert f"{kdir / 'vaccination.yaml'}:6" in problem.message


def test_same_phrasing_after_filler_removal(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("copy", "请问HPV疫苗免费吗")))
    only(run(kdir), file, 6, "is the same as 'HPV疫苗免费吗？'")


def test_phrasing_repeated_inside_entry_is_a_warning(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(entry("echo", "社保卡丢了怎么办", "    alternates: [社保卡丢了怎么办？]\n")),
    )
    result = run(kdir)
    only(result, file, 10, "repeats '社保卡丢了怎么办' (line 6)", WARNING)
    assert result.kb is not None


def test_related_must_exist_and_not_be_itself(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(entry("linked", "问题", "    related: [flu-vacine, linked, hpv-vaccine]\n")),
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 10, "related id 'flu-vacine' does not exist (did you mean 'flu-vaccine'?)")
    only(result, file, 10, "points at the entry itself")
    assert len(result.errors) == 2


def test_review_by_passed_is_a_warning(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("stale", "问题", "    review_by: 2026-06-30\n")))
    result = run(kdir)
    only(result, file, 10, "review_by 2026-06-30 has passed", WARNING)
    assert result.kb is not None
    assert quality_free(load(kdir, today=dt.date(2026, 6, 30)).warnings) == []


def test_empty_answer(kdir: Path):
    text = category(
        """
          - id: blank
            question: 问题
            answer: "   "
            source: 来源
            updated: 2026-01-01
          - id: nothing
            question: 另一个问题
            answer:
            source: 来源
            updated: 2026-01-01
        """
    )
    file = write(kdir, "wellness.yaml", text)
    result = run(kdir)
    only(result, file, 7, "entry 'blank': answer is empty")
    only(result, file, 12, "entry 'nothing': answer is empty")


def test_answer_too_long_also_in_translations(kdir: Path):
    long = "长" * 4097
    file = write(
        kdir,
        "wellness.yaml",
        category(
            f"  - id: long\n    question: 问题\n    answer: {long}\n    source: 来源\n    updated: 2026-01-01\n"
            f"    translations:\n      en:\n        question: Q\n        answer: {'x' * 5000}\n"
        ),
    )
    result = run(kdir)
    only(result, file, 7, "answer is 4097 characters")
    only(result, file, 13, "translation 'en' answer is 5000 characters")


def test_answer_at_limit_is_fine(kdir: Path):
    write(
        kdir,
        "wellness.yaml",
        category(
            f"  - id: full\n    question: 问题\n    answer: {'满' * 4096}\n"
            "    source: 来源\n    updated: 2026-01-01\n"
        ),
    )
    assert quality_free(run(kdir).problems) == []


def test_translation_needs_question_and_answer(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(
            entry(
                "half",
                "问题",
                "    translations:\n      en: {question: Q}\n      EN: {question: Q, answer: A}\n",
            )
        ),
    )
    result = run(kdir)
    only(result, file, 11, "translation 'en': missing required field 'answer'")
    only(result, file, 12, "unknown language 'EN' (did you mean 'en'?)", WARNING)


def test_near_duplicate_phrasings_warn(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("near", "流感疫苗在哪里能打")))
    result = run(kdir)
    problem = only(result, file, 6, "is 94% like '流感疫苗在哪里打？'", WARNING)
    assert f"entry 'flu-vaccine' ({kdir / 'vaccination.yaml'}:6)" in problem.message
    assert result.kb is not None


def test_near_duplicate_threshold_comes_from_settings(kdir: Path):
    write(kdir, "wellness.yaml", category(entry("near", "流感疫苗在哪里能打")))
    write(kdir, "matching.yaml", "near_duplicate_similarity: 95\n")
    assert quality_free(run(kdir).warnings) == []


def test_near_duplicate_check_on_many_phrasings(tmp_path: Path):
    # 100 entries x 10 phrasings: every pair is scored, few are near duplicates
    lines = []
    for i in range(100):
        alternates = ", ".join(
            f"问{i * 10 + j}" + chr(0x4E00 + (i * 37 + j * 101) % 20000) * (5 + j) for j in range(9)
        )
        lines.append(entry(f"e{i}", f"第{i}号问题怎么办", f"    alternates: [{alternates}]\n"))
    write(tmp_path, "big.yaml", category("".join(lines), "big"))
    shutil.copy(CLEAN / "safety.yaml", tmp_path / "safety.yaml")
    result = load(tmp_path, today=TODAY)
    assert result.errors == []


# --- reserved files -----------------------------------------------------------------------


def test_synonym_term_in_two_groups(kdir: Path):
    file = write(
        kdir, "synonyms.yaml", "synonyms:\n  - [报销, 报账]\n  - [结算, 报帐, 报销]\n  - [疫苗, 疫苗]\n"
    )
    result = run(kdir)
    problem = only(result, file, 3, "synonym '报销' is already in group '报销'")
    assert f"{file}:2" in problem.message
    only(result, file, 4, "synonym '疫苗' is repeated", WARNING)


def test_synonyms_wrong_shapes(kdir: Path):
    file = write(kdir, "synonyms.yaml", "synonyms:\n  - 报销\n  - []\nfiler: [请问]\nout_of_scope: 宠物\n")
    result = run(kdir)
    only(result, file, 2, "synonym group 1 must be a list of strings")
    only(result, file, 3, "synonym group 2 is empty")
    only(result, file, 4, "unknown field 'filer' (did you mean 'filler'?)")
    only(result, file, 5, "'out_of_scope' must be a list of strings")


def test_glossary_mistakes(kdir: Path):
    file = write(
        kdir,
        "synonyms.yaml",
        "glossary:\n"
        "  - [体检, checkup, health check]\n"  # line 2
        "  - [free, 免费]\n"  # line 3: Chinese term not first
        "  - [报销, refund, Refund]\n"  # line 4: repeated in its group (case does not matter)
        "  - [免费, free, health check]\n"  # line 5: 'health check' is in group 1 already
        "  - [疫苗, 接种]\n"  # line 6: not an English term
        "  - [挂号]\n"  # line 7: no English term
        "  - []\n",  # line 8
    )
    result = run(kdir)
    only(result, file, 3, "glossary group 2: put the Chinese term first, got 'free'")
    only(result, file, 4, "glossary term 'Refund' is repeated in group '报销'", WARNING)
    problem = only(result, file, 5, "glossary term 'health check' is already in another group")
    assert f"{file}:2" in problem.message
    only(result, file, 6, "glossary group '疫苗': '接种' is not an English term")
    only(result, file, 7, "glossary group '挂号' has no English term")
    only(result, file, 8, "glossary group 7 is empty")
    write(kdir, "synonyms.yaml", "glossary: {体检: checkup}\n")
    only(run(kdir), file, 1, "'glossary' must be a list of groups")


def test_glossary_is_loaded(kdir: Path):
    write(kdir, "synonyms.yaml", "glossary:\n  - [体检, checkup, health check]\n")
    kb = run(kdir).kb
    assert kb is not None and kb.glossary == (("体检", "checkup", "health check"),)


def test_duplicate_smalltalk_ids(kdir: Path):
    smalltalk = write(
        kdir,
        "smalltalk.yaml",
        "smalltalk:\n  - {id: hi, patterns: [你好], reply: r}\n  - {id: hi, patterns: [嗨], reply: r,"
        " translations: {en: {replly: x}}}\n",
    )
    result = run(kdir)
    only(result, smalltalk, 3, "duplicate smalltalk id 'hi' (first at line 2)")
    only(result, smalltalk, 3, "unknown field 'replly' (did you mean 'reply'?)")


def test_matching_values_out_of_range(kdir: Path):
    file = write(
        kdir,
        "matching.yaml",
        """
        answer_threshold: 120
        suggest_threshold: 60
        margin: -1
        max_candidates: 0
        weights: {keyword: lots, fuzzy: 0.3, pinyn: 0.1}
        near_duplicate_similarity: 250.5
        treshold: 1
        """,
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 1, "answer_threshold must be between 0 and 100, got 120")
    only(result, file, 3, "margin must be between 0 and 100")
    only(result, file, 4, "max_candidates must be between 1 and 10")
    only(result, file, 5, "weights: keyword must be a number, got a string")
    only(result, file, 5, "unknown weight 'pinyn' (did you mean 'pinyin'?)", WARNING)
    only(result, file, 6, "near_duplicate_similarity must be between 0 and 100")
    only(result, file, 7, "unknown field 'treshold'")


def test_suggest_threshold_above_answer_threshold(kdir: Path):
    file = write(kdir, "matching.yaml", "answer_threshold: 50\nsuggest_threshold: 60\n")
    only(run(kdir), file, 2, "suggest_threshold (60) must not be above answer_threshold (50)")
    file = write(kdir, "matching.yaml", "answer_threshold: 30\n")  # against the default 45
    only(run(kdir), file, 1, "suggest_threshold (45) must not be above answer_threshold (30)")


def test_max_candidates_must_be_whole(kdir: Path):
    file = write(kdir, "matching.yaml", "max_candidates: 2.5\n")
    only(run(kdir), file, 1, "max_candidates must be a whole number")


# --- robustness ---------------------------------------------------------------------------


def test_every_problem_is_reported_at_once(kdir: Path):
    write(kdir, "wellness.yaml", category(entry("Bad_ID", "12", "    anwser: x\n    related: [ghost]\n")))
    write(kdir, "matching.yaml", "margin: 101\n")
    write(kdir, "safety.yaml", "kinds: {}\nrules: []\n")
    result = run(kdir)
    messages = "\n".join(map(str, result.errors))
    for fragment in (
        "kebab-case",
        "unknown field 'anwser'",
        "'ghost' does not exist",
        "margin",
        "'kinds' must be a list",
    ):
        assert fragment in messages


def test_problems_are_sorted(kdir: Path):
    write(kdir, "a.yaml", category(entry("a-one", "甲问题", "    related: [nope]\n")))
    write(kdir, "z.yaml", "category: []\n")
    write(kdir, "matching.yaml", "margin: 101\nmax_candidates: 0\n")
    problems = run(kdir).problems
    assert list(problems) == sorted(problems, key=lambda p: (p.file, p.line))


def test_truncated_and_garbled_files_never_raise(kdir: Path):
    originals = {p.name: p.read_bytes() for p in kdir.iterdir()}
    for name, data in originals.items():
        lines = data.splitlines(keepends=True)
        variants = [b"".join(lines[:n]) for n in range(len(lines))]
        variants += [
            data.replace(b":", b"", 1),
            data.replace(b"  ", b" ", 3),
            data[: len(data) // 2] + b"\xff",
        ]
        for variant in variants:
            (kdir / name).write_bytes(variant)
            result = run(kdir)
            assert isinstance(result, LoadResult)
            assert (result.kb is None) == bool(result.errors)
        (kdir / name).write_bytes(originals[name])


def test_hostile_files_are_problems_not_exceptions(kdir: Path):
    (kdir / "binary.yaml").write_bytes(b"\x00\x01\xff\xfe garbage")
    write(kdir, "odd.yaml", "category: !!python/object:os.system {}\nentries: *missing\n")
    write(kdir, "alias.yaml", "category: &c {id: alias, title: t}\nentries: &e [*e]\n")
    result = check(kdir)  # raises nothing
    lines = [str(p) for p in result.problems]
    assert result.kb is None
    assert any(line.startswith(f"{kdir / 'binary.yaml'}:1: error: not valid UTF-8") for line in lines)
    assert any(line.startswith(f"{kdir / 'odd.yaml'}:") for line in lines)
    assert any(line.startswith(f"{kdir / 'alias.yaml'}:") for line in lines)


def test_category_ids(kdir: Path):
    renamed = write(kdir, "travel.yml", category(entry("trip", "出差看病怎么办"), "wellness"))
    twice = write(kdir, "wellness.yaml", category(entry("again", "再问一次"), "wellness"))
    result = run(kdir)
    only(result, renamed, 2, "category id 'wellness' differs from the file name 'travel'", WARNING)
    problem = only(result, twice, 2, "duplicate category id 'wellness'")
    assert f"{renamed}:2" in problem.message


# --- the editors' guide, enforced ---------------------------------------------------------


def test_markdown_and_html_in_answers_are_errors(kdir: Path):
    file = write(
        kdir,
        "wellness.yaml",
        category(
            entry("bold", "粗体问题", "    alternates: [a1, a2, a3, a4, a5]\n")
            .replace("answer: 答案。", "answer: |\n      第一行\n      **重要**：带身份证")
            + entry("link", "链接问题").replace("answer: 答案。", "answer: 详见 [官网](https://example.org)")
            + entry("tag", "标签问题").replace("answer: 答案。", "answer: 请<b>带</b>好证件")
            + entry("head", "标题问题").replace("answer: 答案。", "answer: |\n      # 办理流程\n      去窗口")
        ),
    )
    result = run(kdir)
    assert result.kb is None
    only(result, file, 9, "entry 'bold': answer: Markdown bold (**…**) '**重要**'")
    only(result, file, 15, "entry 'link': answer: a Markdown link")
    only(result, file, 20, "entry 'tag': answer: an HTML tag '<b>'")
    only(result, file, 26, "entry 'head': answer: a Markdown heading")


def test_local_phone_numbers_are_errors_unless_verified(kdir: Path):
    answer = "answer: 请拨打 12345 或 12320；也可致电 0571-87654321 或 13912345678。费用 120 元，65岁以上。"
    file = write(kdir, "wellness.yaml", category(entry("phones", "电话问题").replace("answer: 答案。", answer)))
    result = run(kdir)
    only(result, file, 7, "phone number 0571-87654321 is not a national number")
    only(result, file, 7, "phone number 13912345678 is not a national number")
    assert len(result.errors) == 2  # 12345, 12320, "120 元" and "65岁" are fine
    write(
        kdir,
        "wellness.yaml",
        category(entry("phones", "电话问题", "    verified_numbers: [0571-87654321, '13912345678']\n")
                 .replace("answer: 答案。", answer)),
    )
    assert run(kdir).errors == []


def test_out_of_scope_term_in_an_entrys_own_phrasing_is_an_error(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("pets", "宠物打疫苗去哪", "    alternates: [狗狗疫苗]\n")))
    only(run(kdir), file, 6, "phrasing '宠物打疫苗去哪' contains the out-of-scope term '宠物'")


def test_quality_warnings(kdir: Path):
    file = write(kdir, "wellness.yaml", category(entry("thin", "薄的问题").replace("source: 来源", "source: 001 洪江市（90%）")))
    result = run(kdir)
    assert result.kb is not None  # warnings do not block
    only(result, file, 5, "entry 'thin': 0 alternates; give at least 5", WARNING)
    only(result, file, 5, "entry 'thin': no translations.en", WARNING)
    only(result, file, 8, "reads like an editor's note", WARNING)


def test_yaml_syntax_error_in_plain_words_first_and_alone(kdir: Path):
    # insurance.yaml holds the entry vaccination.yaml links to; breaking it must not cascade
    file = write(kdir, "insurance.yaml", "category:\n  id: insurance\n   title: 医保\nentries: []\n")
    result = run(kdir)
    (problem,) = result.problems
    assert (problem.file, problem.line) == (file, 3)
    assert "line 3: a colon ':' inside a value, or a line indented more than the one above" in problem.message
    file = write(kdir, "insurance.yaml", "category:\n\tid: insurance\n")
    (problem,) = run(kdir).problems
    assert "a tab character: YAML uses spaces" in problem.message


def test_other_services_term_in_a_phrasing_is_an_error_unless_our_subject_is_there(kdir: Path):
    write(kdir, "synonyms.yaml", "in_scope: [医, 药, 病, 疫苗]\nother_services: [身份证, 银行卡]\n")
    file = write(kdir, "wellness.yaml", category(entry(
        "papers", "身份证丢了看病怎么办", "    alternates: [银行卡能交挂号费吗, 办疫苗本要带身份证吗]\n")))
    result = run(kdir)
    # 看病 has 病 (in scope): fine; 银行卡 with no word of the subject: the phrasing would be pushed away
    only(result, file, 10, "phrasing '银行卡能交挂号费吗' contains the out-of-scope term '银行卡' (synonyms.yaml);"
         " remove the term from other_services")
    assert len(result.errors) == 1
    assert result.kb is None
    write(kdir, "wellness.yaml", category(entry("papers", "身份证丢了看病怎么办")))
    assert run(kdir).kb.other_services == ("身份证", "银行卡")
