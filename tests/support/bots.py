"""The bot under test, run against the Bot API stand-in, and what tests read of what it sent.

Three ways to run it, as deployed: ``RunningBot`` (the Application long-polling, from a thread of the
test process), ``RunningWebhook`` (the webhook server, from a thread), ``BotProcess`` (``python -m bot
telegram`` as a process of its own, to be killed). Nothing of the bot is replaced; only Telegram is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.telegram.app import build_application
from bot.telegram.dialogue import Dialogue
from bot.telegram.webhook import Webhook
from support.botapi import BotApiServer, JsonDict

REPO = Path(__file__).parents[2]
START = 60.0
"""Seconds a fresh process may take to load the corpus and answer (a loaded CI machine is slow)."""
SETTLE = 0.2
"""Seconds ``replies_to`` waits past the replies it was asked for, so that a duplicate sent right
behind them is counted (and fails the test that expected one)."""


class RunningBot:
    """The Application polling the stand-in from a background thread, until ``stop``."""

    def __init__(self, api: BotApiServer, settings: Settings, dialogue: Dialogue, **options: Any) -> None:
        self.api = api
        self.application = build_application(settings, dialogue, overall_rate=1000, **options)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with self.application:
            if self.application.post_init:
                await self.application.post_init(self.application)
            await self.application.start()
            assert self.application.updater is not None
            await self.application.updater.start_polling(poll_interval=0.0, timeout=1)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            await self.application.updater.stop()
            await self.application.stop()
            if self.application.post_stop:  # as run_polling does
                await self.application.post_stop(self.application)

    def start(self) -> RunningBot:
        self._thread.start()
        assert self._ready.wait(30), "the bot did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


class RunningWebhook:
    """A Webhook served from a background thread's event loop, until ``stop``."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        try:
            await self.webhook.start()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread by start()
            self.error = error
            return
        finally:
            self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.02)
        await self.webhook.stop()

    def start(self) -> RunningWebhook:
        self._thread.start()
        assert self._ready.wait(30), "the webhook server did not start"
        if self.error is not None:
            self._thread.join(10)
            raise self.error
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the webhook server did not stop"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webhook.port}"


class BotProcess:
    """``python -m bot telegram`` in its own process, its log lines collected as they come.

    ``root`` holds the corpus (``root/corpus``), the cache and the state file; ``env`` adds or
    overrides environment variables (``ARTICLEBOT_TOP_K="1"``…).
    """

    def __init__(self, api: BotApiServer, root: Path, token: str, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
        self.env.update({
            "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": api.base_url,
            "ARTICLEBOT_CORPUS": str(root / "corpus"), "ARTICLEBOT_CACHE_DIR": str(root / "cache"),
            "ARTICLEBOT_STATE": str(root / "state.sqlite"), "ARTICLEBOT_WORKERS": "1",
            "ARTICLEBOT_RATE_LIMIT": "1000", "ARTICLEBOT_WATCH": "0",
            "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"} | env)
        self.root = root
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> BotProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "bot", "telegram"], cwd=self.root, env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for_log(self, text: str, timeout: float = START) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: any(text in line for line in self.lines), timeout):
                raise AssertionError(f"no log line with {text!r} in {timeout}s; log:\n{self.log}")

    @property
    def log(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last getUpdates, nothing flushed; like a power cut or the OOM killer."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and return the exit status once the process has ended."""
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def replies_to(api: BotApiServer, chat_id: int, count: int = 1, timeout: float = 20,
               settle: float = SETTLE) -> list[JsonDict]:
    """Every message the bot sent to ``chat_id`` (each accepted ``sendMessage``), oldest first, once at
    least ``count`` have arrived (AssertionError after ``timeout`` seconds without them).

    Everything is returned, not the first ``count``: ``[answer] = replies_to(api, chat)`` fails when
    the bot answered twice. ``settle`` seconds more are waited for a duplicate close behind.
    """
    def sent_there(call: Any) -> bool:
        return call.method == "sendMessage" and call.ok and call.params["chat_id"] == chat_id

    api.wait_for(sent_there, count=count, timeout=timeout)
    time.sleep(settle)
    return [call.result for call in api.calls if sent_there(call)]


def no_bad_requests(api: BotApiServer) -> None:
    """No request got a 400: Telegram would have refused it too."""
    bad = [(c.method, c.response) for c in api.calls if c.status == 400]
    assert not bad, bad


def buttons(message: JsonDict) -> list[JsonDict]:
    """A message's inline-keyboard buttons, row after row."""
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]
