"""`articlebot telegram` as a real process: SIGKILL at the worst moments, SIGHUP, SIGTERM, SIGINT.

The bot runs as a subprocess against the Bot API stand-in (tests/support/botapi.py), which, like
Telegram, keeps an update until a later getUpdates asks past it. Faults of the stand-in put the
process where a crash hurts most: after it answered but before Telegram learned it had fetched
(a lost getUpdates), and after Telegram forgot the update but before the answer went out (a
lost sendMessage).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from conftest import SMALL_CORPUS, write_files
from support.botapi import BotApiServer, Call
from support.bots import START, BotProcess
from support.postgres import raw_rows
from test_reloader import FISH, FISH_QUESTION

from bot.telegram.delivery import UpdateLedger
from bot.telegram.state import UPDATE_LEASE, State

REPO = Path(__file__).parents[1]
TOKEN = "123456:ABC-def_ghi-crash-token"
QUESTION = "DeepSeek V3 的训练成本是多少？"


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


def handled(root: Path, update_ids: Iterable[int], url: str | None = None) -> bool:
    """Whether the bot's state file (or database) records all these updates as handled (from outside)."""
    ids = list(update_ids)
    if url is not None:
        marks = ",".join(str(int(i)) for i in ids)
        [(count,)] = raw_rows(url, f"SELECT count(*) FROM updates WHERE handled IS NOT NULL AND update_id IN ({marks})")
        return count == len(ids)
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


def test_every_update_is_answered_exactly_once_across_sigkills(root: Path, processes: list[BotProcess],
                                                               backend: str, state_target: str) -> None:
    """With PostgreSQL, a killed process's claims last their lease (30 s): the restarted process answers
    the updates it left once they expire (its sweep), as another replica would."""
    url = state_target if backend == "postgresql" else None
    env = {"ARTICLEBOT_STATE_URL": url} if url else {}
    with BotApiServer(token=TOKEN) as api:
        # 1. Answered, then killed before Telegram learned the updates were fetched: the getUpdates
        #    that would have confirmed them never arrives (dropped), as when a process dies.
        first = {chat: api.send_text(chat, QUESTION)[0] for chat in (101, 102, 103)}
        api.fail_next("getUpdates", "slow", delay=0)  # the first poll fetches all three
        api.fail_next("getUpdates", "drop", times=100_000)  # every later one is lost
        bot = BotProcess(api, root, TOKEN, **env).start()
        processes.append(bot)
        for chat in first:
            api.wait_for(lambda c, chat=chat: c.method == "sendMessage" and c.params["chat_id"] == chat,
                         timeout=START)
        # killed once the answers are recorded as sent (killed between Telegram accepting a reply and
        # the record, a reply would go out twice: the one moment no bot can close, kept to an instant)
        assert api.wait_until(lambda: handled(root, first.values(), url), START), bot.log
        bot.kill()
        assert set(first.values()) <= set(api.pending_update_ids()), "Telegram should still hold them"

        # 2. Restarted: Telegram sends those three again (to be skipped) with a new question, which
        #    is answered. Then two more questions: fetched (so Telegram forgets them), and the
        #    process is killed while their answers are on the way (lost).
        api.clear_faults()
        between = {chat: api.send_text(chat, QUESTION)[0] for chat in (150,)}
        restarted_at = len(api.calls)
        bot = BotProcess(api, root, TOKEN, **env).start()
        processes.append(bot)
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == 150, timeout=START)
        assert set(first.values()) <= fetched_ids(api.calls[restarted_at:]), "phase 1 was not redelivered"
        assert api.wait_until(lambda: handled(root, between.values(), url), START), bot.log
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
        bot = BotProcess(api, root, TOKEN, **env).start()
        processes.append(bot)
        for chat in (*second, *third):
            api.wait_for(lambda c, chat=chat: c.method == "sendMessage" and c.ok and c.params["chat_id"] == chat,
                         timeout=START + (UPDATE_LEASE if url else 0))
        assert bot.stop(signal.SIGTERM) == 0, bot.log
        assert not fetched_ids(api.calls[restarted_at:]) & set(second.values()), "Telegram had forgotten them"

        for chat in (*first, *between, *second, *third):
            delivered = answers(api, chat)
            assert len(delivered) == 1, f"chat {chat} got {len(delivered)} answers"
            assert "557.6万美元" in delivered[0].result["text"]
        assert "handled already" in processes[1].log  # the redelivered three were recognised


def press_answered(root: Path, update_id: int) -> bool:
    """Whether the state file records that Telegram accepted the answer to this update's press."""
    try:
        db = sqlite3.connect(f"file:{root / 'state.sqlite'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT press_answered FROM updates WHERE update_id = ?", (update_id,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] is not None


def test_a_press_answered_before_a_sigkill_shows_its_page_after_it_and_is_not_answered_again(
        root: Path, processes: list[BotProcess]) -> None:
    with BotApiServer(token=TOKEN) as api:
        bot = BotProcess(api, root, TOKEN, ARTICLEBOT_TOP_K="1").start()
        processes.append(bot)
        api.send_text(601, "英伟达股价")
        [answer] = api.wait_for(lambda c: c.method == "sendMessage" and c.ok and c.params["chat_id"] == 601,
                                timeout=START)
        more = next(b for row in answer.result["reply_markup"]["inline_keyboard"] for b in row
                    if b["text"].startswith("More"))
        # The press is answered (the spinner stops), then its page fails to arrive until the kill.
        api.fail_next("editMessageText", "drop", times=100_000)
        query_id = api.press(answer.result, more["callback_data"], user_id=601)
        [press_update] = api.pending_update_ids()
        assert api.wait_until(lambda: press_answered(root, press_update)
                              and any(c.method == "editMessageText" for c in api.calls), START), bot.log
        bot.kill()

        api.clear_faults()
        bot = BotProcess(api, root, TOKEN, ARTICLEBOT_TOP_K="1").start()
        processes.append(bot)
        [edit] = api.wait_for(lambda c: c.method == "editMessageText" and c.ok, timeout=START)
        assert edit.params["message_id"] == answer.result["message_id"] and edit.result["text"].startswith("2.")
        presses = [c for c in api.calls_to("answerCallbackQuery") if str(c.params["callback_query_id"]) == query_id]
        assert [c.status for c in presses] == [200], "the press was answered again after the restart"
        assert not [c for c in api.calls if c.status == 400]
        assert "answered before a restart; not answered again" in bot.log
        assert bot.stop(signal.SIGTERM) == 0, bot.log


def test_sighup_reloads_the_corpus_and_sigint_stops_cleanly(root: Path, processes: list[BotProcess]) -> None:
    with BotApiServer(token=TOKEN) as api:
        bot = BotProcess(api, root, TOKEN).start()
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
        bot = BotProcess(api, root, TOKEN, ARTICLEBOT_WATCH="1").start()
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

BOT = 111111
OTHER_BOT = 222222


def test_the_state_file_keeps_unanswered_updates_and_forgets_old_ones(state_target: str) -> None:
    path = state_target
    state = State(path, update_lease=0)
    state.receive_update(BOT, 1, '{"update_id": 1}')
    state.receive_update(BOT, 2, '{"update_id": 2}')
    state.mark_update_handled(BOT, 1)
    state.receive_update(BOT, 1, '{"update_id": 1}')  # Telegram sends it again: still handled
    state.close()

    reopened = State(path, update_lease=0)  # as after a restart
    assert reopened.update_handled(BOT, 1) and not reopened.update_handled(BOT, 2)
    assert reopened.unhandled_updates(BOT) == [(2, '{"update_id": 2}')]
    assert reopened.unhandled_updates(BOT, max_age=-1) == []  # too old to answer any more
    assert reopened.prune_updates(keep_seconds=3600) == 0
    assert reopened.prune_updates(keep_seconds=-1) == 2
    assert not reopened.update_handled(BOT, 1) and reopened.unhandled_updates(BOT) == []


def test_update_ids_are_counted_per_bot(state_target: str) -> None:
    """Telegram numbers each bot's updates on its own: one state file used with a second bot (or a
    re-created one) must neither skip that bot's updates nor answer the first bot's."""
    state = State(state_target, update_lease=0)
    state.receive_update(BOT, 5, '{"update_id": 5, "for": "first"}')
    state.mark_update_handled(BOT, 5)
    state.receive_update(BOT, 6, '{"update_id": 6, "for": "first"}')
    state.receive_update(OTHER_BOT, 5, '{"update_id": 5, "for": "second"}')
    assert not state.update_handled(OTHER_BOT, 5) and state.update_handled(BOT, 5)
    assert state.unhandled_updates(OTHER_BOT) == [(5, '{"update_id": 5, "for": "second"}')]
    assert state.unhandled_updates(BOT) == [(6, '{"update_id": 6, "for": "first"}')]


def test_a_state_file_from_before_bot_ids_is_migrated_and_its_updates_count_as_the_current_bots(
        tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE updates (update_id INTEGER PRIMARY KEY, body TEXT, received REAL NOT NULL, handled REAL);
        CREATE TABLE queries (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, text TEXT NOT NULL,
                              context TEXT NOT NULL DEFAULT '', chat_id INTEGER, created REAL NOT NULL);
    """)
    now = time.time()
    old.executemany("INSERT INTO updates VALUES (?, ?, ?, ?)",
                    [(1, None, now, now), (2, '{"update_id": 2}', now, None)])
    old.execute("INSERT INTO queries (kind, text, created) VALUES ('ask', 'DeepSeek', ?)", (now,))
    old.commit()
    old.close()

    state = State(path)
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(updates)")]
    assert columns[:2] == ["bot_id", "update_id"] and "press_answered" in columns
    assert state.update_handled(BOT, 1) and state.unhandled_updates(BOT) == [(2, '{"update_id": 2}')]
    state.receive_update(BOT, 1, '{"update_id": 1}')  # sent again after the upgrade: still handled
    state.mark_update_handled(BOT, 2)
    assert state.update_handled(BOT, 1) and state.update_handled(BOT, 2) and state.unhandled_updates(BOT) == []
    [(rows,)] = sqlite3.connect(path).execute("SELECT count(*) FROM updates").fetchall()
    assert rows == 2  # taken as the bot's own, not copied
    stored = state.recall(1)
    assert stored is not None and stored.text == "DeepSeek"  # the rest of the file is as it was
    state.close()
    assert State(path).update_handled(BOT, 2)  # opened again: nothing left to migrate


def test_the_ledger_claims_each_update_once_and_lets_old_inline_queries_go(state_target: str) -> None:
    state = State(state_target, update_lease=0)  # a restart's claims here need not wait for a lease
    user = {"id": 7, "is_bot": False, "first_name": "Ann"}
    message = {"update_id": 5, "message": {"message_id": 1, "date": 0, "from": user, "text": "hi",
                                           "chat": {"id": 7, "type": "private"}}}
    inline = {"update_id": 6, "inline_query": {"id": "9", "from": user, "query": "q", "offset": ""}}
    for update in (message, inline):
        state.receive_update(BOT, update["update_id"], json.dumps(update))

    async def run() -> None:
        ledger = UpdateLedger(lambda: state, BOT)
        [pending] = await ledger.pending(None)
        assert pending.update_id == 5 and pending.effective_message.text == "hi"
        assert state.update_handled(BOT, 6)  # let go, not asked again at every start

        assert await ledger.claim(5) and not await ledger.claim(5)  # a second copy while the first is handled
        await ledger.finished(5)
        assert not await UpdateLedger(lambda: state, BOT).claim(5)  # after a restart too
        assert await UpdateLedger(lambda: state, OTHER_BOT).claim(5)  # another bot's update 5 is its own
        assert await ledger.pending(None) == []

    asyncio.run(run())


def test_a_press_answered_before_a_restart_is_remembered_as_answered(state_target: str) -> None:
    state = State(state_target, update_lease=0)
    state.receive_update(BOT, 8, '{"update_id": 8}')

    async def run() -> None:
        ledger = UpdateLedger(lambda: state, BOT)
        assert await ledger.claim(8) and not ledger.press_answered_before(8)
        await ledger.press_answered(8)  # Telegram accepted answerCallbackQuery; then the process died
        restarted = UpdateLedger(lambda: state, BOT)
        assert [u.update_id for u in await restarted.pending(None)] == [8]  # its page is still to show
        assert await restarted.claim(8) and restarted.press_answered_before(8)
        await restarted.finished(8)
        assert not restarted.press_answered_before(8)

    asyncio.run(run())
