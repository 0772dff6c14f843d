"""Words as language facts: function words, English tokens, and jieba's dictionary.

jieba is set up here and nowhere else: quiet logging, the default dictionary loaded once per
process, and a private tokenizer per user (a matcher adds its knowledge terms to its own).
Knows nothing of the knowledge base.
"""

from __future__ import annotations

import importlib
import logging
import marshal
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jieba

# Function words: they say nothing about which entry is meant. Language facts, not knowledge.
STOPWORDS_ZH = frozenset(
    """的 了 吗 呢 吧 啊 呀 嘛 哦 么 是 在 有 和 与 及 或 也 都 就 还 又 再 很 太 最 这 那 这个 那个 这些 那些
    我 你 您 他 她 它 我们 你们 他们 自己 家里 一个 一下 一些 个 些 把 被 给 让 对 向 从 到 去 来 过 着
    能 能不能 可以 可不可以 会 要 想 需要 应该 得 该 请 问 请问 一 下 上 中 里 没 没有 不 不是
    怎么 怎样 如何 什么 啥 哪 哪里 哪儿 哪些 哪个 多少 几 为什么 是不是 有没有 怎么办 办 弄 做 搞
    咋 咋办 咋整 咋弄 咋样 啦 哈 嗯 喔 哎 诶 时候 现在 已经 如果 因为 所以 但是 然后 还是 比如 之前 以后""".split()
)
STOPWORDS_EN = frozenset(
    """a an the i me my we our you your he she it they them is are was were be been am do does did
    can could should would will shall may might must to of in on at for from by with about as and or
    but if so not no how what when where which who whom why there here this that these those any some
    get got have has had please tell want need know
    myself ours ourselves yours yourself yourselves him his himself her hers herself its itself their
    theirs themselves being having doing because until while against between into through above below
    up down out off over under again further then once all both each few more most other such nor only
    own same than too very just now also even still really actually already yet ever maybe perhaps
    im ive id dont doesnt didnt cant cannot wont isnt arent wasnt couldnt wouldnt shouldnt
    hi hello hey thanks thank ok okay sorry wondering wonder asking ask question someone somebody
    something anything anyone anybody thing things stuff lot lots bit kind sort way like pretty quite
    said say says told heard hear think thought sure right go going went come came let us one
    mum mom mother dad father parent parents wife husband brother sister uncle aunt relative
    relatives friend neighbour neighbor""".split()
)
# Words kept out of the keywords `suggest` proposes: the function words, and question words that
# say nothing about the topic (the matcher does not drop these: they are part of phrasings).
KEYWORD_STOPWORDS = STOPWORDS_ZH | frozenset(
    "怎么样 的话 要求 知道 想问 我的 或者".split()
)

_EN_WORD = re.compile(r"[a-z][a-z0-9]+|\d+")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem: mediate, mediation -> mediat; discharged -> discharg."""
    return str(_stemmer().stemWord(word))


def stem_text(normalised: str) -> str:
    """Normalised text with each English word replaced by its stem, so that "mediate" meets
    "mediation" and "discharged" meets "discharge"; function words and other text unchanged."""
    return _EN_WORD.sub(lambda m: m.group(0) if m.group(0) in STOPWORDS_EN else stem(m.group(0)), normalised)


def en_tokens(stemmed: str) -> list[str]:
    """English words of `stem_text` output, function words dropped."""
    return [w for w in _EN_WORD.findall(stemmed) if w not in STOPWORDS_EN]


def _import_jieba() -> ModuleType:
    """jieba 0.42 imports pkg_resources (0.16 s, deprecated) only to open its own data files;
    when that import fails it opens them by path, which is what happens here."""
    if "jieba" not in sys.modules and "pkg_resources" not in sys.modules:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes the import fail
        try:
            return importlib.import_module("jieba")
        finally:
            del sys.modules["pkg_resources"]
    return importlib.import_module("jieba")


@lru_cache(maxsize=1)
def _default() -> jieba.Tokenizer:
    jieba = _import_jieba()
    jieba.setLogLevel(logging.WARNING)  # its start-up chatter is DEBUG
    dt = jieba.dt
    if not dt.initialized and dt.dictionary == jieba.DEFAULT_DICT and dt.cache_file is None:
        # jieba reads its cached dictionary with marshal.load on the open file, ~0.7 s here;
        # marshal.loads on the file's bytes gives the same dict in ~0.2 s.
        cache = Path(dt.tmp_dir or tempfile.gettempdir()) / "jieba.cache"
        with dt.lock:
            try:
                dt.FREQ, dt.total = marshal.loads(cache.read_bytes())  # noqa: S302 (jieba's own cache file)
                dt.initialized = True
            except (OSError, ValueError, EOFError, TypeError):
                pass  # no cache yet (or a damaged one): jieba builds and writes it
    dt.check_initialized()
    return dt


def word_frequencies() -> dict[str, int]:
    """jieba's dictionary: word -> frequency (0 for prefixes of longer words). Read only."""
    return _default().FREQ  # type: ignore[no-any-return]


def segment(text: str) -> list[str]:
    """jieba words of `text` with the default dictionary."""
    return _default().lcut(text)  # type: ignore[no-any-return]


def new_tokenizer() -> jieba.Tokenizer:
    """A tokenizer of its own, ready to use and to extend with add_word. It starts from a copy
    of the loaded default dictionary, which costs milliseconds instead of a second."""
    base = _default()
    jieba = _import_jieba()
    tok = jieba.Tokenizer()
    with base.lock:
        tok.FREQ = dict(base.FREQ)
        tok.total = base.total
    tok.initialized = True
    return tok
