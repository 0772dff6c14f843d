"""The near-duplicate check finds exactly the pairs that comparing every pair finds."""

import random

import pytest
from rapidfuzz import fuzz

from policybot.knowledge.checks import _similar_pairs

ALPHABET = "医保报销门诊住院体检疫苗预约挂号免费老人儿童孕妇慢病家庭签约的吗怎么办理哪里 ab"


def _all_pairs(texts: list[str], cutoff: float) -> set[tuple[int, int]]:
    return {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
            if fuzz.ratio(texts[i], texts[j]) >= cutoff}


@pytest.mark.parametrize("cutoff", [100, 95, 90, 75, 50])
def test_prefix_filter_is_exact(cutoff: float):
    rng = random.Random(cutoff)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 16))) for _ in range(150)]
    for t in list(texts[:60]):  # near copies: a character dropped, changed or added
        k = rng.randrange(len(t))
        if len(t) > 1:  # (an empty phrasing never reaches this check)
            texts.append(t[:k] + t[k + 1:])
        texts.append(t[:k] + rng.choice(ALPHABET) + t[k + 1:])
        texts.append(t + t[k])
    assert _similar_pairs(texts, cutoff) == _all_pairs(texts, cutoff)


def test_repeated_characters_count_each_time():
    # 6 shared characters of 7: ratio 2*6/13 = 92
    assert _similar_pairs(["医医医保保保", "医医医保保保报"], 90) == {(0, 1)}
    assert _similar_pairs(["医保", "保医"], 90) == set()
