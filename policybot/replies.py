"""Every message residents get, in zh-Hans / zh-Hant / en: the one place their wording lives.

Builds `Reply` values (Telegram-HTML text + buttons as plain data) from match results and
the knowledge base. The console chat and the Telegram handlers both send exactly these,
so they can never disagree. zh-Hant texts are the zh-Hans ones converted with OpenCC.
Splitting long replies into messages is the bot layer's job (`bot.sending`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from policybot.matching.normalise import to_traditional
from policybot.model import (
    LANG_EN,
    LANG_HANS,
    LANG_HANT,
    Button,
    Entry,
    KnowledgeBase,
    MatchResult,
    Reply,
    Status,
)

# Button actions; the Telegram layer encodes (action, arg, query_id) as callback data.
ACT_PICK = "pick"  # a "did you mean" candidate was chosen (arg = entry id)
ACT_NONE = "none"  # "none of these"
ACT_HELPFUL = "helpful"  # feedback on an answer (arg = entry id)
ACT_UNHELPFUL = "unhelpful"
ACT_ENTRY = "entry"  # show an entry (related entries, topic browsing, examples)
ACT_TOPICS = "topics"  # list the categories
ACT_CATEGORY = "category"  # list the entries of a category (arg = category id)
ACT_LANG = "lang"  # switch language (arg = language code)
ACTIONS = (
    ACT_PICK,
    ACT_NONE,
    ACT_HELPFUL,
    ACT_UNHELPFUL,
    ACT_ENTRY,
    ACT_TOPICS,
    ACT_CATEGORY,
    ACT_LANG,
)

HOTLINES = "12345（政务服务便民热线）、12320（卫生健康热线）"
HOTLINES_EN = "12345 (government service hotline), 12320 (health hotline)"

# Wording: key -> {zh-Hans, en}. zh-Hant is derived.
_TEXT: dict[str, dict[str, str]] = {
    "welcome": {
        LANG_HANS: (
            "您好！我是卫生健康政策咨询助手。\n"
            "我可以回答免费筛查与体检、医保报销、一站式结算、预约挂号、家庭医生签约、"
            "妇幼保健、预防接种等问题。直接输入您的问题即可，例如："
        ),
        LANG_EN: (
            "Hello! I answer questions about local health policy: free screenings and check-ups, "
            "medical insurance reimbursement, one-stop settlement, appointment booking, family "
            "doctors, maternal and child health, vaccination. Just type your question, for example:"
        ),
    },
    "emergency_line": {
        LANG_HANS: "紧急情况请立即拨打 120；心理危机求助请拨打 12356。",
        LANG_EN: "In an emergency call 120 at once; for a psychological crisis call 12356.",
    },
    "help": {
        LANG_HANS: (
            "使用方法：\n"
            "• 直接输入问题，例如“两癌筛查免费吗”\n"
            "• /topics 按主题浏览全部问题\n"
            "• /lang 切换语言（简体 / 繁體 / English）\n"
            "• 在群组里请用 /ask 加问题，或 @我\n"
            "我只根据卫生健康部门公开的政策回答，各地标准以当地最新政策为准。"
            "找不到答案时可拨打 " + HOTLINES + "。"
        ),
        LANG_EN: (
            "How to use me:\n"
            "• Type your question, e.g. “Is cervical and breast cancer screening free?”\n"
            "• /topics browses every question by topic\n"
            "• /lang switches language (简体 / 繁體 / English)\n"
            "• In groups, use /ask followed by your question, or mention me\n"
            "Answers follow published health-bureau policy; local rules may differ. "
            "If I can't help, call " + HOTLINES_EN + "."
        ),
    },
    "topics": {LANG_HANS: "请选择主题：", LANG_EN: "Choose a topic:"},
    "category": {LANG_HANS: "“{title}”下的问题：", LANG_EN: "Questions under “{title}”:"},
    "did_you_mean": {LANG_HANS: "您是想问：", LANG_EN: "Did you mean:"},
    "none_of_these": {LANG_HANS: "都不是", LANG_EN: "None of these"},
    "none_reply": {
        LANG_HANS: (
            "抱歉，没能找到您要的答案。您的问题已转给编辑补充。\n"
            "如需帮助，请拨打 " + HOTLINES + "。"
        ),
        LANG_EN: (
            "Sorry I couldn't find the answer. Your question has been passed to the editors.\n"
            "For help now, call " + HOTLINES_EN + "."
        ),
    },
    "unanswered": {
        LANG_HANS: (
            "抱歉，这个问题我暂时回答不了。\n"
            "您的问题已转给编辑，我们会尽快补充答案。\n"
            "如需帮助，请拨打 " + HOTLINES + "。\n"
            "也可以按主题浏览我能回答的问题。"
        ),
        LANG_EN: (
            "Sorry, I can't answer that yet.\n"
            "Your question has been passed to the editors so that we can add an answer.\n"
            "For help now, call " + HOTLINES_EN + ".\n"
            "You can also browse the questions I can answer by topic."
        ),
    },
    "out_of_scope": {
        LANG_HANS: (
            "这个问题不在卫生健康政策的范围内，我回答不了。\n"
            "其他政务问题请拨打 12345 政务服务便民热线。\n"
            "也可以按主题浏览我能回答的卫生健康问题。"
        ),
        LANG_EN: (
            "That question is outside health policy, so I can't answer it.\n"
            "For other government services, call 12345 (government service hotline).\n"
            "You can also browse the health questions I can answer by topic."
        ),
    },
    "browse_topics": {LANG_HANS: "按主题浏览", LANG_EN: "Browse topics"},
    "footer": {LANG_HANS: "来源：{source}　更新：{updated}", LANG_EN: "Source: {source} · Updated: {updated}"},
    "related": {LANG_HANS: "相关：", LANG_EN: "Related: "},
    "helpful": {LANG_HANS: "👍 有帮助", LANG_EN: "👍 Helpful"},
    "unhelpful": {LANG_HANS: "👎 没帮助", LANG_EN: "👎 Not helpful"},
    "thanks_helpful": {LANG_HANS: "谢谢您的反馈！", LANG_EN: "Thank you for your feedback!"},
    "thanks_unhelpful": {
        LANG_HANS: "谢谢反馈，编辑会改进这个答案。需要帮助请拨打 " + HOTLINES + "。",
        LANG_EN: "Thanks, the editors will improve this answer. For help, call " + HOTLINES_EN + ".",
    },
    "en_note": {
        LANG_HANS: "",
        LANG_EN: "(No English version of this answer yet; here is the Chinese one.)",
    },
    "expired": {
        LANG_HANS: "这个按钮已过期，请重新输入您的问题。",
        LANG_EN: "This button has expired. Please type your question again.",
    },
    "non_text": {
        LANG_HANS: "我只能读文字消息，请直接输入您的问题。",
        LANG_EN: "I can only read text — please type your question.",
    },
    "error": {
        LANG_HANS: "抱歉，出了点问题，请稍后再试。急需帮助请拨打 " + HOTLINES + "。",
        LANG_EN: "Sorry, something went wrong. Please try again. For urgent help, call " + HOTLINES_EN + ".",
    },
    "unknown_command": {
        LANG_HANS: "抱歉，我不认识这个命令。发送 /help 查看用法。",
        LANG_EN: "Sorry, I don't know that command. Send /help to see what I can do.",
    },
    "not_yours": {
        LANG_HANS: "这些按钮只有提问的居民本人可以使用。您可以用 /ask 提出自己的问题。",
        LANG_EN: "Only the resident who asked can use these buttons. Ask your own question with /ask.",
    },
    "slow_down": {
        LANG_HANS: "您发得太快了，请过一分钟再问。紧急情况请立即拨打 120；心理危机求助请拨打 12356。",
        LANG_EN: "You are sending messages very fast; please wait a minute before asking again. "
        "In an emergency call 120 at once; for a psychological crisis call 12356.",
    },
    "private_only": {
        LANG_HANS: "请在与我的私聊中使用这个命令。",
        LANG_EN: "Please use this command in a private chat with me.",
    },
    "ask_usage": {
        LANG_HANS: "请在 /ask 后面写上您的问题，例如：/ask 两癌筛查免费吗",
        LANG_EN: "Write your question after /ask, e.g. /ask how do I book an appointment online",
    },
    "choose_lang": {LANG_HANS: "请选择语言：", LANG_EN: "Choose a language:"},
    "lang_set": {LANG_HANS: "已切换为{name}。", LANG_EN: "Language set to English."},
    "too_long": {
        LANG_HANS: "您的消息太长了，我只读了前面一部分。请尽量用一两句话提问。",
        LANG_EN: "Your message is very long; I only read the beginning. Please ask in a sentence or two.",
    },
}

LANG_NAMES = {LANG_HANS: "简体中文", LANG_HANT: "繁體中文", LANG_EN: "English"}
# Commands shown in Telegram's menu, per language.
COMMANDS: dict[str, list[tuple[str, str]]] = {
    LANG_HANS: [
        ("start", "开始使用"),
        ("topics", "按主题浏览"),
        ("help", "使用帮助"),
        ("lang", "切换语言"),
        ("ask", "提问（群组中使用）"),
    ],
    LANG_EN: [
        ("start", "Start"),
        ("topics", "Browse topics"),
        ("help", "How to use the bot"),
        ("lang", "Switch language"),
        ("ask", "Ask a question (in groups)"),
    ],
}


def text(key: str, lang: str, **fmt: str) -> str:
    """A fixed text in `lang` (zh-Hant derived from zh-Hans)."""
    variants = _TEXT[key]
    if lang == LANG_EN:
        out = variants[LANG_EN]
    else:
        out = variants[LANG_HANS]
        if lang == LANG_HANT:
            out = to_traditional(out)
    return out.format(**fmt) if fmt else out


def esc(value: str) -> str:
    return html.escape(value, quote=False)


def _localise(value: str, lang: str) -> str:
    """Knowledge text is written in Simplified Chinese; traditional readers get it converted."""
    return to_traditional(value) if lang == LANG_HANT else value


def entry_question(entry: Entry, lang: str) -> str:
    if lang == LANG_EN and "en" in entry.translations:
        return entry.translations["en"].question
    return _localise(entry.question, lang)


def entry_reply(kb: KnowledgeBase, entry: Entry, lang: str, query_id: str = "") -> Reply:
    """The full answer: text, source footer, related entries and feedback buttons."""
    parts: list[str] = []
    if lang == LANG_EN and "en" in entry.translations:
        tr = entry.translations["en"]
        parts.append(f"<b>{esc(tr.question)}</b>")
        parts.append(esc(tr.answer.strip()))
    else:
        if lang == LANG_EN:
            parts.append(f"<i>{esc(text('en_note', LANG_EN))}</i>")
        parts.append(f"<b>{esc(_localise(entry.question, lang))}</b>")
        parts.append(esc(_localise(entry.answer.strip(), lang)))
    source = _localise(entry.source, lang)
    if lang == LANG_EN and "en" in entry.translations and entry.translations["en"].source:
        source = entry.translations["en"].source
    footer = text("footer", lang, source=source, updated=entry.updated.isoformat())
    parts.append(f"<i>{esc(footer)}</i>")
    rows: list[tuple[Button, ...]] = []
    for rid in entry.related:
        related = kb.entries.get(rid)
        if related is not None:
            rows.append((Button(entry_question(related, lang), ACT_ENTRY, rid),))
    rows.append(
        (
            Button(text("helpful", lang), ACT_HELPFUL, entry.id, query_id),
            Button(text("unhelpful", lang), ACT_UNHELPFUL, entry.id, query_id),
        )
    )
    return Reply("\n\n".join(parts), tuple(rows))


def _special_reply(body: str, translations: Mapping[str, str], lang: str) -> str:
    if lang == LANG_EN and "en" in translations:
        return translations["en"]
    return _localise(body, lang)


def build(kb: KnowledgeBase, result: MatchResult, lang: str, query_id: str = "") -> Reply:
    """The one reply to a resident's question."""
    if result.status is Status.EMERGENCY:
        return emergency(kb, (result.special_id or "").split(","), lang)
    if result.status is Status.SMALLTALK:
        st = next(s for s in kb.smalltalk if s.id == result.special_id)
        body = esc(_special_reply(st.reply.strip(), st.translations, lang))
        return Reply(body, ((Button(text("browse_topics", lang), ACT_TOPICS),),))
    answer = kb.entries.get(result.entry_id or "") if result.status is Status.ANSWERED else None
    if answer is not None:
        return entry_reply(kb, answer, lang, query_id)
    if result.status is Status.AMBIGUOUS and result.candidates:
        rows = [
            (Button(entry_question(kb.entries[c.entry_id], lang), ACT_PICK, c.entry_id, query_id),)
            for c in result.candidates
            if c.entry_id in kb.entries
        ]
        rows.append((Button(text("none_of_these", lang), ACT_NONE, "", query_id),))
        return Reply(esc(text("did_you_mean", lang)) + _safety_line(lang), tuple(rows))
    if result.status is Status.OUT_OF_SCOPE:
        return Reply(
            esc(text("out_of_scope", lang)) + _safety_line(lang),
            ((Button(text("browse_topics", lang), ACT_TOPICS),),),
        )
    return unanswered(lang)


def emergency(kb: KnowledgeBase, kind_ids: list[str], lang: str) -> Reply:
    """The reply of each kind that fired, in safety.yaml order: nothing else, no buttons, no
    footer, nothing to read past the numbers."""
    wanted = set(kind_ids)
    kinds = [k for k in kb.safety.kinds if k.id in wanted] or list(kb.safety.kinds[:1])
    return Reply("\n\n".join(esc(_special_reply(k.reply.strip(), k.translations, lang)) for k in kinds))


def _safety_line(lang: str) -> str:
    """Under every "sorry" and "did you mean": a missed emergency still shows the numbers."""
    return "\n\n" + esc(text("emergency_line", lang))


def unanswered(lang: str) -> Reply:
    return Reply(
        esc(text("unanswered", lang)) + _safety_line(lang),
        ((Button(text("browse_topics", lang), ACT_TOPICS),),),
    )


def none_of_these(lang: str) -> Reply:
    return Reply(
        esc(text("none_reply", lang)) + _safety_line(lang),
        ((Button(text("browse_topics", lang), ACT_TOPICS),),),
    )


def simple(key: str, lang: str) -> Reply:
    return Reply(esc(text(key, lang)))


def language_set(lang: str) -> Reply:
    """"已切換為繁體中文" for 繁體: the name is the chosen language's own, never derived."""
    return Reply(esc(text("lang_set", lang, name=LANG_NAMES[lang])))


def welcome(kb: KnowledgeBase, lang: str, examples: tuple[str, ...]) -> Reply:
    """The emergency numbers, the greeting, then "for example:" right above three example buttons."""
    body = f"<b>{esc(text('emergency_line', lang))}</b>" + "\n\n" + esc(text("welcome", lang))
    rows = tuple(
        (Button(entry_question(kb.entries[eid], lang), ACT_ENTRY, eid),)
        for eid in examples
        if eid in kb.entries
    )
    return Reply(body, (*rows, (Button(text("browse_topics", lang), ACT_TOPICS),)))


def help_reply(lang: str) -> Reply:
    body = esc(text("help", lang)) + "\n\n" + f"<b>{esc(text('emergency_line', lang))}</b>"
    return Reply(body)


def topics(kb: KnowledgeBase, lang: str) -> Reply:
    rows = tuple(
        (Button(_localise(c.title_for(lang), lang), ACT_CATEGORY, c.id),)
        for c in kb.categories
    )
    return Reply(esc(text("topics", lang)), rows)


def category(kb: KnowledgeBase, category_id: str, lang: str) -> Reply | None:
    cat = kb.category(category_id)
    if cat is None:
        return None
    title = _localise(cat.title_for(lang), lang)
    rows = [
        (Button(entry_question(kb.entries[eid], lang), ACT_ENTRY, eid),)
        for eid in cat.entry_ids
        if eid in kb.entries
    ]
    rows.append((Button("« " + text("browse_topics", lang), ACT_TOPICS),))
    return Reply(esc(text("category", lang, title=title)), tuple(rows))


def choose_language() -> Reply:
    rows = tuple((Button(name, ACT_LANG, code),) for code, name in LANG_NAMES.items())
    return Reply(esc(text("choose_lang", LANG_HANS) + " / " + text("choose_lang", LANG_EN)), rows)
