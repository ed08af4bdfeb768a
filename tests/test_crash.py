"""`articlebot telegram` as a real process: SIGKILL at the worst moments, SIGHUP, SIGTERM, SIGINT.

The bot runs as a subprocess against the Bot API stand-in (tests/botapi.py), which, like
Telegram, keeps an update until a later getUpdates asks past it. Faults of the stand-in put the
process where a crash hurts most: after it answered but before Telegram learned it had fetched
(a lost getUpdates), and after Telegram forgot the update but before the answer went out (a
lost sendMessage).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from botapi import BotApiServer, Call
from conftest import SMALL_CORPUS, write_files
from test_reloader import FISH, FISH_QUESTION

from bot.telegram.app import UpdateLedger
from bot.telegram.state import State

REPO = Path(__file__).parents[1]
TOKEN = "123456:ABC-def_ghi-crash-token"
QUESTION = "DeepSeek V3 的训练成本是多少？"
START = 60.0
"""Seconds a fresh process may take to load the corpus and answer (a loaded CI machine is slow)."""


class BotProcess:
    """``python -m bot telegram`` in its own process, its log lines collected as they come."""

    def __init__(self, api: BotApiServer, root: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
        self.env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
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


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_files(tmp_path / "corpus", dict(SMALL_CORPUS))
    return tmp_path


@pytest.fixture
def processes() -> Iterator[list[BotProcess]]:
    """Every process a test started is killed at the end, whatever happened."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        if bot.process is not None and bot.process.poll() is None:
            bot.kill()


def answers(api: BotApiServer, chat_id: int) -> list[Call]:
    """Replies Telegram accepted (and so showed to the user) in a chat."""
    return [c for c in api.calls_to("sendMessage") if c.ok and c.params["chat_id"] == chat_id]


def fetched_ids(calls: list[Call]) -> set[int]:
    """Update ids that successful getUpdates calls among ``calls`` handed to the bot."""
    return {u["update_id"] for c in calls if c.method == "getUpdates" and c.ok for u in c.result}


def handled(root: Path, update_ids: Iterable[int]) -> bool:
    """Whether the bot's state file records all these updates as handled (read-only, from outside)."""
    ids = list(update_ids)
    try:
        db = sqlite3.connect(f"file:{root / 'state.sqlite'}?mode=ro", uri=True)
        try:
            marks = ",".join("?" * len(ids))
            [(count,)] = db.execute(f"SELECT count(*) FROM updates WHERE handled IS NOT NULL "
                                    f"AND update_id IN ({marks})", ids).fetchall()
        finally:
            db.close()
    except sqlite3.Error:  # not created yet
        return False
    return count == len(ids)


def test_every_update_is_answered_exactly_once_across_sigkills(root: Path, processes: list[BotProcess]) -> None:
    with BotApiServer(token=TOKEN) as api:
        # 1. Answered, then killed before Telegram learned the updates were fetched: the getUpdates
        #    that would have confirmed them never arrives (dropped), as when a process dies.
        first = {chat: api.send_text(chat, QUESTION)[0] for chat in (101, 102, 103)}
        api.fail_next("getUpdates", "slow", delay=0)  # the first poll fetches all three
        api.fail_next("getUpdates", "drop", times=100_000)  # every later one is lost
        bot = BotProcess(api, root).start()
        processes.append(bot)
        for chat in first:
            api.wait_for(lambda c, chat=chat: c.method == "sendMessage" and c.params["chat_id"] == chat,
                         timeout=START)
        # killed once the answers are recorded as sent (killed between Telegram accepting a reply and
        # the record, a reply would go out twice: the one moment no bot can close, kept to an instant)
        assert api.wait_until(lambda: handled(root, first.values()), START), bot.log
        bot.kill()
        assert set(first.values()) <= set(api.pending_update_ids()), "Telegram should still hold them"

        # 2. Restarted: Telegram sends those three again (to be skipped) with a new question, which
        #    is answered. Then two more questions: fetched (so Telegram forgets them), and the
        #    process is killed while their answers are on the way (lost).
        api.clear_faults()
        between = {chat: api.send_text(chat, QUESTION)[0] for chat in (150,)}
        restarted_at = len(api.calls)
        bot = BotProcess(api, root).start()
        processes.append(bot)
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == 150, timeout=START)
        assert set(first.values()) <= fetched_ids(api.calls[restarted_at:]), "phase 1 was not redelivered"
        assert api.wait_until(lambda: handled(root, between.values()), START), bot.log
        api.fail_next("sendMessage", "drop", times=100_000)
        second = {chat: api.send_text(chat, QUESTION)[0] for chat in (201, 202)}
        def lost() -> set[object]:
            return {c.params["chat_id"] for c in api.calls[restarted_at:] if c.method == "sendMessage" and c.status == 0}
        assert api.wait_until(lambda: lost() >= set(second) and not api.pending_update_ids(), START), bot.log
        bot.kill()

        # 3. Restarted again, all well: the two interrupted questions are answered from the state
        #    file (Telegram no longer has them), plus one new question; then SIGTERM stops it cleanly.
        api.clear_faults()
        third = {chat: api.send_text(chat, QUESTION)[0] for chat in (301,)}
        restarted_at = len(api.calls)
        bot = BotProcess(api, root).start()
        processes.append(bot)
        for chat in (*second, *third):
            api.wait_for(lambda c, chat=chat: c.method == "sendMessage" and c.ok and c.params["chat_id"] == chat,
                         timeout=START)
        assert bot.stop(signal.SIGTERM) == 0, bot.log
        assert not fetched_ids(api.calls[restarted_at:]) & set(second.values()), "Telegram had forgotten them"

        for chat in (*first, *between, *second, *third):
            delivered = answers(api, chat)
            assert len(delivered) == 1, f"chat {chat} got {len(delivered)} answers"
            assert "557.6万美元" in delivered[0].result["text"]
        assert "handled already" in processes[1].log  # the redelivered three were recognised


def test_sighup_reloads_the_corpus_and_sigint_stops_cleanly(root: Path, processes: list[BotProcess]) -> None:
    with BotApiServer(token=TOKEN) as api:
        bot = BotProcess(api, root).start()
        processes.append(bot)
        api.send_text(401, FISH_QUESTION)
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok, timeout=START)
        assert "Nothing in the articles answers" in answers(api, 401)[0].result["text"]

        write_files(root / "corpus", {"ocean/fish.md": FISH})  # not watched (ARTICLEBOT_WATCH=0)
        assert bot.process is not None
        bot.process.send_signal(signal.SIGHUP)
        bot.wait_for_log("corpus reloaded (SIGHUP)")
        assert bot.process.poll() is None, "SIGHUP must not stop the bot"

        api.send_text(401, FISH_QUESTION)
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok, count=2, timeout=START)
        assert "白尾雀鲷" in answers(api, 401)[1].result["text"]
        assert bot.stop(signal.SIGINT) == 0, bot.log
        assert TOKEN not in bot.log and TOKEN.split(":")[1] not in bot.log


def test_a_running_bot_picks_up_a_new_article_by_itself(root: Path, processes: list[BotProcess]) -> None:
    with BotApiServer(token=TOKEN) as api:
        bot = BotProcess(api, root, ARTICLEBOT_WATCH="1").start()
        processes.append(bot)
        bot.wait_for_log("watching")
        api.send_text(501, "/about")
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok, timeout=START)  # up and answering

        write_files(root / "corpus", {"ocean/fish.md": FISH})
        bot.wait_for_log("corpus reloaded")
        api.send_text(501, FISH_QUESTION)
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok, count=2, timeout=START)
        assert "白尾雀鲷" in answers(api, 501)[1].result["text"]
        assert bot.stop(signal.SIGTERM) == 0, bot.log


# --- the record behind it -----------------------------------------------------------------------

def test_the_state_file_keeps_unanswered_updates_and_forgets_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = State(path)
    state.receive_update(1, '{"update_id": 1}')
    state.receive_update(2, '{"update_id": 2}')
    state.mark_update_handled(1)
    state.receive_update(1, '{"update_id": 1}')  # Telegram sends it again: still handled
    state.close()

    reopened = State(path)  # as after a restart
    assert reopened.update_handled(1) and not reopened.update_handled(2)
    assert reopened.unhandled_updates() == [(2, '{"update_id": 2}')]
    assert reopened.unhandled_updates(max_age=-1) == []  # too old to answer any more
    assert reopened.prune_updates(keep_seconds=3600) == 0
    assert reopened.prune_updates(keep_seconds=-1) == 2
    assert not reopened.update_handled(1) and reopened.unhandled_updates() == []


def test_the_ledger_claims_each_update_once_and_lets_old_inline_queries_go(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    user = {"id": 7, "is_bot": False, "first_name": "Ann"}
    message = {"update_id": 5, "message": {"message_id": 1, "date": 0, "from": user, "text": "hi",
                                           "chat": {"id": 7, "type": "private"}}}
    inline = {"update_id": 6, "inline_query": {"id": "9", "from": user, "query": "q", "offset": ""}}
    for update in (message, inline):
        state.receive_update(update["update_id"], json.dumps(update))
    ledger = UpdateLedger(lambda: state)

    [pending] = ledger.pending(None)
    assert pending.update_id == 5 and pending.effective_message.text == "hi"
    assert state.update_handled(6)  # let go, not asked again at every start

    assert ledger.claim(5) and not ledger.claim(5)  # a second copy while the first is handled
    ledger.finished(5)
    assert not UpdateLedger(lambda: state).claim(5)  # after a restart too
    assert ledger.pending(None) == []
