"""The safety net with the real knowledge/safety.yaml: what fires, what must not, and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policybot import replies
from policybot.knowledge import LoadResult, load
from policybot.matching.matcher import MAX_QUERY_CHARS, Matcher
from policybot.matching.safety import SafetyNet
from policybot.model import LANG_EN, LANG_HANS, KnowledgeBase, Status
from policybot.quality.evaluate import evaluate, load_questions
from policybot.quality.explain_format import format_analysis
from tests.conftest import write_knowledge

ROOT = Path(__file__).resolve().parent.parent
SAFETY_YAML = ROOT / "knowledge" / "safety.yaml"
SAFETY_SET = ROOT / "tests" / "data" / "safety-questions.yaml"
HELDOUT_SET = ROOT / "tests" / "data" / "safety-questions-heldout.yaml"
UNSEEN_SET = ROOT / "tests" / "data" / "safety-questions-unseen.yaml"
STORY = "我家住在城郊，平时看病要坐半小时公交，上次去县医院开药排了一上午的队。"  # 35 characters, no risk


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The small fixture knowledge base with the real safety file."""
    directory = write_knowledge(tmp_path_factory.mktemp("kb") / "knowledge")
    shutil.copy(SAFETY_YAML, directory / "safety.yaml")
    result = load(directory)
    assert result.kb is not None, result.errors
    return result.kb


@pytest.fixture(scope="module")
def net(kb: KnowledgeBase) -> SafetyNet:
    return SafetyNet(kb.safety)


@pytest.fixture(scope="module")
def matcher(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb)


def kinds(net: SafetyNet, text: str) -> tuple[str, ...]:
    return net.detect(text).kinds


def test_the_whole_message_is_read_however_long(matcher: Matcher) -> None:
    padding = STORY * 15  # 525 characters
    assert len(padding) > MAX_QUERY_CHARS
    for tail, kind in (("我爸刚才突然倒地叫不醒", "medical"), ("我真的不想活了", "crisis")):
        at_501 = padding[:500] + tail
        r = matcher.match(at_501)
        assert r.status is Status.EMERGENCY and kind in r.special_id.split(",")
        at_4000 = (STORY * 120)[:4000] + tail
        assert len(at_4000) > 4000
        r = matcher.match(at_4000)
        assert r.status is Status.EMERGENCY and kind in r.special_id.split(",")
    assert matcher.match(padding * 8).status is not Status.EMERGENCY


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我爸在厕所摔了一跤 起不来了 叫他也不怎么应", "medical"),
        ("宝宝把纽扣电池吞下去了", "poisoning"),
        ("孩子被开水烫了 手臂起了好多水泡", "medical"),
        ("熊孩子把洗衣凝珠咬破了", "poisoning"),
        ("我想死", "crisis"),
        ("我已经把遗书写好了", "crisis"),
        # traditional script
        ("我媽突然說話不清楚，一邊手沒力氣", "medical"),
        ("孩子把奶奶的降壓藥當糖豆吃了好幾顆", "poisoning"),
        ("活著太累了，我想把自己解決掉", "crisis"),
        # English, any case
        ("my son swallowed a lot of pills", "poisoning"),
        ("My dad fell and can't get up", "medical"),
        ("I WANT TO END IT ALL", "crisis"),
        ("she cant breathe", "medical"),
        # homophone typos, spaces and symbols between characters
        ("我不想火了", "crisis"),
        ("我 不 想 活 了", "crisis"),
        ("胸*口*剧*痛", "medical"),
        ("孩子发稍抽处了", "medical"),
    ],
)
def test_emergencies_fire(net: SafetyNet, text: str, kind: str) -> None:
    assert kind in kinds(net, text)


def test_two_kinds_in_one_message_get_both_replies(kb: KnowledgeBase, matcher: Matcher) -> None:
    r = matcher.match("我吃了一整瓶安眠药，不想活了")
    assert r.status is Status.EMERGENCY and set(r.special_id.split(",")) == {"poisoning", "crisis"}
    reply = replies.build(kb, r, LANG_HANS)
    assert "12356" in reply.html and "疑似中毒" in reply.html
    assert reply.buttons == ()  # the emergency reply alone: nothing else to read or press


@pytest.mark.parametrize(
    ("family", "text"),
    [
        ("idiom", "今天热死了，想死你了"),
        ("idiom", "笑死我了，这价格贵死了"),
        ("idiom", "跳楼价大甩卖"),
        ("risk-question", "献血会不会晕倒"),
        ("risk-question", "打疫苗会不会引起过敏性休克"),
        ("past", "去年中过风现在康复能报销吗"),
        ("past", "小时候误食过农药，现在体检要注意什么"),
        ("insurance", "心脏病住院能报多少"),
        ("insurance", "心梗住院医保报销比例是多少"),
        ("policy", "心理援助热线是多少"),
        ("policy", "社区有没有急救培训课程，教心肺复苏的"),
        ("third-party", "电视剧里女主角跳楼了，太吓人"),
        ("negated", "不是中毒，只是想问过期药怎么处理"),
        ("negated", "没有生命危险，想问康复科怎么挂号"),
        ("chronic", "这两年喘得越来越厉害，爬两层楼就上不来气，尘肺病有救助吗"),
        ("past", "my grandpa is bedridden after a stroke. is there any program that helps pay for carers?"),
        ("other", "电脑中毒了怎么杀毒"),
        ("other", "手机电池没电了，哪里能充"),
    ],
)
def test_look_alikes_do_not_fire(net: SafetyNet, family: str, text: str) -> None:
    assert kinds(net, text) == (), family


def test_guards_give_way_to_something_happening_now(net: SafetyNet) -> None:
    assert kinds(net, "去年中过风") == ()
    assert kinds(net, "去年中过风，刚才又嘴歪了说话不清") == ("medical",)
    assert kinds(net, "我妈刚摔倒了头破了叫不醒，另外想问下120的车费医保能报吗") == ("medical",)
    # years of a condition, then a sudden change now: an emergency
    assert kinds(net, "我妈这两年心脏不好，今天胸口疼得厉害喘不上气") == ("medical",)
    assert kinds(net, "爷爷卧床好几年了，刚才突然叫不醒") == ("medical",)
    assert kinds(net, "my father just had a stroke, his face is drooping") == ("medical",)


def test_held_back_rules_and_risk_words_are_kept_for_staff(net: SafetyNet, matcher: Matcher) -> None:
    d = net.detect("献血会不会晕倒")
    assert d.kinds == () and d.suppressed[0].rule == "unconscious" and d.suppressed[0].guard == "risk-question"
    assert "unconscious (held back: risk-question)" in d.risk
    assert matcher.match("最近总是头晕，门诊能报销吗").risk == ("头晕",)


def test_explain_names_the_kind_rule_and_words(matcher: Matcher) -> None:
    text = format_analysis(matcher.explain("孩子把洗衣凝珠咬破了"), matcher)
    assert "safety:       poisoning — rule 'swallowed-hazard' matched 咬破 + 洗衣凝珠" in text
    assert "decision:     emergency (poisoning)" in text
    held = format_analysis(matcher.explain("献血会不会晕倒"), matcher)
    assert "rule 'unconscious' (medical) matched 晕倒, but guard 'risk-question'" in held


def test_sorry_and_did_you_mean_end_with_the_numbers(kb: KnowledgeBase, matcher: Matcher) -> None:
    line = replies.text("emergency_line", LANG_HANS)
    unanswered = replies.build(kb, matcher.match("外星人生病了怎么办"), LANG_HANS)
    assert unanswered.html.endswith(line)
    ambiguous = replies.build(kb, matcher.match("打疫苗要预约吗"), LANG_HANS)
    assert ambiguous.html.startswith("您是想问：") and ambiguous.html.endswith(line)
    assert replies.none_of_these(LANG_EN).html.endswith(replies.text("emergency_line", LANG_EN))
    assert "120" in line and "12356" in line


def test_knowledge_phrasings_never_fire(real_knowledge: LoadResult) -> None:
    assert real_knowledge.kb is not None, real_knowledge.errors
    assert [str(p) for p in real_knowledge.warnings if "emergency reply" in p.message] == []


@pytest.mark.parametrize("path", [SAFETY_SET, HELDOUT_SET, UNSEEN_SET])
def test_safety_sets(matcher: Matcher, path: Path) -> None:
    report = evaluate(load_questions(path), matcher.match)
    missed = [o.question.q[-60:] for o in report.emergencies if not o.correct]
    false = [o.question.q for o in report.outcomes if o.question.expect != "emergency" and o.status == "emergency"]
    # big enough to mean something: 100+ emergencies and 50+ look-alikes; the main set 200+ / 100+
    least = (200, 100) if path == SAFETY_SET else (100, 50)
    assert len(report.emergencies) >= least[0] and len(report.outcomes) - len(report.emergencies) >= least[1]
    assert missed == [] and false == []
