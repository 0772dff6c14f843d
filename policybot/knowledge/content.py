"""What the editors' guide asks of an entry's text, checked line by line: no Markdown or HTML
(the bot would show it literally), no phone number that is not national unless an editor has
checked it, and a source a resident can read."""

from __future__ import annotations

import re
from collections.abc import Iterable

from yaml.nodes import Node, ScalarNode

from policybot.knowledge.nodes import FileReader, line_of

MIN_ALTERNATES = 5
# National numbers an answer may give anywhere in China (the guide lists them).
NATIONAL_NUMBERS = frozenset(
    ("110", "119", "120", "122", "12315", "12320", "12333", "12338", "12345", "12355", "12356", "12393")
)

_MARKUP = (
    (re.compile(r"\*\*[^*\n]+\*\*"), "Markdown bold (**…**)"),
    (re.compile(r"(?<!\w)__[^_\n]+__(?!\w)"), "Markdown bold (__…__)"),
    (re.compile(r"(?m)^\s*#{1,6}\s"), "a Markdown heading (# …)"),
    (re.compile(r"\[[^\]\n]+\]\([^)\n]+\)"), "a Markdown link ([text](url))"),
    (re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>\n]*)?/?>"), "an HTML tag"),
)
# Phone-like: mobiles, landlines with an area code, 400/800 lines, and short service numbers.
_PHONE = re.compile(
    r"(?<![\d.\-])(?:"
    r"1[3-9]\d{9}"  # mobile
    r"|0\d{2,3}[-\s]?\d{7,8}"  # landline with area code
    r"|[48]00[-\s]?\d{3}[-\s]?\d{4}"  # 400 / 800 lines
    r"|1[12]\d(?:\d{2})?|9[56]\d{3}"  # 110 / 120 …, 12345 …, 95xxx / 96xxx service numbers
    r")(?![\d.%])"
)
# A short service number is only a phone number where it is not an amount, age or date.
_NOT_A_PHONE_AFTER = re.compile(r"\s*(?:元|块|%|％|岁|年|月|日|天|个|人|次|万|小时|分钟|周|类|项|种|倍|米|度|克|号|届|期|条|页|份|台|张|家|所|户|名|例|yuan|years?|days?|%)")
_CALL_WORD = re.compile(r"拨打|致电|电话|热线|来电|打|专线|call|phone|hotline|dial|tel", re.I)
_SEED_SOURCE = re.compile(r"^\s*(?:seed\s*)?\d{3}(?:\s|$)|%")


def phone_like(text: str) -> list[str]:
    """Everything in `text` the answer check reads as a phone number, were it unverified."""
    return [m.group(0) for m in _PHONE.finditer(text)]


def _line_in(node: Node, text: str, offset: int) -> int:
    """The file line of character `offset` of a scalar's text (block scalars start a line lower)."""
    block = isinstance(node, ScalarNode) and node.style in ("|", ">")
    return line_of(node) + (1 if block else 0) + text.count("\n", 0, offset)


def check_answer_text(file: FileReader, node: Node, what: str, text: str, verified: Iterable[str]) -> None:
    for pattern, name in _MARKUP:
        m = pattern.search(text)
        if m is not None:
            file.error(
                _line_in(node, text, m.start()),
                f"{what}: {name} '{m.group(0)[:30]}' — the bot shows it literally; write plain text",
            )
    allowed = NATIONAL_NUMBERS | {re.sub(r"\D", "", n) for n in verified}
    for m in _PHONE.finditer(text):
        number = re.sub(r"\D", "", m.group(0))
        # a short number is a phone number only when the text says so (拨打 12345, 热线 110)
        if len(number) <= 5 and (
            _NOT_A_PHONE_AFTER.match(text, m.end()) or not _CALL_WORD.search(text[max(0, m.start() - 8) : m.start()])
        ):
            continue
        if number not in allowed:
            file.error(
                _line_in(node, text, m.start()),
                f"{what}: phone number {m.group(0)} is not a national number "
                f"({', '.join(sorted(NATIONAL_NUMBERS))}); never invent a local number — if an editor "
                "has checked it, list it under verified_numbers",
            )


def check_source(file: FileReader, node: Node, what: str, text: str) -> None:
    if _SEED_SOURCE.search(text):
        file.warning(
            node,
            f"{what}: '{text[:30]}' reads like an editor's note; give a name a resident understands "
            "(国家基本公共卫生服务规范；本地以卫健部门通知为准) and keep seed references under references",
        )
