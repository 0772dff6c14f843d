"""No chat waits on another: updates run concurrently, each chat's in order, emergencies first.

- `PerChatOrder` (python-telegram-bot's update processor): updates of different chats are
  handled at the same time; one chat's updates one after another, in the order they came. A
  message the safety net calls an emergency skips its chat's queue.
- `PriorityRateLimiter`: Telegram's send limits (python-telegram-bot's `AIORateLimiter`),
  except for a reply sent inside `priority()`: an emergency reply never waits behind other
  chats' messages for the bot-wide limit.
- `FloodGate`: a per-user limit on questions (default 20 a minute). The first question over the
  limit gets one "please slow down"; the rest are counted, neither answered nor logged as
  questions. Emergencies always pass.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from telegram import Update
from telegram.ext import AIORateLimiter, BaseUpdateProcessor

# Set while an emergency reply is being sent (a context variable follows the awaits of its task).
_PRIORITY: contextvars.ContextVar[bool] = contextvars.ContextVar("policybot_priority", default=False)


@contextlib.contextmanager
def priority() -> Iterator[None]:
    token = _PRIORITY.set(True)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


class PriorityRateLimiter(AIORateLimiter):
    """Telegram's limits for every request but those sent inside `priority()`."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if _PRIORITY.get():
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class PerChatOrder(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat; `urgent(update)` jumps the chat's queue."""

    def __init__(self, urgent: Callable[[Update], bool] | None = None, max_concurrent_updates: int = 4096) -> None:
        super().__init__(max_concurrent_updates)
        self.urgent = urgent
        self._tails: dict[int, asyncio.Future[None]] = {}  # chat -> the last update's "done"

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        previous = self._tails.get(chat.id)
        # only a chat with a queue needs to know: an emergency skips it
        if previous is not None and self.urgent is not None and isinstance(update, Update) and self.urgent(update):
            await coroutine
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[chat.id] = done
        try:
            if previous is not None:
                await previous
            await coroutine
        finally:
            done.set_result(None)
            if self._tails.get(chat.id) is done:
                del self._tails[chat.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class FloodGate:
    """At most `limit` questions per user in any `window` seconds (limit 0: no limit)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.held_back = 0  # questions neither answered nor logged since start
        self._times: dict[int, collections.deque[float]] = {}
        self._warned: dict[int, float] = {}  # user -> when they were told to slow down

    def allow(self, user: int, now: float | None = None) -> bool:
        """May `user` ask now? (A question allowed counts towards the limit.)"""
        if self.limit <= 0:
            return True
        now = time.monotonic() if now is None else now
        if len(self._times) > 10_000:
            self.forget_idle(now)
        times = self._times.setdefault(user, collections.deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            self._warned.pop(user, None)
            return True
        return False

    def hold(self, user: int, now: float | None = None) -> str:
        """A question held back: "warn" (say slow down, once a window) or "drop" (say nothing)."""
        now = time.monotonic() if now is None else now
        self.held_back += 1
        if now - self._warned.get(user, -self.window) >= self.window:
            self._warned[user] = now
            return "warn"
        return "drop"

    def forget_idle(self, now: float | None = None) -> None:
        """Drop users with no question in the window (memory stays bounded)."""
        now = time.monotonic() if now is None else now
        for user in [u for u, t in self._times.items() if not t or now - t[-1] >= self.window]:
            self._times.pop(user, None)
            self._warned.pop(user, None)
