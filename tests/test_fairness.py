"""No chat waits on another: concurrent updates in per-chat order, emergencies first past the
send limit, and a per-user limit on questions. Through the real Application with a fake Bot
API transport (the end-to-end load test over HTTP is in tests/e2e)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from policybot.bot.app import build_application, post_init, post_shutdown
from policybot.bot.fairness import FloodGate
from tests.test_handlers import FakeTelegram, make_config

CRISIS = "我不想活了"


class SlowTelegram(FakeTelegram):
    """tests/test_handlers.FakeTelegram, where replies to chats in `slow` take `delay` seconds;
    records (chat, text, seconds since t0) for every message sent."""

    def __init__(self, slow: set[int] | None = None, delay: float = 0.0) -> None:
        super().__init__()
        self.slow, self.delay = slow or set(), delay
        self.sent: list[tuple[int, str, float]] = []
        self.t0 = time.perf_counter()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.endswith("/sendMessage") and request_data is not None:
            params = request_data.parameters
            chat = int(str(params["chat_id"]))
            await asyncio.sleep(self.delay if chat in self.slow else 0)
            self.sent.append((chat, str(params["text"]), time.perf_counter() - self.t0))
        return await super().do_request(url, method, request_data, *args, **kwargs)


def _update(n: int, user: int, text: str, app: Any) -> Update:
    message = {"message_id": n, "date": int(time.time()), "chat": {"id": user, "type": "private"},
               "from": {"id": user, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"},
               "text": text}
    return Update.de_json({"update_id": n, "message": message}, app.bot)


async def _started(tmp_path: Path, kb_dir: Path, fake: BaseRequest, **config: Any) -> Any:
    cfg = make_config(tmp_path, kb_dir, **config)
    app = build_application(cfg, request=fake, get_updates_request=FakeTelegram())
    await app.initialize()
    await post_init(app)
    await app.start()
    return app


async def _stop(app: Any) -> None:
    await app.stop()
    await app.shutdown()
    await post_shutdown(app)


async def test_a_slow_chat_does_not_delay_others_and_each_chat_keeps_its_order(tmp_path: Path, kb_dir: Path) -> None:
    fake = SlowTelegram(slow={1}, delay=0.3)
    app = await _started(tmp_path, kb_dir, fake)
    fake.t0 = time.perf_counter()
    questions = ["怎么在网上预约挂号", "门诊看病怎么报销", "那住院费用怎么报销"]
    for n, q in enumerate(questions, 1):
        app.update_queue.put_nowait(_update(n, 1, q, app))  # the slow chat first
    app.update_queue.put_nowait(_update(9, 2, "怎么在网上预约挂号", app))
    await app.update_queue.join()
    await _stop(app)
    order = [chat for chat, _, _ in fake.sent]
    assert order[0] == 2  # not behind chat 1's three slow replies
    first_of_2 = next(t for chat, _, t in fake.sent if chat == 2)
    assert first_of_2 < 0.3
    texts_of_1 = [text for chat, text, _ in fake.sent if chat == 1]
    assert "健康城市" in texts_of_1[0] and "门诊费用" in texts_of_1[1] and "出院时" in texts_of_1[2]


async def test_an_emergency_goes_out_first_past_the_send_limit(tmp_path: Path, kb_dir: Path) -> None:
    fake = SlowTelegram()
    app = await _started(tmp_path, kb_dir, fake)  # Telegram's limit: 30 messages a second
    fake.t0 = time.perf_counter()
    backlog = 75  # 2.5 s of sending for everyone else
    for n in range(backlog):
        app.update_queue.put_nowait(_update(n + 1, 1000 + n, "怎么在网上预约挂号", app))
    app.update_queue.put_nowait(_update(999, 42, CRISIS, app))
    await app.update_queue.join()
    await _stop(app)
    crisis_at = next(t for chat, _, t in fake.sent if chat == 42)
    last_at = max(t for chat, _, t in fake.sent if chat != 42)
    assert len(fake.sent) == backlog + 1
    assert "12356" in next(text for chat, text, _ in fake.sent if chat == 42)
    assert crisis_at < 1.0 < last_at
    later = [t for chat, _, t in fake.sent if chat != 42 and t > crisis_at]
    assert len(later) >= backlog - 35  # queued before it, sent after it


def test_flood_gate_window() -> None:
    gate = FloodGate(3, window=60)
    assert [gate.allow(7, now=t) for t in (0, 1, 2, 3, 4)] == [True, True, True, False, False]
    assert [gate.hold(7, now=3), gate.hold(7, now=4)] == ["warn", "drop"]
    assert gate.allow(8, now=5)  # per user
    assert gate.allow(7, now=61)  # the oldest left the window
    assert gate.held_back == 2
    assert FloodGate(0).allow(7)  # 0 = no limit
