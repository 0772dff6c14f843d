"""Telegram handlers through the real Application, with a fake Bot API transport.

Every Bot API call is recorded (method, parameters) and answered with canned results, so the
tests assert on exactly what Telegram would receive: text, parse_mode and inline keyboards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.error import BadRequest
from telegram.ext import CallbackContext
from telegram.request import RequestData

from policybot import replies
from policybot.bot import callback_data
from policybot.bot.app import build_application, post_init, post_shutdown, purge_job, reload_job
from policybot.bot.context import BotApplication, BotData, UserData
from policybot.bot.sending import send_reply
from policybot.bot.throughput import FakeBotAPI
from policybot.config import Config
from policybot.knowledge import KnowledgeError, LoadResult
from policybot.model import LANG_EN, LANG_HANS, LANG_HANT, Button, Reply
from policybot.service import EXAMPLE_ENTRIES, Service
from tests.conftest import REAL_KNOWLEDGE

TOKEN = "123456789:AAE-fake_token_for_tests_only-9xYz"
BOT_ID = 123456789
BOT_USERNAME = "PolicyTestBot"
USER_ID = 1001
STAFF_ID = 4242
GROUP_ID = -100555


class FakeTelegram(FakeBotAPI):
    """Records every Bot API call and answers it like Telegram would (the bench's fake), and
    fails the methods put in `fail`."""

    def __init__(self) -> None:
        super().__init__({"id": BOT_ID, "is_bot": True, "first_name": "Policy", "username": BOT_USERNAME}, 500)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, Exception] = {}

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        self.calls.append((name, dict(request_data.parameters) if request_data else {}))
        if name in self.fail:
            raise self.fail[name]
        return await super().do_request(url, method, request_data, *args, **kwargs)


@dataclass
class Sent:
    text: str
    params: dict[str, Any]
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # (label, callback data)

    def decoded(self, secret: bytes, owner: int = USER_ID) -> list[Button]:
        out = []
        for row in self.buttons:
            for label, data in row:
                button = callback_data.decode(data, secret, owner)
                assert button is not None, data
                out.append(Button(label, button.action, button.arg, button.query_id))
        return out


class Bot:
    """The app under test plus helpers to feed updates and read what was sent."""

    def __init__(self, app: BotApplication, fake: FakeTelegram, cfg: Config) -> None:
        self.app, self.fake, self.cfg = app, fake, cfg
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    @property
    def service(self) -> Service:
        return self.app.bot_data.running()

    @property
    def secret(self) -> bytes:
        return self.app.bot_data.secret

    def clear(self) -> None:
        self.fake.calls.clear()

    def methods(self) -> list[str]:
        return [name for name, _ in self.fake.calls]

    def sent(self) -> list[Sent]:
        out = []
        for name, params in self.fake.calls:
            if name != "sendMessage":
                continue
            markup = params.get("reply_markup") or {}
            buttons = [
                [(b["text"], b["callback_data"]) for b in row] for row in markup.get("inline_keyboard", [])
            ]
            out.append(Sent(params["text"], params, buttons))
        return out

    def one(self) -> Sent:
        sent = self.sent()
        assert len(sent) == 1, [s.text for s in sent]
        assert sent[0].params["parse_mode"] == "HTML"
        return sent[0]

    async def feed(self, payload: dict[str, Any]) -> None:
        self.clear()
        payload = {"update_id": next(self._update_ids), **payload}
        await self.app.process_update(Update.de_json(payload, self.app.bot))

    def message(
        self,
        text: str | None = None,
        *,
        user_id: int = USER_ID,
        chat_id: int | None = None,
        lang: str = "zh-hans",
        reply_to_bot: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        chat_id = user_id if chat_id is None else chat_id
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(dt.datetime.now().timestamp()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": "居民群"},
            "from": {"id": user_id, "is_bot": False, "first_name": "居民", "language_code": lang},
            **extra,
        }
        if text is not None:
            msg["text"] = text
            entities = []
            if text.startswith("/"):
                entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
            mention = "@" + BOT_USERNAME
            if mention in text:
                entities.append({"type": "mention", "offset": text.index(mention), "length": len(mention)})
            if entities:
                msg["entities"] = entities
        if reply_to_bot:
            msg["reply_to_message"] = {
                "message_id": 9,
                "date": msg["date"],
                "chat": msg["chat"],
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Policy", "username": BOT_USERNAME},
                "text": "您好",
            }
        return msg

    async def say(self, text: str, **kwargs: Any) -> None:
        await self.feed({"message": self.message(text, **kwargs)})

    async def press(self, data: str, *, user_id: int = USER_ID, lang: str = "zh-hans", chat_id: int | None = None) -> None:
        chat = user_id if chat_id is None else chat_id
        await self.feed(
            {
                "callback_query": {
                    "id": f"cq{next(self._update_ids)}",
                    "from": {"id": user_id, "is_bot": False, "first_name": "居民", "language_code": lang},
                    "chat_instance": "42",
                    "data": data,
                    "message": {
                        "message_id": 77,
                        "date": int(dt.datetime.now().timestamp()),
                        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup", "title": "居民群"},
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Policy"},
                        "text": "…",
                    },
                }
            }
        )

    async def press_label(self, sent: Sent, label: str, **who: Any) -> None:
        data = next(d for row in sent.buttons for lbl, d in row if lbl == label)
        await self.press(data, **who)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        querylog = self.service.querylog
        assert querylog is not None
        assert await querylog.flush()
        with sqlite3.connect(self.cfg.db_path) as db:
            return db.execute(sql).fetchall()


def make_config(tmp_path: Path, kb_dir: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "token": TOKEN,
        "knowledge_dir": kb_dir,
        "db_path": tmp_path / "data" / "log.sqlite3",
        "hash_salt": "test-salt",
        "staff_ids": frozenset({STAFF_ID}),
        "reload_interval": 0,
    }
    values.update(overrides)
    return Config(**values)


@pytest.fixture
async def bot(tmp_path: Path, kb_dir: Path, shared_matchers: None) -> AsyncIterator[Bot]:
    async with running_bot(make_config(tmp_path, kb_dir)) as b:
        yield b


@contextlib.asynccontextmanager
async def running_bot(cfg: Config) -> AsyncIterator[Bot]:
    """The application on `cfg` with a FakeTelegram, started as run_polling would start it."""
    fake = FakeTelegram()
    app = build_application(cfg, request=fake, get_updates_request=FakeTelegram())
    await app.initialize()
    await post_init(app)  # run_polling would call it; process_update does not
    try:
        yield Bot(app, fake, cfg)
    finally:
        await app.shutdown()
        await post_shutdown(app)


# --- start-up -------------------------------------------------------------------------------


async def test_post_init_sets_commands_per_language(bot: Bot) -> None:
    # the fixture's post_init calls were cleared by nothing yet: look at them
    commands = [p for name, p in bot.fake.calls if name == "setMyCommands"]
    assert [c.get("language_code") for c in commands] == [None, "zh", "en"]
    assert commands[0]["commands"][0] == {"command": "start", "description": "开始使用"}
    assert commands[2]["commands"][0] == {"command": "start", "description": "Start"}


async def test_set_commands_failure_does_not_stop_the_bot(tmp_path: Path, kb_dir: Path) -> None:
    fake = FakeTelegram()
    app = build_application(make_config(tmp_path, kb_dir), request=fake, get_updates_request=FakeTelegram())
    fake.fail["setMyCommands"] = BadRequest("nope")
    await app.initialize()
    await post_init(app)
    assert isinstance(app.bot_data, BotData) and isinstance(app.bot_data.service, Service)
    await app.shutdown()
    await post_shutdown(app)


async def test_broken_knowledge_refuses_to_start(tmp_path: Path, kb_dir: Path) -> None:
    (kb_dir / "broken.yaml").write_text("category: {id: broken}\nentries:\n  - id: Not An Id\n")
    app = build_application(
        make_config(tmp_path, kb_dir), request=FakeTelegram(), get_updates_request=FakeTelegram()
    )
    await app.initialize()
    with pytest.raises(KnowledgeError) as info:
        await post_init(app)
    assert info.value.errors and all(p.file.endswith("broken.yaml") for p in info.value.errors)
    assert app.bot_data.service is None
    await app.shutdown()


async def test_unopenable_query_log_still_serves(tmp_path: Path, kb_dir: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    cfg = make_config(tmp_path, kb_dir, db_path=tmp_path / "not-a-dir" / "log.sqlite3")
    async with running_bot(cfg) as b:
        assert b.service.querylog is None
        await b.say("怎么在网上预约挂号")
        assert "健康城市" in b.one().text


def test_api_base_url_is_used(tmp_path: Path, kb_dir: Path) -> None:
    for given in ("http://127.0.0.1:8081", "http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot/"):
        app = build_application(make_config(tmp_path, kb_dir, api_base_url=given))
        assert app.bot.base_url == "http://127.0.0.1:8081/bot" + TOKEN
        assert app.bot.base_file_url == "http://127.0.0.1:8081/file/bot" + TOKEN


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language_code", "lang"),
    [
        ("zh-hans", LANG_HANS),
        ("zh", LANG_HANS),
        (None, LANG_HANS),
        ("zh-hant", LANG_HANT),
        ("zh-TW", LANG_HANT),
        ("en-GB", LANG_EN),
    ],
)
async def test_start_welcomes_in_the_users_language(bot: Bot, language_code: str | None, lang: str) -> None:
    await bot.say("/start", lang=language_code)  # type: ignore[arg-type]
    sent = bot.one()
    assert sent.text == bot.service.welcome(lang).html
    assert replies.esc(replies.text("welcome", lang)) in sent.text
    assert "120" in sent.text and "12356" in sent.text
    buttons = sent.decoded(bot.secret)
    assert [(b.action, b.arg) for b in buttons] == [
        *((replies.ACT_ENTRY, e) for e in EXAMPLE_ENTRIES),
        (replies.ACT_TOPICS, ""),
    ]
    assert buttons[-1].label == replies.text("browse_topics", lang)


async def test_start_prefers_the_script_the_user_writes(bot: Bot) -> None:
    await bot.say("門診看病怎麼報銷", lang="en")
    await bot.say("/start", lang="en")
    assert bot.one().text == bot.service.welcome(LANG_HANT).html


async def test_help(bot: Bot) -> None:
    await bot.say("/help")
    assert bot.one().text == replies.help_reply(LANG_HANS).html


async def test_topics_category_entry(bot: Bot) -> None:
    await bot.say("/topics")
    topics = bot.one()
    assert topics.text == "请选择主题："
    assert [(b.label, b.arg) for b in topics.decoded(bot.secret)] == [
        ("预约挂号", "booking"),
        ("医保与报销", "insurance"),
        ("免费筛查", "screening"),
    ]
    await bot.press_label(topics, "医保与报销")
    assert bot.methods()[0] == "answerCallbackQuery"
    category = bot.one()
    assert category.text == "“医保与报销”下的问题："
    assert [(b.label, b.action, b.arg) for b in category.decoded(bot.secret)] == [
        ("门诊看病怎么报销？", replies.ACT_ENTRY, "outpatient-reimbursement"),
        ("住院费用怎么报销？", replies.ACT_ENTRY, "inpatient-reimbursement"),
        ("« 按主题浏览", replies.ACT_TOPICS, ""),
    ]
    await bot.press_label(category, "住院费用怎么报销？")
    entry = bot.one()
    assert entry.text == (
        "<b>住院费用怎么报销？</b>\n\n出院时在医院直接结算。\n\n<i>来源：市医保局　更新：2026-01-10</i>"
    )


async def test_lang_choice_is_remembered(bot: Bot) -> None:
    await bot.say("/lang")
    choose = bot.one()
    assert [(b.label, b.arg) for b in choose.decoded(bot.secret)] == [
        ("简体中文", LANG_HANS),
        ("繁體中文", LANG_HANT),
        ("English", LANG_EN),
    ]
    await bot.press_label(choose, "English")
    assert bot.one().text == "Language set to English."
    assert bot.app.user_data[USER_ID] == UserData(lang=LANG_EN, lang_loaded=True)
    await bot.say("/topics")
    assert bot.one().text == "Choose a topic:"


async def test_lang_choice_survives_a_restart(tmp_path: Path, kb_dir: Path) -> None:
    cfg = make_config(tmp_path, kb_dir)
    for run in (1, 2):
        async with running_bot(cfg) as b:
            if run == 1:
                await b.say("/lang")
                await b.press_label(b.one(), "English")
            else:  # a new process (or another replica): the choice comes from the database
                await b.say("/topics")
                assert b.one().text == "Choose a topic:"
    with sqlite3.connect(cfg.db_path) as db:
        ((chat_hash, lang),) = db.execute("SELECT chat_hash, lang FROM chat_state").fetchall()
    assert lang == LANG_EN and str(USER_ID) not in chat_hash  # keyed by the salted hash


async def test_unknown_command(bot: Bot) -> None:
    await bot.say("/frobnicate")
    assert bot.one().text == replies.text("unknown_command", LANG_HANS)


# --- questions ------------------------------------------------------------------------------


async def test_clear_question_is_answered_with_footer_related_and_feedback(bot: Bot) -> None:
    await bot.say("门诊看病怎么报销")
    sent = bot.one()
    assert sent.text == (
        "<b>门诊看病怎么报销？</b>\n\n门诊费用在定点医疗机构直接结算。\n个人只需支付自付部分。"
        "\n\n<i>来源：市医保局 2026 年门诊待遇通知　更新：2026-01-10</i>"
    )
    (query_id, status, entry_id, channel), *_ = await bot.rows(
        "SELECT query_id, status, entry_id, channel FROM queries"
    )
    assert (status, entry_id, channel) == ("answered", "outpatient-reimbursement", "telegram")
    assert sent.decoded(bot.secret) == [
        Button("住院费用怎么报销？", replies.ACT_ENTRY, "inpatient-reimbursement"),
        Button("👍 有帮助", replies.ACT_HELPFUL, "outpatient-reimbursement", query_id),
        Button("👎 没帮助", replies.ACT_UNHELPFUL, "outpatient-reimbursement", query_id),
    ]

    await bot.press_label(sent, "👍 有帮助")
    assert bot.one().text == replies.text("thanks_helpful", LANG_HANS)
    assert await bot.rows("SELECT query_id, helpful FROM feedback") == [(query_id, 1)]
    await bot.press_label(sent, "👎 没帮助")
    assert bot.one().text == replies.esc(replies.text("thanks_unhelpful", LANG_HANS))
    assert await bot.rows("SELECT query_id, helpful FROM feedback") == [(query_id, 0)]


async def test_english_question_gets_the_translation(bot: Bot) -> None:
    await bot.say("/start", lang="en")
    await bot.say("Is the cervical and breast cancer screening free?", lang="en")
    sent = bot.one()
    assert sent.text.startswith("<b>Is the cervical and breast cancer screening free?</b>")
    assert "Source: " in sent.text


async def test_ambiguous_question_then_pick(bot: Bot) -> None:
    await bot.say("打疫苗要预约吗")
    sent = bot.one()
    # the question, then the emergency numbers: a missed emergency still shows them
    assert sent.text == "您是想问：\n\n紧急情况请立即拨打 120；心理危机求助请拨打 12356。"
    buttons = sent.decoded(bot.secret)
    ((query_id,),) = await bot.rows("SELECT query_id FROM queries WHERE status = 'ambiguous'")
    assert [(b.label, b.action, b.arg, b.query_id) for b in buttons] == [
        ("儿童疫苗接种怎么预约？", replies.ACT_PICK, "child-vaccine-booking", query_id),
        ("成人疫苗接种怎么预约？", replies.ACT_PICK, "adult-vaccine-booking", query_id),
        ("都不是", replies.ACT_NONE, "", query_id),
    ]
    await bot.press_label(sent, "成人疫苗接种怎么预约？")
    assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
    answer = bot.one()
    assert answer.text.startswith("<b>成人疫苗接种怎么预约？</b>\n\n成人疫苗在社区卫生服务中心")
    # the answer's feedback belongs to the same logged question
    assert {b.query_id for b in answer.decoded(bot.secret) if b.action == replies.ACT_HELPFUL} == {query_id}
    assert await bot.rows("SELECT query_id, entry_id FROM choices") == [(query_id, "adult-vaccine-booking")]


async def test_a_rating_stays_with_the_entry_it_was_given_on(bot: Bot) -> None:
    await bot.say("打疫苗要预约吗")
    did_you_mean = bot.one()
    ((query_id,),) = await bot.rows("SELECT query_id FROM queries")
    await bot.press_label(did_you_mean, "儿童疫苗接种怎么预约？")
    child = bot.one()
    await bot.press_label(child, "👎 没帮助")
    # then another entry from the same "did you mean": the 👎 is not charged to it
    await bot.press_label(did_you_mean, "成人疫苗接种怎么预约？")
    adult = bot.one()
    await bot.press_label(adult, "👍 有帮助")
    assert await bot.rows("SELECT query_id, entry_id, helpful FROM feedback ORDER BY entry_id") == [
        (query_id, "adult-vaccine-booking", 1),
        (query_id, "child-vaccine-booking", 0),
    ]


async def test_only_the_resident_who_asked_can_rate_or_choose(bot: Bot) -> None:
    group = {"chat_id": GROUP_ID}
    await bot.say(f"@{BOT_USERNAME} 打疫苗要预约吗", **group)
    did_you_mean = bot.one()
    other = {"user_id": 2002, "chat_id": GROUP_ID}
    await bot.press_label(did_you_mean, "都不是", **other)
    # told privately (an alert on the button), nothing posted to the group, nothing recorded
    assert bot.methods() == ["answerCallbackQuery"]
    (_, alert), = bot.fake.calls
    assert alert["text"] == replies.text("not_yours", LANG_HANS) and alert["show_alert"] is True
    await bot.press_label(did_you_mean, "成人疫苗接种怎么预约？", chat_id=GROUP_ID)  # the asker
    answer = bot.one()
    await bot.press_label(answer, "👍 有帮助", **other)
    assert bot.methods() == ["answerCallbackQuery"]
    await bot.press_label(answer, "👎 没帮助", chat_id=GROUP_ID)
    assert await bot.rows("SELECT entry_id, helpful FROM feedback") == [("adult-vaccine-booking", 0)]
    assert await bot.rows("SELECT entry_id FROM choices") == [("adult-vaccine-booking",)]
    # browsing buttons are anyone's
    await bot.say("/topics", **group)
    await bot.press_label(bot.one(), "医保与报销", **other)
    assert "医保与报销" in bot.one().text


async def test_an_entry_reached_by_browsing_can_be_rated(bot: Bot) -> None:
    await bot.say("/topics")
    await bot.press_label(bot.one(), "医保与报销")
    await bot.press_label(bot.one(), "住院费用怎么报销？")
    entry = bot.one()
    await bot.press_label(entry, "👍 有帮助")
    assert bot.one().text == replies.text("thanks_helpful", LANG_HANS)
    ((view_id, entry_id, helpful),) = await bot.rows("SELECT query_id, entry_id, helpful FROM feedback")
    assert (entry_id, helpful) == ("inpatient-reimbursement", 1)
    assert await bot.rows("SELECT * FROM queries") == []  # browsing is not a question
    assert len(view_id) == 10


async def test_none_of_these(bot: Bot) -> None:
    await bot.say("疫苗怎么预约")
    sent = bot.one()
    await bot.press_label(sent, "都不是")
    reply = bot.one()
    assert reply.text == replies.none_of_these(LANG_HANS).html
    assert "12345" in reply.text and "12320" in reply.text
    ((query_id,),) = await bot.rows("SELECT query_id FROM queries")
    assert await bot.rows("SELECT query_id, entry_id FROM choices") == [(query_id, None)]


async def test_unanswered_question(bot: Bot) -> None:
    await bot.say("外星人生病了怎么办")
    sent = bot.one()
    assert sent.text == replies.unanswered(LANG_HANS).html
    assert "12345" in sent.text and "12320" in sent.text
    assert sent.decoded(bot.secret) == [Button("按主题浏览", replies.ACT_TOPICS)]
    assert await bot.rows("SELECT text, status FROM queries") == [("外星人生病了怎么办", "unanswered")]


async def test_emergency_reply_comes_first_and_alone(bot: Bot) -> None:
    await bot.say("我胸口剧痛喘不上气")
    assert bot.methods() == ["sendMessage"]  # nothing before it (no typing action), nothing after
    sent = bot.one()
    assert sent.text == "这可能是急症，请立即拨打 120 急救电话。"
    assert "reply_markup" not in sent.params


async def test_html_in_user_and_knowledge_text_is_escaped(bot: Bot) -> None:
    await bot.say("<b>两癌筛查</b>免费吗")
    sent = bot.one()
    assert "&lt;不需要&gt;预约 &amp; 排队" in sent.text  # knowledge text: < > & escaped
    assert "市妇幼保健院 &amp; 市卫健委" in sent.text
    assert "<不需要>" not in sent.text
    await bot.say("<b>外星人</b>怎么办")
    assert "<b>外星人" not in bot.one().text
    assert await bot.rows("SELECT text FROM queries ORDER BY at") == [
        ("<b>两癌筛查</b>免费吗",),
        ("<b>外星人</b>怎么办",),
    ]


async def test_long_reply_is_split_on_paragraphs_with_buttons_last(bot: Bot) -> None:
    para = "医保" * 1500  # 3000 characters
    reply = Reply(f"<b>标题</b>\n\n{para}\n\n{para}", ((Button("按主题浏览", replies.ACT_TOPICS),),))
    bot.clear()
    await send_reply(bot.app.bot, USER_ID, reply, bot.secret)
    first, second = bot.sent()
    assert first.text == f"<b>标题</b>\n\n{para}"
    assert second.text == para
    assert "reply_markup" not in first.params and second.buttons


async def test_long_knowledge_answer_is_split(tmp_path: Path, kb_dir: Path) -> None:
    paragraphs = "\n\n".join(f"第{i}段：" + "参保人员可以在定点医院报销。" * 14 for i in range(20))
    assert 3900 < len(paragraphs) <= 4096
    (kb_dir / "long.yaml").write_text(
        "category: {id: long, title: 长答案}\nentries:\n"
        "  - id: long-answer\n    question: 异地就医备案流程是什么？\n    keywords: [异地, 备案]\n"
        "    source: 市医保局\n    updated: 2026-01-01\n    answer: |\n"
        + "".join(f"      {line}\n" if line else "\n" for line in paragraphs.split("\n")),
        encoding="utf-8",
    )
    async with running_bot(make_config(tmp_path, kb_dir)) as b:
        await b.say("异地就医备案流程是什么")
        parts = b.sent()
    assert len(parts) == 2 and all(len(p.text) <= 4096 for p in parts)
    assert parts[0].text.startswith("<b>异地就医备案流程是什么？</b>")
    assert parts[-1].text.endswith("更新：2026-01-01</i>")
    assert not parts[0].buttons and parts[-1].buttons


async def test_edited_message_is_answered_as_a_new_question(bot: Bot) -> None:
    await bot.say("外星人生病")
    edited = bot.message("怎么在网上预约挂号", edit_date=int(dt.datetime.now().timestamp()))
    await bot.feed({"edited_message": edited})
    sent = bot.one()
    assert "健康城市" in sent.text
    assert sent.params["reply_parameters"]["message_id"] == edited["message_id"]
    assert [r[0] for r in await bot.rows("SELECT status FROM queries ORDER BY at")] == [
        "unanswered",
        "answered",
    ]


@pytest.mark.parametrize(
    "media",
    [
        {"photo": [{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]},
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "su",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        },
        {"voice": {"file_id": "v", "file_unique_id": "vu", "duration": 3}},
        {"location": {"latitude": 31.2, "longitude": 121.5}},
    ],
)
async def test_non_text_messages(bot: Bot, media: dict[str, Any]) -> None:
    await bot.feed({"message": bot.message(None, **media)})
    assert bot.one().text == replies.text("non_text", LANG_HANS)


async def test_a_photo_with_a_question_in_its_caption_is_answered(bot: Bot) -> None:
    photo = [{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]
    await bot.feed({"message": bot.message(None, photo=photo, caption="怎么在网上预约挂号")})
    assert "健康城市" in bot.one().text
    # in a group only when addressed, like text
    await bot.feed({"message": bot.message(None, photo=photo, caption="怎么在网上预约挂号", chat_id=GROUP_ID)})
    assert bot.fake.calls == []
    caption = f"@{BOT_USERNAME} 怎么在网上预约挂号"
    entity = {"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}
    await bot.feed({"message": bot.message(None, photo=photo, caption=caption, caption_entities=[entity],
                                           chat_id=GROUP_ID)})
    assert "健康城市" in bot.one().text
    assert [r[0] for r in await bot.rows("SELECT text FROM queries")] == ["怎么在网上预约挂号"] * 2


async def test_lone_surrogates_and_control_characters_are_dropped_at_the_door(bot: Bot) -> None:
    # a lone surrogate could not be encoded: no reply and no log row before
    await bot.say("怎么在网上\ud800预约\x00挂号\x1b")
    assert "健康城市" in bot.one().text
    assert await bot.rows("SELECT text FROM queries") == [("怎么在网上预约挂号",)]


# --- the per-user limit -----------------------------------------------------------------------


async def test_one_resident_flooding_is_told_once_and_not_logged(bot: Bot) -> None:
    for i in range(23):
        await bot.say(f"怎么在网上预约挂号{i}")
    # 20 answered; the 21st told to slow down; the 22nd and 23rd: nothing
    texts = [s.text for s in bot.sent()]  # only the last update's messages are kept
    assert texts == []
    assert bot.app.bot_data.flood.held_back == 3
    assert len(await bot.rows("SELECT * FROM queries")) == 20
    # an emergency always gets through
    await bot.say("我不想活了")
    assert "12356" in bot.one().text
    # another resident is not affected
    await bot.say("怎么在网上预约挂号", user_id=2002)
    assert "健康城市" in bot.one().text
    # staff see the count
    await bot.say("/stats", user_id=STAFF_ID)
    assert "超出每人限额未回答: 3" in bot.one().text


async def test_the_slow_down_reply_is_sent_once(bot: Bot) -> None:
    replies_seen = []
    for i in range(22):
        await bot.say(f"门诊看病怎么报销{i}")
        replies_seen.append([s.text for s in bot.sent()])
    assert all(len(r) == 1 for r in replies_seen[:20])
    assert replies_seen[20] == [replies.text("slow_down", LANG_HANS)]
    assert replies_seen[21] == []


# --- groups ---------------------------------------------------------------------------------


async def test_group_answers_only_when_addressed(bot: Bot) -> None:
    group = {"chat_id": GROUP_ID}
    await bot.say("怎么在网上预约挂号", **group)
    assert bot.fake.calls == []  # chatter is ignored
    await bot.feed(
        {
            "message": bot.message(
                None, photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}], **group
            )
        }
    )
    assert bot.fake.calls == []
    await bot.say("/start@SomeOtherBot", **group)
    assert bot.fake.calls == []

    await bot.say("/ask 怎么在网上预约挂号", **group)
    assert "健康城市" in bot.one().text
    await bot.say(f"/ask@{BOT_USERNAME} 怎么在网上预约挂号", **group)
    assert "健康城市" in bot.one().text
    await bot.say(f"@{BOT_USERNAME} 门诊看病怎么报销", **group)
    sent = bot.one()
    assert "门诊费用" in sent.text and "reply_parameters" in sent.params
    await bot.say("那住院费用怎么报销", reply_to_bot=True, **group)
    assert "出院时" in bot.one().text
    await bot.say("/ask", **group)
    assert bot.one().text == replies.text("ask_usage", LANG_HANS)
    await bot.say(f"/nope@{BOT_USERNAME}", **group)
    assert bot.one().text == replies.text("unknown_command", LANG_HANS)
    texts = [r[0] for r in await bot.rows("SELECT text FROM queries ORDER BY at")]
    assert texts == ["怎么在网上预约挂号", "怎么在网上预约挂号", "门诊看病怎么报销", "那住院费用怎么报销"]


async def test_ask_in_private(bot: Bot) -> None:
    await bot.say("/ask 怎么在网上预约挂号")
    assert "健康城市" in bot.one().text
    await bot.say("/ask")
    assert bot.one().text == replies.text("ask_usage", LANG_HANS)


# --- buttons that must not work -------------------------------------------------------------


async def test_forged_malformed_and_outdated_buttons(bot: Bot) -> None:
    await bot.say("疫苗怎么预约")
    ((query_id,),) = await bot.rows("SELECT query_id FROM queries")
    pick = callback_data.encode(Button("", replies.ACT_PICK, "child-vaccine-booking", query_id), bot.secret)
    forged = pick.replace("child-vaccine-booking", "adult-vaccine-booking")
    other_key = callback_data.encode(
        Button("", replies.ACT_HELPFUL, "child-vaccine-booking", query_id), callback_data.derive_secret("x")
    )
    gone = callback_data.encode(Button("", replies.ACT_PICK, "removed-entry", query_id), bot.secret)
    gone_feedback = callback_data.encode(Button("", replies.ACT_UNHELPFUL, "removed-entry", query_id), bot.secret)
    gone_category = callback_data.encode(Button("", replies.ACT_CATEGORY, "removed"), bot.secret)
    for data in (forged, other_key, "garbage", "p|x|y|z", "", gone, gone_feedback, gone_category):
        await bot.press(data)
        assert bot.methods() == ["answerCallbackQuery", "sendMessage"]
        assert bot.one().text == replies.text("expired", LANG_HANS)
    assert await bot.rows("SELECT * FROM choices") == []
    assert await bot.rows("SELECT * FROM feedback") == []


# --- staff ----------------------------------------------------------------------------------


async def test_staff_commands_refused_for_others(bot: Bot) -> None:
    for command in ("/stats", "/unanswered", "/reload"):
        await bot.say(command)
        assert bot.one().text == replies.text("unknown_command", LANG_HANS)
    rows = await bot.rows("SELECT command FROM staff_attempts ORDER BY id")
    assert rows == [("/stats",), ("/unanswered",), ("/reload",)]


async def test_stats_and_unanswered_for_staff(bot: Bot) -> None:
    await bot.say("外星人生病了怎么办")
    await bot.say("外星人生病了怎么办啊")
    await bot.say("怎么在网上预约挂号")
    sent = bot.one()
    await bot.press_label(sent, "👎 没帮助")
    await bot.say("/stats", user_id=STAFF_ID)
    text = bot.one().text
    assert "<b>Today 今天</b>\ntotal 总数: 3\nanswered 已回答: 1 (33%)\n" in text
    assert "unanswered 未回答: 2 (67%)" in text
    assert "👍 helpful 有帮助: 0　👎 unhelpful 没帮助: 1" in text
    assert "<b>Last 7 days 近7天</b>\ntotal 总数: 3" in text
    await bot.say("/unanswered", user_id=STAFF_ID)
    text = bot.one().text
    assert "1. (2×) 外星人生病了怎么办" in text
    assert await bot.rows("SELECT * FROM staff_attempts") == []


async def test_staff_commands_in_a_group_only_ask_for_a_private_chat(bot: Bot) -> None:
    await bot.say("外星人生病了怎么办")
    for command in ("/stats", f"/unanswered@{BOT_USERNAME}", "/reload"):
        await bot.say(command, user_id=STAFF_ID, chat_id=GROUP_ID)
        sent = bot.one()
        assert sent.text == replies.text("private_only", LANG_HANS)  # one line, no figures
    # still a private chat's command
    await bot.say("/stats", user_id=STAFF_ID)
    assert "total 总数: 1" in bot.one().text


def _without_entities(message: dict[str, Any]) -> dict[str, Any]:
    message.pop("entities", None)
    return message


async def test_commands_are_read_without_a_command_entity(bot: Bot) -> None:
    # some clients send "/stats" as plain text: it is still the command, never a question
    await bot.feed({"message": _without_entities(bot.message("/stats", user_id=STAFF_ID))})
    assert "total 总数: 0" in bot.one().text
    await bot.feed({"message": _without_entities(bot.message("/ask 怎么在网上预约挂号"))})
    assert "健康城市" in bot.one().text
    await bot.feed({"message": _without_entities(bot.message("/stats"))})
    assert bot.one().text == replies.text("unknown_command", LANG_HANS)
    await bot.feed({"message": _without_entities(bot.message("/help@SomeOtherBot", chat_id=GROUP_ID))})
    assert bot.fake.calls == []
    assert await bot.rows("SELECT text FROM queries") == [("怎么在网上预约挂号",)]
    assert await bot.rows("SELECT command FROM staff_attempts") == [("/stats",)]


async def test_a_damaged_log_is_replaced_and_staff_are_told(tmp_path: Path, kb_dir: Path) -> None:
    cfg = make_config(tmp_path, kb_dir)
    cfg.db_path.parent.mkdir(parents=True)
    cfg.db_path.write_bytes(b"garbage, not SQLite" * 50)
    async with running_bot(cfg) as b:
        told = [p for name, p in b.fake.calls if name == "sendMessage"]
        assert [int(p["chat_id"]) for p in told] == [STAFF_ID]
        assert "moved aside" in told[0]["text"] and ".damaged-" in told[0]["text"]
        await b.say("怎么在网上预约挂号")  # residents are served and logged in the new file
        assert "健康城市" in b.one().text
        assert await b.rows("SELECT text FROM queries") == [("怎么在网上预约挂号",)]


async def test_staff_hear_storage_problems_in_staff_words(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    querylog = bot.service.querylog
    assert querylog is not None

    async def unreadable(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("disk I/O error")

    monkeypatch.setattr(querylog, "stats", unreadable)
    monkeypatch.setattr(querylog, "unanswered_groups", unreadable)
    for command in ("/stats", "/unanswered"):
        await bot.say(command, user_id=STAFF_ID)
        text = bot.one().text
        assert text.startswith("query log unreadable: DatabaseError: disk I/O error"), text
        assert replies.text("error", LANG_HANS) not in text


async def test_reload_reports_errors_and_keeps_serving(bot: Bot, kb_dir: Path) -> None:
    version = bot.service.kb.version
    broken = kb_dir / "booking.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("updated: 2026-03-01", "updated: 2026-13-45"),
        encoding="utf-8",
    )
    await bot.say("/reload", user_id=STAFF_ID)
    text = bot.one().text
    assert text.startswith(f"reload refused: 1 error(s); still serving version {version}\n")
    assert f"{broken}:" in text and "updated" in text
    await bot.say("怎么在网上预约挂号")
    assert "健康城市" in bot.one().text

    broken.write_text(
        broken.read_text(encoding="utf-8").replace("2026-13-45", "2026-03-02"), encoding="utf-8"
    )
    await bot.say("/reload", user_id=STAFF_ID)
    assert bot.one().text == f"reloaded: 6 entries, version {bot.service.kb.version}"
    assert bot.service.kb.version != version


async def test_refused_hot_reload_tells_every_staff_member(bot: Bot, kb_dir: Path) -> None:
    context = CallbackContext(bot.app)
    version = bot.service.kb.version
    (kb_dir / "safety.yaml").write_text("kinds: []\nrules: []\n", encoding="utf-8")  # the net switched off
    bot.clear()
    await reload_job(context)
    assert bot.service.kb.version == version  # refused: the old safety net keeps serving
    (sent,) = bot.sent()
    assert int(sent.params["chat_id"]) == STAFF_ID
    assert sent.text.startswith(f"reload refused: 2 error(s); still serving version {version}\n")
    assert "defines no 'medical' kind" in sent.text  # quotes are not escaped in message text
    await bot.say("我胸口剧痛喘不上气")
    assert "120" in bot.one().text


async def test_hot_reload_and_purge_jobs(bot: Bot, kb_dir: Path) -> None:
    context = CallbackContext(bot.app)
    version = bot.service.kb.version
    (kb_dir / "insurance.yaml").write_text("category: [broken\n", encoding="utf-8")
    await reload_job(context)
    assert bot.service.kb.version == version  # a broken edit keeps the old knowledge
    (kb_dir / "insurance.yaml").unlink()
    await reload_job(context)
    assert "outpatient-reimbursement" not in bot.service.kb.entries
    await bot.say("怎么在网上预约挂号")
    await purge_job(context)  # 180 days: today's question stays
    assert len(await bot.rows("SELECT * FROM queries")) == 1


# --- errors and logs ------------------------------------------------------------------------


async def test_error_handler_tells_the_user(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr(bot.service, "ask", broken)
    await bot.say("怎么在网上预约挂号", lang="en")
    assert bot.one().text == replies.esc(replies.text("error", LANG_EN))


async def test_token_never_appears_in_logs(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"request to https://api.telegram.org/bot{TOKEN}/sendMessage failed")

    monkeypatch.setattr(bot.service, "ask", broken)
    await bot.say("怎么在网上预约挂号")
    logging.getLogger("policybot.test").warning("url %s", f"/bot{TOKEN.replace(':', '%3A')}/getMe")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    await bot.say("/start")
    assert "RuntimeError" in caplog.text and "[token]" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    for record in caplog.records:
        assert TOKEN.split(":")[1] not in record.getMessage()
        assert TOKEN.split(":")[1] not in (record.exc_text or "")
    assert not [r for r in caplog.records if r.name == "httpx" and r.levelno < logging.WARNING]


async def test_no_user_id_or_question_in_logs_even_at_debug(
    tmp_path: Path, kb_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # python-telegram-bot logs whole updates and API parameters at DEBUG
    saved = {n: logging.getLogger(n).level for n in ("telegram", "httpcore", "apscheduler", "aiosqlite", "httpx")}
    caplog.set_level(logging.DEBUG)
    try:
        async with running_bot(make_config(tmp_path, kb_dir)) as b:
            await b.say("我的医保卡丢了怎么补办", user_id=987654321)
            assert b.sent()
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    assert caplog.records  # DEBUG was on
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert "987654321" not in text and "医保卡丢了" not in text, (record.name, text)


async def test_jobs_are_scheduled(tmp_path: Path, kb_dir: Path) -> None:
    cfg = make_config(tmp_path, kb_dir, reload_interval=5)
    app = build_application(cfg, request=FakeTelegram(), get_updates_request=FakeTelegram())
    await app.initialize()
    await post_init(app)
    assert app.job_queue is not None
    jobs = {job.name: job for job in app.job_queue.jobs()}
    assert set(jobs) == {"reload", "purge"}
    await app.shutdown()
    await post_shutdown(app)


# --- the real knowledge base ----------------------------------------------------------------

async def test_real_knowledge_base(tmp_path: Path, real_knowledge: LoadResult, shared_matchers: None) -> None:
    result = real_knowledge
    if result.kb is None:
        pytest.skip(f"knowledge/ has {len(result.errors)} error(s); `python -m policybot check` reports them")
    async with running_bot(make_config(tmp_path, REAL_KNOWLEDGE)) as b:
        await b.say("/start")
        welcome = b.one().decoded(b.secret)
        assert [x.arg for x in welcome[:-1]] == list(EXAMPLE_ENTRIES)  # all three examples exist
        await b.say("我胸口剧痛喘不上气")
        emergency = b.one()
        assert "120" in emergency.text and "reply_markup" not in emergency.params
        # every category and every entry gets its button: no id is too long for callback data
        await b.say("/topics")
        categories = b.one().decoded(b.secret)
        assert len(categories) == len(result.kb.categories)
        shown: list[str] = []
        for category in categories:
            await b.press(callback_data.encode(category, b.secret))
            shown += [x.arg for x in b.one().decoded(b.secret) if x.action == replies.ACT_ENTRY]
        assert sorted(shown) == sorted(result.kb.entries)


def test_run_refuses_to_start_with_broken_knowledge(
    tmp_path: Path, kb_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import policybot.bot.app as app_module

    real_build = app_module.build_application
    monkeypatch.setattr(
        app_module,
        "build_application",
        lambda cfg: real_build(cfg, request=FakeTelegram(), get_updates_request=FakeTelegram()),
    )
    broken = kb_dir / "booking.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("updated: 2026-03-01", "updated: soon"))
    assert app_module.run(make_config(tmp_path, kb_dir)) == 1
    err = capsys.readouterr().err
    assert f"{broken}:" in err and "cannot start: the knowledge base" in err


async def test_out_of_scope_gets_its_own_reply_and_stays_out_of_the_gaps(bot: Bot) -> None:
    await bot.say("红烧肉怎么做")
    text = bot.one().text
    assert text.startswith("这个问题不在卫生健康政策的范围内") and "12345" in text and "12356" in text
    await bot.say("外星人生病了怎么办")  # a word of the subject: a gap the editors must see
    assert bot.one().text.startswith("抱歉")
    assert await bot.rows("SELECT text, status FROM queries ORDER BY at") == [
        ("红烧肉怎么做", "out_of_scope"),
        ("外星人生病了怎么办", "unanswered"),
    ]
    await bot.say("/unanswered", user_id=STAFF_ID)
    text = bot.one().text
    assert "外星人生病了怎么办" in text and "红烧肉" not in text
