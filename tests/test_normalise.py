"""Normalisation: NFKC, width, case, punctuation, traditional→simplified, filler; script detection."""

from policybot.matching.normalise import detect_script, normalise, to_traditional
from policybot.model import LANG_EN, LANG_HANS, LANG_HANT


def test_traditional_becomes_simplified():
    assert normalise("網上預約掛號") == normalise("网上预约挂号") == "网上预约挂号"


def test_full_width_latin_digits_and_case_fold():
    assert normalise("ＨＰＶ疫苗１２３") == "hpv疫苗123"
    assert normalise("How DO I Book?") == "how do i book"


def test_punctuation_and_spaces_between_chinese_vanish():
    assert normalise("两癌 筛查，免费吗？！") == "两癌筛查免费吗"
    assert normalise("  hello,   world!! ") == "hello world"


def test_filler_removed_but_never_empties_question():
    filler = ["请问", "我想问一下"]
    assert normalise("请问，我想问一下两癌筛查免费吗", filler) == "两癌筛查免费吗"
    assert normalise("请问", filler) == "请问"


def test_detect_script():
    assert detect_script("網上預約掛號怎麼弄") == LANG_HANT
    assert detect_script("网上预约挂号怎么弄") == LANG_HANS
    assert detect_script("how do I book") == LANG_EN
    assert detect_script("12320", default=LANG_EN) == LANG_EN


def test_to_traditional():
    assert to_traditional("家庭医生签约") == "家庭醫生簽約"


def test_near_homophones_only_in_long_terms_and_never_into_real_words():
    from policybot.matching.typos import TypoCorrector

    c = TypoCorrector(["新农合", "医保"], {"新农合", "医保"}, {"新闻": 10})
    assert c.correct("新能合怎么报") == "新农合怎么报"  # one letter off in a 3-character term
    assert c.correct("新闻合") == "新闻合"  # 闻 wen is not one letter from 农 nong
    assert c.correct("医跑") == "医跑"  # two characters (pao for bao): only exact homophones count
