"""Sending replies to Telegram: long replies split within Telegram's limit into parts that are each
valid HTML (hypothesis: tags and entities at every cut position), one limit for all."""

import html
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from policybot.bot import callback_data, sending
from policybot.model import MAX_MESSAGE_CHARS


def test_split_message_on_paragraphs():
    paras = ["段" * 1500, "落" * 1500, "文" * 1500]
    parts = sending.split_message("\n\n".join(paras))
    assert parts == [paras[0] + "\n\n" + paras[1], paras[2]]
    assert all(len(p) <= sending.MAX_MESSAGE for p in parts)
    huge = sending.split_message("字" * 9000)
    assert all(len(p) <= sending.MAX_MESSAGE for p in huge) and "".join(huge) == "字" * 9000


def test_the_domain_limits_are_telegrams():
    # knowledge answers are checked against model.MAX_MESSAGE_CHARS without importing telegram
    assert MAX_MESSAGE_CHARS == sending.MAX_MESSAGE == MessageLimit.MAX_TEXT_LENGTH
    assert callback_data.MAX_BYTES == InlineKeyboardButtonLimit.MAX_CALLBACK_DATA


# --- HTML-safe splitting ------------------------------------------------------------------------


_TEXT = st.text(alphabet="医保a <>&\"'\n", min_size=0, max_size=12)


@st.composite
def _html(draw: st.DrawFn, depth: int = 0) -> str:
    """Telegram HTML as replies.py writes it: escaped text, <b>, <i>, <a href>, paragraphs."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "text", "b", "i", "a", "para"] if depth < 3 else ["text"]))
        if kind == "text":
            out.append(html.escape(draw(_TEXT)))
        elif kind == "para":
            out.append("\n\n")
        elif kind == "a":
            out.append(f'<a href="https://e.org/?q=1&amp;r=2">{draw(_html(depth + 1))}</a>')
        else:
            out.append(f"<{kind}>{draw(_html(depth + 1))}</{kind}>")
    return "".join(out)


class _Checker(HTMLParser):
    """Valid Telegram HTML: every tag closed in order, no stray '<', '>' or '&' outside entities."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.ok &= bool(self.stack) and self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _valid(part: str) -> tuple[bool, str]:
    if re.search(r"&(?!(?:amp|lt|gt|quot|#x27|#39);)", part) or re.search(r"<(?![/a-z])", part):
        return False, ""
    checker = _Checker()
    checker.feed(part)
    checker.close()
    return checker.ok and not checker.stack, "".join(checker.text)


@settings(max_examples=400, deadline=None)
@given(body=_html(), limit=st.integers(12, 80))
def test_every_part_is_valid_html_within_the_limit(body: str, limit: int) -> None:
    body = body.strip()  # replies never start or end with blank lines
    parts = sending.split_message(body, limit)
    whole_ok, whole_text = _valid(body)
    assert whole_ok
    texts = []
    for part in parts:
        ok, text = _valid(part)
        assert ok, (part, parts)
        # (over the limit only when one visible character with its tags cannot fit at all)
        assert len(part) <= limit or len(re.sub(r"\s", "", text)) <= 1, part
        texts.append(text)
    # nothing lost but whitespace at the cuts (a part of only whitespace is not sent)
    assert re.sub(r"\s", "", "".join(texts)) == re.sub(r"\s", "", whole_text)


def test_cuts_at_every_position_of_an_entity_and_a_tag() -> None:
    body = "问" * 5 + "<b>A&amp;B</b>" + "答" * 5 + "<i>x</i>"
    for limit in range(10, len(body) + 1):
        for part in sending.split_message(body, limit):
            assert _valid(part)[0], (limit, part)
            assert "&am" not in part.replace("&amp;", "")
