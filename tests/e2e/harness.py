"""End-to-end harness: the npm Bot API emulator, a bridge in front of it, a simulated resident.

    bot (python-telegram-bot, real HTTP)  ->  Bridge (127.0.0.1)  ->  telegram-test-api 4.2.1 (node)
    Resident (the emulator's client API)  ------------------------->  telegram-test-api

The emulator differs from Telegram in ways python-telegram-bot cannot live with; the Bridge
makes up for them, so the bot runs unchanged with only its base URL pointed at the bridge:
- getMe has no `is_bot`                                   -> added
- unknown methods (setMyCommands ...) answer HTTP 500     -> {"ok": true, "result": true}
- answerCallbackQuery / editMessage* answer `null`        -> true
- sendMessage results echo the request, `date` in ms      -> a Message: seconds, `from` = the bot
- callback queries have no `chat_instance`                -> added
- getUpdates ignores `offset` and has no long polling      -> already delivered update_ids are
                                                             dropped; the bot polls every 0.2 s
Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
HOST = "127.0.0.1"
BOT_ID = 666  # what the emulator's getMe says
BOT_USERNAME = "TestNameBot"

_EMULATOR_JS = """
const TelegramServer = require('telegram-test-api');
const server = new TelegramServer({host: process.env.TT_HOST, port: Number(process.env.TT_PORT), storeTimeout: 120});
server.start().then(() => console.log('READY ' + server.config.apiURL));
// The emulator never outlives the test: it stops when its stdin closes.
process.stdin.on('end', () => server.stop().then(() => process.exit(0)));
process.stdin.resume();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def node_missing() -> str | None:
    """Why the e2e test cannot run here, or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (needed for the telegram-test-api emulator)"
    return None


def ensure_emulator_installed(timeout: float = 180) -> None:
    if (HERE / "node_modules" / "telegram-test-api" / "package.json").exists():
        return
    script = HERE.parent.parent / "scripts" / "install-telegram-test-api.sh"
    subprocess.run(["bash", str(script)], check=True, timeout=timeout)


class Emulator:
    """telegram-test-api in a node subprocess on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 15) -> None:
        env = {**os.environ, "TT_HOST": HOST, "TT_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            ["node", "-e", _EMULATOR_JS],
            cwd=HERE,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.proc.stdout.read() if self.proc.stdout else ''}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"emulator did not listen on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


class Bridge:
    """A tiny HTTP/1.1 proxy (keep-alive, Content-Length bodies) between the bot and the emulator."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.delivered: set[int] = set()
        self.calls: list[str] = []  # Bot API methods the bot called, in order
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Bridge:
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=5)
        self._server = await asyncio.start_server(self._serve, HOST, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        if self._client is not None:
            await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, payload = await self._forward(method, target, headers.get("content-type", ""), body)
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _forward(self, method: str, target: str, content_type: str, body: bytes) -> tuple[int, Any]:
        assert self._client is not None
        path = urllib.parse.urlsplit(target).path
        api_method = path.rsplit("/", 1)[-1]
        self.calls.append(api_method)
        response = await self._client.request(
            method, path, content=body, headers={"content-type": content_type} if content_type else {}
        )
        if response.status_code >= 500:
            # a method the emulator does not know (setMyCommands ...): Telegram would say ok
            return 200, {"ok": True, "result": True}
        payload = response.json()
        if not isinstance(payload, dict) or not payload.get("ok"):
            return response.status_code, payload
        fix = getattr(self, f"_fix_{api_method}", None)
        if fix is not None:
            payload["result"] = fix(payload.get("result"))
        elif payload.get("result") is None:
            payload["result"] = True  # answerCallbackQuery, editMessageText ...
        return 200, payload

    def _fix_getMe(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"is_bot": True, **result}

    def _fix_sendMessage(self, result: dict[str, Any]) -> dict[str, Any]:
        message = {
            k: result[k] for k in ("message_id", "chat", "text", "reply_markup") if result.get(k) is not None
        }
        message["date"] = int(result["date"]) // 1000 if int(result["date"]) > 10**11 else int(result["date"])
        message["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "Bot", "username": BOT_USERNAME}
        return message

    def _fix_getUpdates(self, result: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for update in result:
            update_id = int(update["update_id"])
            if update_id in self.delivered:
                continue
            self.delivered.add(update_id)
            query = update.get("callback_query")
            if query is not None:
                query.setdefault("chat_instance", str(query["from"]["id"]))
            fresh.append(update)
        return fresh


class Resident:
    """A person in a private chat with the bot, through the emulator's client API."""

    def __init__(self, emulator_url: str, token: str, user_id: int = 5001, lang: str = "zh-hans") -> None:
        self.token = token
        self.user = {
            "id": user_id,
            "is_bot": False,
            "first_name": "王",
            "username": "resident",
            "language_code": lang,
        }
        self.chat = {"id": user_id, "type": "private", "first_name": "王"}
        self.http = httpx.AsyncClient(base_url=emulator_url, timeout=5)
        self.received: list[dict[str, Any]] = []  # the bot's messages, as the client sees them

    async def aclose(self) -> None:
        await self.http.aclose()

    def _message(self, text: str) -> dict[str, Any]:
        return {
            "botToken": self.token,
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            "text": text,
        }

    async def send(self, text: str) -> None:
        message = self._message(text)
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            (await self.http.post("/sendCommand", json=message)).raise_for_status()
        else:
            (await self.http.post("/sendMessage", json=message)).raise_for_status()

    async def press(self, bot_message: dict[str, Any], label: str) -> None:
        """Press the inline button `label` under one of the bot's messages."""
        data = next(b["callback_data"] for row in buttons(bot_message) for b in row if b["text"] == label)
        query = {
            "botToken": self.token,
            "from": self.user,
            "data": data,
            "message": {
                "message_id": bot_message["messageId"],
                "date": int(time.time()),
                "chat": self.chat,
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot", "username": BOT_USERNAME},
                "text": bot_message["message"]["text"],
            },
        }
        (await self.http.post("/sendCallback", json=query)).raise_for_status()

    async def replies(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait for `count` new messages from the bot (bounded)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout}s for {count} bot message(s), got {len(got)}")
            response = await self.http.post(
                "/getUpdates", json={"token": self.token, "chatId": self.chat["id"]}
            )
            got += response.json().get("result", [])
            if len(got) < count:
                await asyncio.sleep(0.1)
        self.received += got
        return got


def buttons(bot_message: dict[str, Any]) -> list[list[dict[str, str]]]:
    markup = bot_message["message"].get("reply_markup") or {}
    return markup.get("inline_keyboard", [])


def text_of(bot_message: dict[str, Any]) -> str:
    return str(bot_message["message"]["text"])


@contextlib.asynccontextmanager
async def polling(application: Any) -> AsyncIterator[None]:
    """What Application.run_polling does, inside a running event loop."""
    from policybot.bot.app import ALLOWED_UPDATES, post_init, post_shutdown

    await application.initialize()
    try:
        await post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.2, timeout=0, allowed_updates=ALLOWED_UPDATES)
        await application.start()
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()
    finally:
        await application.shutdown()
        await post_shutdown(application)
