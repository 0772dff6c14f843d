"""A resident talks to the real bot over HTTP, through the npm Bot API emulator.

The bot is built exactly as in production (build_application + polling); only its API base
URL points at tests/e2e/harness.Bridge, which smooths the emulator's gaps. The resident uses
the emulator's client API, so what is asserted is what a Telegram client would receive.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from policybot import replies
from policybot.bot.app import build_application
from policybot.config import Config
from policybot.model import LANG_HANS
from tests.e2e.harness import Bridge, Emulator, Resident, buttons, polling, text_of

pytestmark = pytest.mark.e2e

TOKEN = "424242:E2E-test-token_only-for-the-emulator"


async def test_resident_conversation(emulator: Emulator, kb_dir: Path, tmp_path: Path) -> None:
    db_path = tmp_path / "log.sqlite3"
    async with asyncio.timeout(45), Bridge(emulator.url) as bridge:
        cfg = Config(
            token=TOKEN,
            api_base_url=bridge.url,
            knowledge_dir=kb_dir,
            db_path=db_path,
            hash_salt="e2e-salt",
            reload_interval=0,
        )
        resident = Resident(emulator.url, TOKEN)
        try:
            async with polling(build_application(cfg)):
                # 1. /start: welcome, emergency numbers, example questions
                await resident.send("/start")
                (welcome,) = await resident.replies()
                assert welcome["message"]["parse_mode"] == "HTML"
                assert "您好！我是卫生健康政策咨询助手。" in text_of(welcome)
                assert "紧急情况请立即拨打 120；心理危机求助请拨打 12356。" in text_of(welcome)
                assert [row[0]["text"] for row in buttons(welcome)] == [
                    "怎么在网上预约挂号？",
                    "两癌筛查免费吗？",
                    "门诊看病怎么报销？",
                    "按主题浏览",
                ]

                # 2. a clear question: the answer with its source and feedback buttons
                await resident.send("怎么在网上预约挂号")
                (answer,) = await resident.replies()
                assert text_of(answer) == (
                    "<b>怎么在网上预约挂号？</b>\n\n"
                    "可通过“健康城市”公众号或医院官网预约挂号，可预约未来 7 天的号源。\n\n"
                    "<i>来源：市卫健委便民服务指南　更新：2026-03-01</i>"
                )
                assert [b["text"] for b in buttons(answer)[-1]] == ["👍 有帮助", "👎 没帮助"]

                # 3. an ambiguous question: "did you mean"
                await resident.send("打疫苗要预约吗？")
                (did_you_mean,) = await resident.replies()
                # the question, then the emergency numbers: a missed emergency still shows them
                assert text_of(did_you_mean) == "您是想问：\n\n" + replies.esc(replies.text("emergency_line", LANG_HANS))
                labels = [row[0]["text"] for row in buttons(did_you_mean)]
                assert "儿童疫苗接种怎么预约？" in labels and labels[-1] == "都不是"

                # 4. she picks the children's entry
                await resident.press(did_you_mean, "儿童疫苗接种怎么预约？")
                (chosen,) = await resident.replies()
                assert text_of(chosen).startswith(
                    "<b>儿童疫苗接种怎么预约？</b>\n\n在社区卫生服务中心的预防接种门诊预约，带好接种证。"
                )

                # 5. and finds it not helpful
                await resident.press(chosen, "👎 没帮助")
                (thanks,) = await resident.replies()
                assert text_of(thanks) == replies.esc(replies.text("thanks_unhelpful", LANG_HANS))
                assert "12345" in text_of(thanks)

                assert bridge.calls.count("answerCallbackQuery") == 2
                assert "setMyCommands" in bridge.calls
        finally:
            await resident.aclose()

    # the bot has shut down: its query log is flushed and closed
    with sqlite3.connect(db_path) as db:
        queries = db.execute("SELECT query_id, text, status, channel FROM queries ORDER BY at").fetchall()
        assert [(q[1], q[2], q[3]) for q in queries] == [
            ("怎么在网上预约挂号", "answered", "telegram"),
            ("打疫苗要预约吗？", "ambiguous", "telegram"),
        ]
        ambiguous_id = queries[1][0]
        assert db.execute("SELECT query_id, entry_id FROM choices").fetchall() == [
            (ambiguous_id, "child-vaccine-booking")
        ]
        assert db.execute("SELECT query_id, helpful FROM feedback").fetchall() == [(ambiguous_id, 0)]
