"""Text normalisation: NFKC, width, case, punctuation, traditional→simplified, filler.

Also tells which script a question is written in and converts between simplified and
traditional characters (OpenCC, one converter each per process). Knows nothing of the
knowledge base or Telegram.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

from policybot.model import LANG_EN, LANG_HANS, LANG_HANT

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-z]")
# Everything that is not a letter, digit or CJK ideograph becomes a space.
_NOT_WORD = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff]+|_")
_SPACES = re.compile(r"\s+")
# Spaces between two CJK characters carry no meaning ("网上 预约" == "网上预约").
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


def to_simplified(text: str) -> str:
    # one message is folded several times on its way (script, normalising, the safety net)
    return _t2s_cached(text) if len(text) <= 512 else cast(str, _t2s().convert(text))


@lru_cache(maxsize=2048)
def _t2s_cached(text: str) -> str:
    return cast(str, _t2s().convert(text))


def forget_folding() -> None:
    """Empty the folding memo (benchmarks time a message as if seen for the first time)."""
    _t2s_cached.cache_clear()


def to_traditional(text: str) -> str:
    return cast(str, _s2t().convert(text))


def fold(text: str) -> str:
    """NFKC (folds full-width ＡＢＣ１２３ and compatibility forms), lower case, simplified."""
    return to_simplified(unicodedata.normalize("NFKC", text)).casefold()


def normalise(text: str, filler: Iterable[str] = ()) -> str:
    """The form every phrasing and question is compared in.

    Punctuation becomes spaces, runs of spaces collapse, spaces between Chinese characters
    go, and each filler phrase (already normalised by the caller or not) is removed.
    """
    folded = fold(text)
    folded = _NOT_WORD.sub(" ", folded)
    for phrase in _folded_filler(tuple(filler)):
        # never let filler removal empty the question: "请问" alone stays "请问"
        stripped = folded.replace(phrase, " ")
        if stripped.strip():
            folded = stripped
    folded = _SPACES.sub(" ", folded).strip()
    return _CJK_SPACE.sub("", folded)


@lru_cache(maxsize=8)
def _folded_filler(filler: tuple[str, ...]) -> tuple[str, ...]:
    """Folded once per filler list (OpenCC per phrase on every question was measurable)."""
    return tuple(sorted({fold(f) for f in filler if f}, key=len, reverse=True))


def detect_script(text: str, default: str = LANG_HANS) -> str:
    """zh-Hant when the text has traditional-only characters, en when it is Latin, else zh-Hans."""
    cjk = _CJK.findall(text)
    if cjk:
        joined = "".join(cjk)
        return LANG_HANT if to_simplified(joined) != joined else LANG_HANS
    if _LATIN.search(unicodedata.normalize("NFKC", text).casefold()):
        return LANG_EN
    return default


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None
