"""Following tags, end to end: python-telegram-bot over real HTTP to the Bot API stand-in.

Readers follow a tag or topic (/follow, the Follow button under /tag, the ?start=follow_ deep link);
when the live reload adds an article, every chat following one of its names gets it once; daily
followers get one digest at ``digest_hour`` (the clock is injected, never waited for). Telegram's
side plays the real rules: 403 for a chat that blocked the bot, 429 past 30 messages a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import LONG_PARAGRAPHS, SMALL_CORPUS, write_files
from support.botapi import BotApiServer, JsonDict
from support.bots import START, BotProcess, RunningBot, buttons, no_bad_requests, replies_to

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.reloader import Reloader
from bot.search.library import Library
from bot.search.tokens import Tokenizer
from bot.telegram.app import build_application
from bot.telegram.delivery import Pacer
from bot.telegram.dialogue import Dialogue, latest_digest_moment, next_digest_moment
from bot.telegram.state import Delivery, State

TOKEN = "123456:ABC-def_ghi-secret-token"
READER = 4242
OTHER = 4343
GROUP = -100777
GROUP_ADMIN = 5001
MEMBER = 5002
ADMIN = 9999
WAIT = 30.0
NEW_URL = "https://www.iyiou.com/news/20250301fish"


def article(title: str, tags: str, url: str = NEW_URL, date: str = "2025-03-01") -> str:
    return f"---\ntitle: \"{title}\"\ndate: {date}\ntags: [{tags}]\n---\n\n{LONG_PARAGRAPHS}\n\n[iyiou]({url})\n"


class Clock:
    """The time daily digests go by, set by the test."""

    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


UTC = ZoneInfo("UTC")
MORNING = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)


class Harness:
    """The bot (polling the stand-in), its reloader over a corpus folder the test writes, and a clock."""

    def __init__(self, api: BotApiServer, corpus: Path, root: Path, tokenizer: Tokenizer, **settings: Any) -> None:
        self.api, self.corpus = api, corpus
        self.settings = Settings(corpus=(corpus,), cache_dir=root / "cache", workers=1, telegram_token=TOKEN,
                                 telegram_api_base_url=api.base_url, state_path=root / "state.sqlite",
                                 rate_limit_per_minute=1000, admin_user_ids=frozenset({ADMIN}),
                                 **settings)
        self.tokenizer = tokenizer
        self.clock = Clock(MORNING)
        self.running: RunningBot | None = None
        self.reloader: Reloader | None = None
        self.dialogue: Dialogue | None = None

    def start(self) -> Harness:
        library = Library.open(self.settings, tokenizer=self.tokenizer)
        self.dialogue = Dialogue(Engine.over(library, self.settings), State(self.settings.state_path))
        self.reloader = Reloader(self.settings, library, self.dialogue.swap).start(watch=False)
        self.running = RunningBot(self.api, self.settings, self.dialogue, reloader=self.reloader,
                                  clock=self.clock).start()
        return self

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
        if self.reloader is not None:
            self.reloader.stop()
        if self.dialogue is not None:
            self.dialogue.state.close()
        self.running = self.reloader = self.dialogue = None

    def add(self, name: str, text: str) -> None:
        """Write an article and re-index, as the watcher or SIGHUP would."""
        (self.corpus / name).write_text(text, encoding="utf-8")
        assert self.reloader is not None
        result = self.reloader.reload(timeout=WAIT)
        assert result is not None and result.ok, result

    def poke(self) -> None:
        assert self.running is not None
        self.running.application.bot_data.broadcaster.poke()  # type: ignore[union-attr]

    def say(self, chat: int, text: str, **sender: Any) -> JsonDict:
        """Send ``text`` and return the bot's one reply to it."""
        before = len(sent_to(self.api, chat))
        self.api.send_text(chat, text, **sender)
        return replies_to(self.api, chat, count=before + 1)[-1]


def sent_to(api: BotApiServer, chat: int) -> list[JsonDict]:
    return [c.result for c in api.calls_to("sendMessage") if c.ok and c.params["chat_id"] == chat]


def announcements(api: BotApiServer, chat: int, title: str) -> list[JsonDict]:
    """Messages to followers in ``chat`` that start with ``title`` (new articles: they end naming what the
    chat follows, unlike a summary; digests start with "Daily digest")."""
    return [m for m in sent_to(api, chat) if m["text"].startswith(title)
            and ("/following" in m["text"] or title == "Daily digest")]


def follow_all(api: BotApiServer, chats: list[int], name: str, timeout: float) -> None:
    """Every chat follows ``name``; returns once the bot has confirmed each."""
    for chat in chats:
        api.send_text(chat, f"/follow {name}")
    api.wait_for(lambda c: c.method == "sendMessage" and "Following" in c.params.get("text", ""),
                 count=len(chats), timeout=timeout)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def harness(corpus_dir: Path, tmp_path: Path, tokenizer: Tokenizer) -> Iterator[Harness]:
    with BotApiServer(token=TOKEN) as api:
        running = Harness(api, corpus_dir, tmp_path, tokenizer).start()
        try:
            yield running
        finally:
            running.stop()


# --- commands and buttons --------------------------------------------------------------------

def test_follow_following_and_unfollow_in_a_private_chat(harness: Harness) -> None:
    api = harness.api
    reply = harness.say(READER, "/follow IYIOU")
    assert "Following #iyiou" in reply["text"] and "/unfollow iyiou" in reply["text"]
    assert [b["text"] for b in buttons(reply)] == ["🔕 Unfollow"]
    harness.say(READER, "/follow 大模型 daily")  # a topic (a WeChat wiki link)
    listed = harness.say(READER, "/following")
    assert "#iyiou · each new article" in listed["text"]
    assert "a daily digest at 08:00 UTC" in listed["text"]
    unfollow = next(b for b in buttons(listed) if b["text"] == "🔕 #iyiou")
    api.press(listed, unfollow["callback_data"], user_id=READER)
    [edit] = api.wait_for("editMessageText")
    assert "#iyiou" not in edit.result["text"] and "daily digest" in edit.result["text"]
    toast = api.wait_for(lambda c: c.method == "answerCallbackQuery" and c.params.get("text"))[0]
    assert "No longer following #iyiou" in toast.params["text"]
    assert "does not follow “iyiou”" in harness.say(READER, "/unfollow iyiou")["text"]
    assert "no tag or topic called" in harness.say(READER, "/follow chocolate cake recipes")["text"]
    mentioned = harness.say(READER, "/follow deep seek")  # resolved as /tag does: articles mention it
    assert "only a word some articles mention" in mentioned["text"]
    assert all(b["text"].startswith("🔔 #") for b in buttons(mentioned))
    assert "Usage: /follow NAME" in harness.say(READER, "/follow")["text"]
    no_bad_requests(api)


def test_every_tag_page_has_a_follow_button_that_turns_into_unfollow(harness: Harness) -> None:
    api = harness.api
    page = harness.say(READER, "/tag iyiou", language_code="zh-hans")
    follow = next(b for b in buttons(page) if b["text"] == "🔔 关注")
    api.press(page, follow["callback_data"], user_id=READER)
    [edit] = api.wait_for("editMessageText")
    assert edit.params["message_id"] == page["message_id"]
    assert [b["text"] for b in buttons(edit.result)][-1] == "🔕 取消关注"
    assert "iyiou" in edit.result["text"]  # still the tag's page
    assert "#iyiou" in harness.say(READER, "/following", language_code="zh-hans")["text"]
    unfollow = buttons(edit.result)[-1]
    api.press(api.current_message(READER, page["message_id"]), unfollow["callback_data"], user_id=READER)
    edits = api.wait_for("editMessageText", count=2)
    assert [b["text"] for b in buttons(edits[1].result)][-1] == "🔔 关注"
    assert "还没有关注" in harness.say(READER, "/following", language_code="zh-hans")["text"]
    no_bad_requests(api)


def test_a_deep_link_follows_in_one_tap(harness: Harness) -> None:
    reply = harness.say(READER, "/start follow_iyiou")
    assert "Following #iyiou" in reply["text"]
    assert "#iyiou" in harness.say(READER, "/following")["text"]


def test_in_groups_only_admins_change_what_the_group_follows(harness: Harness) -> None:
    api = harness.api
    api.set_admins(GROUP, [GROUP_ADMIN])
    refused = harness.say(GROUP, "/follow iyiou", chat_type="supergroup", user_id=MEMBER)
    assert "only this group's admins" in refused["text"]
    assert "follows no tag" in harness.say(GROUP, "/following", chat_type="supergroup", user_id=MEMBER)["text"]
    assert "Following #iyiou" in harness.say(GROUP, "/follow iyiou", chat_type="supergroup",
                                             user_id=GROUP_ADMIN)["text"]
    page = harness.say(GROUP, "/tag iyiou", chat_type="supergroup", user_id=MEMBER)
    unfollow = buttons(page)[-1]
    assert unfollow["text"] == "🔕 Unfollow"
    api.press(page, unfollow["callback_data"], user_id=MEMBER)
    toast = api.wait_for(lambda c: c.method == "answerCallbackQuery" and c.params.get("text"))[0]
    assert "only this group's admins" in toast.params["text"]
    assert "#iyiou" in harness.say(GROUP, "/following", chat_type="supergroup", user_id=MEMBER)["text"]
    assert "No longer following" in harness.say(GROUP, "/unfollow iyiou", chat_type="supergroup",
                                                user_id=ADMIN)["text"]  # the bot's admins may too
    no_bad_requests(api)


def test_following_can_be_turned_off(corpus_dir: Path, tmp_path: Path, tokenizer: Tokenizer) -> None:
    with BotApiServer(token=TOKEN) as api:
        harness = Harness(api, corpus_dir, tmp_path, tokenizer, following=False).start()
        try:
            assert "turned off" in harness.say(READER, "/follow iyiou")["text"]
            page = harness.say(READER, "/tag iyiou")
            assert not any("Follow" in b["text"] for b in buttons(page))
            harness.add("new.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
            time.sleep(0.5)
            assert not announcements(api, READER, "白尾雀鲷")
        finally:
            harness.stop()


# --- deliveries -------------------------------------------------------------------------------

def test_a_new_article_reaches_every_follower_once_with_its_link(harness: Harness) -> None:
    api = harness.api
    harness.say(READER, "/follow iyiou")
    harness.say(READER, "/follow AI")  # the new article has both: one message all the same
    harness.say(OTHER, "/follow ai", language_code="zh-hans")
    harness.say(GROUP, "/follow iyiou", chat_type="group", user_id=ADMIN)
    harness.say(7070, "/follow mingpao")  # follows something else: gets nothing
    harness.say(7171, "/follow iyiou daily")  # gets the daily digest, not the article now

    harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou, AI"))

    for chat in (READER, OTHER, GROUP):
        wait_until(lambda chat=chat: bool(announcements(api, chat, "白尾雀鲷")))
    time.sleep(0.5)
    [message] = announcements(api, READER, "白尾雀鲷")
    [chinese] = announcements(api, OTHER, "白尾雀鲷")
    assert len(announcements(api, GROUP, "白尾雀鲷")) == 1
    assert not announcements(api, 7070, "白尾雀鲷") and not announcements(api, 7171, "白尾雀鲷")
    links = [e["url"] for e in message["entities"] if e["type"] == "text_link"]
    assert links == [NEW_URL]
    assert "2025-03-01" in message["text"] and "#iyiou #AI" in message["text"]
    assert "白尾雀鲷以浮游动物和藻类为食" in message["text"] or "白尾雀鲷是一种" in message["text"]
    assert [b["text"] for b in buttons(message)] == ["Summary", "Source"]
    assert [b["text"] for b in buttons(chinese)] == ["摘要", "原文"] and "你关注了 #AI" in chinese["text"]
    summary = buttons(message)[0]
    api.press(message, summary["callback_data"], user_id=READER)
    wait_until(lambda: any("Extractive summary" in m["text"] for m in sent_to(api, READER)))

    edited = harness.corpus / "fish.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\n珊瑚礁的健康关系到许多鱼类的生存。\n", encoding="utf-8")
    assert harness.reloader is not None and harness.reloader.reload(timeout=WAIT) is not None
    time.sleep(0.5)
    assert len(announcements(api, READER, "白尾雀鲷")) == 1  # an edit is no news
    no_bad_requests(api)


def test_a_follower_who_blocked_the_bot_is_dropped_and_never_tried_again(harness: Harness,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    api = harness.api
    for chat in (READER, OTHER):
        harness.say(chat, "/follow iyiou")
    harness.say(OTHER, "/follow AI")
    api.block(OTHER)
    with caplog.at_level(logging.WARNING, logger="bot.telegram.delivery"):
        harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou, AI"))
        wait_until(lambda: bool(announcements(api, READER, "白尾雀鲷")))
        wait_until(lambda: any(c.status == 403 for c in api.calls_to("sendMessage")))
        harness.add("castle.md", article("城堡与护城河", "iyiou", url="https://www.iyiou.com/news/castle"))
        wait_until(lambda: bool(announcements(api, READER, "城堡与护城河")))
        time.sleep(0.3)
    tries = [c for c in api.calls_to("sendMessage") if c.params["chat_id"] == OTHER
             and not c.params["text"].startswith("Following")]
    assert len(tries) == 1 and tries[0].status == 403
    dropped = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(dropped) == 1 and str(OTHER) in dropped[0].getMessage()
    assert harness.dialogue is not None
    assert harness.dialogue.state.follows_of(123456, OTHER) == []


def test_a_daily_digest_goes_out_at_the_hour_and_not_when_there_is_nothing(harness: Harness) -> None:
    api = harness.api
    harness.say(READER, "/follow iyiou daily")
    harness.say(OTHER, "/follow mingpao daily")
    harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
    harness.add("castle.md", article("城堡与护城河", "iyiou", url="https://www.iyiou.com/news/castle",
                                     date="2025-03-02"))
    time.sleep(0.5)
    assert not announcements(api, READER, "Daily digest")

    harness.clock.set(datetime(2025, 3, 1, 8, 0, 1, tzinfo=UTC))
    harness.poke()
    wait_until(lambda: bool(announcements(api, READER, "Daily digest")))
    harness.poke()
    time.sleep(0.5)
    [digest] = announcements(api, READER, "Daily digest")
    assert digest["text"].startswith("Daily digest of #iyiou, 2025-03-01")
    assert "2 articles" in digest["text"]
    assert digest["text"].index("城堡与护城河") < digest["text"].index("白尾雀鲷的珊瑚礁生活")  # newest first
    assert {e["url"] for e in digest["entities"] if e["type"] == "text_link"} >= {NEW_URL}
    assert not announcements(api, OTHER, "Daily digest")  # nothing new under mingpao: no message

    harness.clock.set(datetime(2025, 3, 2, 8, 0, 1, tzinfo=UTC))  # the next day, nothing new
    harness.poke()
    time.sleep(0.5)
    assert len(announcements(api, READER, "Daily digest")) == 1
    no_bad_requests(api)


def test_a_restart_in_the_middle_of_a_broadcast_resumes_without_duplicates(corpus_dir: Path, tmp_path: Path,
                                                                         tokenizer: Tokenizer) -> None:
    followers = list(range(20001, 20031))
    with BotApiServer(token=TOKEN) as api:
        harness = Harness(api, corpus_dir, tmp_path, tokenizer, broadcast_per_second=10.0).start()
        try:
            follow_all(api, followers, "iyiou", WAIT)
            harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
            wait_until(lambda: sum(bool(announcements(api, c, "白尾雀鲷")) for c in followers) >= 8)
            harness.stop()  # mid-broadcast: 10 a second, 30 followers
            reached = sum(bool(announcements(api, c, "白尾雀鲷")) for c in followers)
            assert 8 <= reached < len(followers)
            harness.start()
            wait_until(lambda: all(announcements(api, c, "白尾雀鲷") for c in followers))
            time.sleep(0.5)
            assert Counter(len(announcements(api, c, "白尾雀鲷")) for c in followers) == {1: len(followers)}
        finally:
            harness.stop()


def test_a_sigkill_in_the_middle_of_a_broadcast_resumes_it_after_the_restart(tmp_path: Path) -> None:
    """``python -m bot telegram`` killed while it delivers a new article to 40 followers, 8 a second: after
    the restart every follower has it, and only a message in flight at the kill may have gone twice."""
    followers = list(range(40001, 40041))
    write_files(tmp_path / "corpus", dict(SMALL_CORPUS))
    processes: list[BotProcess] = []
    with BotApiServer(token=TOKEN) as api:
        try:
            bot = BotProcess(api, tmp_path, TOKEN, ARTICLEBOT_BROADCAST_RATE="8").start()
            processes.append(bot)
            follow_all(api, followers, "iyiou", START)
            (tmp_path / "corpus" / "fish.md").write_text(article("白尾雀鲷的珊瑚礁生活", "iyiou"), encoding="utf-8")
            assert bot.process is not None
            bot.process.send_signal(signal.SIGHUP)  # re-index now: the article is new
            wait_until(lambda: sum(bool(announcements(api, c, "白尾雀鲷")) for c in followers) >= 10, START)
            bot.kill()
            reached = sum(bool(announcements(api, c, "白尾雀鲷")) for c in followers)
            assert reached < len(followers), "the broadcast ended before the kill"
            bot = BotProcess(api, tmp_path, TOKEN, ARTICLEBOT_BROADCAST_RATE="8").start()
            processes.append(bot)
            wait_until(lambda: all(announcements(api, c, "白尾雀鲷") for c in followers), START)
            time.sleep(1)
        finally:
            for process in processes:
                if process.process is not None and process.process.poll() is None:
                    process.stop()
    copies = Counter(len(announcements(api, c, "白尾雀鲷")) for c in followers)
    assert set(copies) <= {1, 2} and copies[2] <= 1, copies


def test_broadcasts_are_paced_by_the_bot_and_429_and_5xx_are_survived(corpus_dir: Path, tmp_path: Path,
                                                                    tokenizer: Tokenizer) -> None:
    followers = list(range(30001, 30061))
    with BotApiServer(token=TOKEN) as api:
        harness = Harness(api, corpus_dir, tmp_path, tokenizer, broadcast_per_second=25.0).start()
        try:
            follow_all(api, followers, "iyiou", WAIT)
            api.flood_control(30)
            api.fail_next("sendMessage", "500")
            harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
            wait_until(lambda: all(announcements(api, c, "白尾雀鲷") for c in followers))
            api.fail_next("sendMessage", "429", retry_after=1)
            harness.add("castle.md", article("城堡与护城河", "iyiou", url="https://www.iyiou.com/news/castle"))
            wait_until(lambda: all(announcements(api, c, "城堡与护城河") for c in followers))
            time.sleep(0.3)
        finally:
            harness.stop()
    sends = [c for c in api.calls_to("sendMessage") if c.params["chat_id"] in followers and c.ok
             and "白尾雀鲷的珊瑚礁生活" in c.params["text"]]
    assert len(sends) == len(followers)
    floods = [c for c in api.calls_to("sendMessage") if c.status == 429 and "retry after 1" in str(c.response)
              and c.params["chat_id"] in followers]
    assert len(floods) == 1  # the injected one: the pace itself never met flood control
    times = sorted(c.time for c in sends)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 15 <= rate <= 27, rate
    for title in ("白尾雀鲷", "城堡与护城河"):
        assert Counter(len(announcements(api, c, title)) for c in followers) == {1: len(followers)}


def test_broadcast_status_and_stats_show_follows_and_deliveries(harness: Harness) -> None:
    harness.say(READER, "/follow iyiou")
    harness.say(OTHER, "/follow iyiou daily")
    assert "only the bot's admins" in harness.say(READER, "/broadcast_status")["text"]
    harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
    wait_until(lambda: bool(announcements(harness.api, READER, "白尾雀鲷")))
    status = harness.say(ADMIN, "/broadcast_status")["text"]
    assert "Follows: 2 in 2 chat(s); 1 of them daily" in status
    assert "1 sent" in status and "Queued now: 0" in status and "#iyiou 2" in status
    assert "Daily digests at 08:00 UTC; next 2025-03-01 08:00" in status
    stats = harness.say(ADMIN, "/stats")["text"]
    assert "Follows per tag" in stats and "#iyiou 2" in stats
    assert f"{time.strftime('%Y-%m-%d')}: 1" in stats.split("Deliveries to followers per day", 1)[1]


def test_allowed_chat_ids_apply_to_deliveries(corpus_dir: Path, tmp_path: Path, tokenizer: Tokenizer) -> None:
    with BotApiServer(token=TOKEN) as api:
        harness = Harness(api, corpus_dir, tmp_path, tokenizer, allowed_chat_ids=frozenset({READER})).start()
        try:
            harness.say(READER, "/follow iyiou")
            assert "only answers in the chats" in harness.say(OTHER, "/follow iyiou")["text"]
            harness.say(ADMIN, "/follow iyiou")  # admins are served everywhere, their own chat too
            assert harness.dialogue is not None
            harness.dialogue.state.follow(123456, OTHER, "iyiou", "iyiou", False, None)  # followed before the list
            harness.add("fish.md", article("白尾雀鲷的珊瑚礁生活", "iyiou"))
            wait_until(lambda: bool(announcements(api, READER, "白尾雀鲷")) and bool(announcements(api, ADMIN, "白尾雀鲷")))
            time.sleep(0.5)
            assert not announcements(api, OTHER, "白尾雀鲷")
        finally:
            harness.stop()


# --- the pure parts ---------------------------------------------------------------------------

class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_spaces_broadcasts_and_lets_answers_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = Ticks()
    pacer = Pacer(25, clock=ticks)
    starts: list[float] = []

    async def run() -> None:
        for chat in range(1, 6):
            await pacer.slot(chat)
            starts.append(ticks.now)
            ticks.now += 0.001

    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        ticks.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    asyncio.run(run())
    monkeypatch.undo()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(abs(gap - 0.04) < 0.0015 for gap in gaps), gaps
    before = pacer._next
    pacer.note(99)  # an answer: not held, but the next broadcast waits one slot more
    assert pacer._next == pytest.approx(max(before, ticks.now) + 0.04)


def test_the_pacer_keeps_20_a_minute_per_group_and_one_a_second_per_private_chat() -> None:
    ticks = Ticks()
    pacer = Pacer(1000, clock=ticks)
    for _ in range(20):
        pacer.note(GROUP)
        ticks.now += 1
    assert pacer.ready_at(GROUP) == pytest.approx(1000 + 60)
    assert GROUP in pacer.waiting()
    ticks.now = 1061
    assert pacer.ready_at(GROUP) <= ticks.now and GROUP not in pacer.waiting()
    pacer.note(READER)
    assert pacer.ready_at(READER) == pytest.approx(ticks.now + 1)


def test_digest_moments_follow_the_wall_clock_of_their_zone() -> None:
    shanghai = "Asia/Shanghai"
    at = datetime(2025, 3, 1, 7, 59, tzinfo=ZoneInfo(shanghai)).timestamp()
    assert datetime.fromtimestamp(latest_digest_moment(at, 8, shanghai), ZoneInfo(shanghai)) == \
        datetime(2025, 2, 28, 8, 0, tzinfo=ZoneInfo(shanghai))
    assert datetime.fromtimestamp(next_digest_moment(at, 8, shanghai), ZoneInfo(shanghai)) == \
        datetime(2025, 3, 1, 8, 0, tzinfo=ZoneInfo(shanghai))
    berlin = ZoneInfo("Europe/Berlin")  # summer time begins on 30 March 2025: still 08:00 local
    after = datetime(2025, 3, 30, 9, 0, tzinfo=berlin).timestamp()
    assert datetime.fromtimestamp(latest_digest_moment(after, 8, "Europe/Berlin"), berlin).hour == 8
    assert next_digest_moment(after, 8, "Europe/Berlin") - latest_digest_moment(after, 8, "Europe/Berlin") == 86400
    before_change = datetime(2025, 3, 29, 9, 0, tzinfo=berlin).timestamp()
    assert next_digest_moment(before_change, 8, "Europe/Berlin") - \
        latest_digest_moment(before_change, 8, "Europe/Berlin") == 23 * 3600


def test_each_chat_and_article_is_queued_once_whatever_tags_match(state_target: str, small_library: Library) -> None:
    state = State(state_target)
    dialogue = Dialogue(Engine.over(small_library), state)
    dialogue.following = dataclasses.replace(dialogue.following, bot_id=1)
    news = next(a for a in small_library.articles if "iyiou" in a.tags)
    state.follow(1, READER, "iyiou", "iyiou", False, None)
    state.follow(1, READER, "ai", "AI", False, None)
    state.follow(1, OTHER, "ai", "AI", False, "zh")
    engine = dialogue.engine
    first = dialogue.announcements(engine, [news], lambda chat: True)
    assert sum(len(d.chats) for d in first) == 2
    assert state.queue_deliveries(1, first) == 2
    again = dialogue.announcements(engine, [news], lambda chat: True)
    assert state.queue_deliveries(1, again) == 0  # announced twice: still once per chat
    assert state.pending_deliveries(1) == 2
    assert dialogue.announcements(engine, [news], lambda chat: chat == OTHER)[0].chats == (OTHER,)
    state.close()
    reopened = State(state_target)
    assert [f.name for f in reopened.follows_of(1, READER)] == ["iyiou", "AI"]  # follows survive restarts
    assert reopened.pending_deliveries(1) == 2


def test_replicas_send_a_broadcast_once_in_all_and_take_over_a_dead_sender_s_rows(
        postgres_server: Any, small_library: Library, tmp_path: Path) -> None:
    """Two replicas' broadcasters over one PostgreSQL outbox, and the claims of a third that took five
    rows and died: every follower gets the message exactly once, the dead one's five once its claim
    expired. One replica sends at a time (the pace holds for the bot); when it stops, the other takes
    over the next article."""
    url = postgres_server.fresh_database()
    bot_id = int(TOKEN.split(":")[0])
    with BotApiServer(token=TOKEN) as api:
        chats = list(range(30001, 30021))
        for chat in chats:
            api.send_text(chat, "/start")  # the chats exist (Telegram refuses a send to an unknown chat)
        dead = State(url, owner="replica-dead", outbox_lease=1.0)
        for _ in range(2):  # both replicas saw the new article: queued once all the same
            dead.queue_deliveries(bot_id, [Delivery("a:fish.md", "<b>Fish</b> (/following)", (), tuple(chats))])
        held = dead.due_deliveries(bot_id, time.time(), 5)
        assert len(held) == 5
        dead.close()

        async def serve() -> None:
            applications = []
            for n in range(2):
                settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                                    state_path=tmp_path / f"unused-{n}.sqlite", rate_limit_per_minute=1000)
                dialogue = Dialogue(Engine.over(small_library), State(url, owner=f"replica-{n}"))
                application = build_application(settings, dialogue, overall_rate=1000)
                await application.initialize()
                await application.bot_data.broadcaster.start(application.bot)  # type: ignore[union-attr]
                applications.append(application)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and not all(sent_to(api, chat) for chat in chats):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a duplicate close behind is counted too
            senders = [a for a in applications if a.bot_data.broadcaster._leader is not None]  # type: ignore[union-attr]
            assert len(senders) == 1
            await senders[0].bot_data.broadcaster.stop()  # type: ignore[union-attr]
            other = State(url, owner="editor")
            other.queue_deliveries(bot_id, [Delivery("a:reef.md", "<b>Reef</b> (/following)", (), tuple(chats))])
            other.close()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and not all(len(sent_to(api, chat)) == 2 for chat in chats):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            for application in applications:
                await application.bot_data.broadcaster.stop()  # type: ignore[union-attr]
                await application.shutdown()
                application.bot_data.dialogue.state.close()  # type: ignore[union-attr]

        asyncio.run(serve())
        assert {chat: len(sent_to(api, chat)) for chat in chats} == {chat: 2 for chat in chats}
        no_bad_requests(api)
