"""The bot end to end: python-telegram-bot over real HTTP to the local Bot API stand-in.

Nothing in articlebot is mocked; only Telegram's servers are replaced (by tests/support/botapi.py,
which enforces the real API's rules and answers 400 where Telegram would).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.botapi import BotApiServer
from support.bots import RunningBot, buttons, no_bad_requests, replies_to

from bot.config import Settings
from bot.engine.engine import Engine
from bot.search.library import Library
from bot.telegram.app import SharedRateLimiter
from bot.telegram.dialogue import Dialogue
from bot.telegram.state import State

CORPUS = Path(__file__).parents[1] / "corpus"
TOKEN = "123456:ABC-def_ghi-secret-token"
USER = 4242


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return Library.open(Settings(corpus=(CORPUS,), cache_dir=tmp_path_factory.mktemp("cache")))


@pytest.fixture
def bot(library: Library, tmp_path: Path, state_target: str) -> Iterator[tuple[BotApiServer, RunningBot]]:
    """The bot over its state in SQLite or in PostgreSQL (every test using it runs on both)."""
    with BotApiServer(token=TOKEN) as api:
        settings = Settings(corpus=(CORPUS,), telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                            state_path=tmp_path / "state.sqlite", rate_limit_per_minute=1000)
        dialogue = Dialogue(Engine.over(library), State(state_target))
        running = RunningBot(api, settings, dialogue).start()
        try:
            yield api, running
        finally:
            running.stop()


# --- private chats -------------------------------------------------------------------------

def test_a_private_question_gets_quotes_with_sources_and_buttons(bot) -> None:
    api, _ = bot
    _, asked = api.send_text(USER, "DeepSeek V3 的训练成本是多少？")
    [answer] = replies_to(api, USER)
    assert "557.6万美元" in answer["text"]
    assert any(e["type"] == "blockquote" for e in answer["entities"])
    links = [e["url"] for e in answer["entities"] if e["type"] == "text_link"]
    assert any(url.startswith("https://www.iyiou.com/news/202502101089862") for url in links)
    labels = [b["text"] for b in buttons(answer)]
    assert "Summary" in labels and "Source" in labels
    [typing] = [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] == USER]
    assert typing.params["action"] == "typing"
    reply_to = api.calls_to("sendMessage")[-1].params.get("reply_parameters", {})
    assert reply_to.get("message_id") == asked["message_id"]
    no_bad_requests(api)


def test_more_pages_in_place_and_summary_sends_a_new_message(bot) -> None:
    api, _ = bot
    api.send_text(USER, "DeepSeek")
    [answer] = replies_to(api, USER)
    more = next(b for b in buttons(answer) if "More" in b["text"])
    api.press(answer, more["callback_data"], user_id=USER)
    [edit] = api.wait_for("editMessageText")
    assert edit.params["message_id"] == answer["message_id"]
    assert edit.result["text"] != answer["text"] and edit.result["text"].startswith("4.")
    paged = api.current_message(USER, answer["message_id"])
    summary = next(b for b in buttons(paged) if b["text"] == "Summary")
    api.press(paged, summary["callback_data"], user_id=USER)
    messages = replies_to(api, USER, count=2)
    assert "Extractive summary" in messages[1]["text"] or "author" in messages[1]["text"]
    assert len(api.calls_to("answerCallbackQuery")) == 2
    no_bad_requests(api)


def test_nothing_relevant_says_so_and_offers_tags(bot) -> None:
    api, _ = bot
    api.send_text(USER, "how to bake a chocolate cake")
    [answer] = replies_to(api, USER)
    assert "Nothing in the articles answers" in answer["text"]
    assert buttons(answer) and all(b["text"].startswith("#") for b in buttons(answer))
    tag_button = buttons(answer)[0]
    api.press(answer, tag_button["callback_data"], user_id=USER)
    digest = replies_to(api, USER, count=2)[1]
    assert tag_button["text"].lstrip("#") in digest["text"]
    no_bad_requests(api)


def test_chinese_users_get_chinese_interface(bot) -> None:
    api, _ = bot
    api.send_text(USER, "/help", language_code="zh-hans")
    [help_text] = replies_to(api, USER)
    assert "直接输入问题" in help_text["text"]
    api.send_text(USER, "英伟达股价", language_code="zh-hans")
    answer = replies_to(api, USER, count=2)[1]
    assert "摘要" in [b["text"] for b in buttons(answer)]


def test_every_command_answers_once(bot) -> None:
    api, _ = bot
    commands = ["/start", "/help", "/about", "/tags", "/tag iyiou", "/latest 3", "/source DeepSeek",
                "/ask 英伟达股价", "/ask", "/tag", "/nonsense", "/start tag_iyiou"]
    for command in commands:
        api.send_text(USER, command)
    answers = replies_to(api, USER, count=len(commands))
    texts = [a["text"] for a in answers]
    assert len(answers) == len(commands)
    assert any("iyiou" in t for t in texts)
    assert any("don't know that command" in t for t in texts)
    assert any("Usage: /ask" in t for t in texts)
    commands_set = api.calls_to("setMyCommands")
    assert {c.params.get("language_code") for c in commands_set} >= {None, "zh"}
    no_bad_requests(api)


def test_tags_page_and_tag_digest_buttons_work(bot) -> None:
    api, _ = bot
    api.send_text(USER, "/tags")
    [listing] = replies_to(api, USER)
    tag_buttons = [b for b in buttons(listing) if b.get("callback_data", "").startswith(("tn:", "t:"))]
    assert tag_buttons
    for b in buttons(listing):
        assert len(b.get("callback_data", "").encode()) <= 64
    api.press(listing, tag_buttons[0]["callback_data"], user_id=USER)
    digest = replies_to(api, USER, count=2)[1]
    assert "1." in digest["text"]
    no_bad_requests(api)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["<b>DeepSeek</b> & <script>", "x" * 10_000, "😀😀😀", "？？？", "   "])
def test_hostile_or_empty_questions_get_a_clear_answer(bot, text: str) -> None:
    api, _ = bot
    api.send_text(USER, text)
    [answer] = replies_to(api, USER)
    assert answer["text"].strip()
    no_bad_requests(api)


def test_stickers_and_photos_are_told_to_send_text(bot) -> None:
    api, _ = bot
    api.send_sticker(USER)
    api.send_photo(USER)
    answers = replies_to(api, USER, count=2)
    assert all("only read text" in a["text"] for a in answers)


# --- groups -----------------------------------------------------------------------------

GROUP = -100123


def test_groups_answer_only_when_addressed(bot) -> None:
    api, _ = bot
    api.send_text(GROUP, "DeepSeek V3 的训练成本是多少？", chat_type="supergroup", user_id=USER)
    api.send_text(GROUP, "@articlebot_test_bot DeepSeek V3 的训练成本是多少？", chat_type="supergroup",
                  user_id=USER)
    [answer] = replies_to(api, GROUP)
    assert "557.6万美元" in answer["text"]
    api.send_text(GROUP, "/ask 英伟达股价", chat_type="supergroup", user_id=USER)
    _, follow_up = api.send_text(GROUP, "那 R1 呢？", chat_type="supergroup", user_id=USER, reply_to=answer)
    replies_to(api, GROUP, count=3)
    [reply] = [c.result for c in api.calls_to("sendMessage")
               if c.ok and c.params.get("reply_parameters", {}).get("message_id") == follow_up["message_id"]]
    assert "R1" in reply["text"]
    api.send_text(GROUP, "/nonsense", chat_type="supergroup", user_id=USER)
    with pytest.raises(AssertionError):
        replies_to(api, GROUP, count=4, timeout=2)
    no_bad_requests(api)


# --- inline -----------------------------------------------------------------------------

def test_inline_queries_get_up_to_ten_ready_to_send_quotes(bot) -> None:
    api, _ = bot
    api.inline_query(USER, "DeepSeek")
    api.inline_query(USER, "")
    calls = api.wait_for("answerInlineQuery", count=2)
    for call in calls:
        results = call.params["results"]
        assert 1 <= len(results) <= 10
        assert len({r["id"] for r in results}) == len(results)
        assert all(r["input_message_content"]["parse_mode"] == "HTML" for r in results)
    no_bad_requests(api)


# --- the event loop -----------------------------------------------------------------------

def on_event_loop() -> bool:
    """Whether the caller runs on a thread whose event loop is running (where nothing may block)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Watched:
    """Wraps every public method of an object's class, noting those called on the event loop."""

    def __init__(self, kind: type, skip: frozenset[str] = frozenset()) -> None:
        self.on_loop: list[str] = []
        self.methods = [name for name, value in vars(kind).items()
                        if callable(value) and not name.startswith("_") and name not in skip]

    def watch(self, target: object) -> None:
        for name in self.methods:
            def noting(*args: object, _name: str = name, _method=getattr(target, name), **kwargs: object) -> object:
                if on_event_loop():
                    self.on_loop.append(_name)
                return _method(*args, **kwargs)
            setattr(target, name, noting)


def test_no_state_file_call_and_no_search_runs_on_the_event_loop(library: Library, tmp_path: Path,
                                                                 state_target: str) -> None:
    """While a coroutine blocks, every other chat waits: the dialogue and the state (a file or a shared
    database, whose rate limits are counted too) are worked in threads (``say`` is plain string
    formatting, and ``swap`` one assignment)."""
    state_calls, dialogue_calls = Watched(State, skip=frozenset({"close"})), Watched(Dialogue, skip=frozenset(
        {"say", "swap"}))
    with BotApiServer(token=TOKEN) as api:
        settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                            state_path=tmp_path / "state.sqlite", rate_limit_per_minute=1000)
        state = State(state_target)
        dialogue = Dialogue(Engine.over(library), state)
        state_calls.watch(state)
        dialogue_calls.watch(dialogue)
        running = RunningBot(api, settings, dialogue).start()
        try:
            api.send_text(USER, "DeepSeek")
            [answer] = replies_to(api, USER)
            commands = ("/start", "/help", "/about", "/tags", "/tag iyiou", "/latest 2", "/source DeepSeek",
                        "/settings", "/stats", "/nonsense")
            for command in commands:
                api.send_text(USER, command)
            menu = next(a for a in replies_to(api, USER, count=1 + len(commands))
                        if a["text"].startswith("Settings for this chat"))
            api.send_text(USER, "那 R1 呢？", reply_to=answer)
            api.send_sticker(USER)
            presses = [b["callback_data"] for b in buttons(answer) if "callback_data" in b]
            for data in presses:  # More, Summary, 👍, 👎
                api.press(answer, data, user_id=USER)
            api.press(menu, "cs:k:1", user_id=USER)
            api.inline_query(USER, "DeepSeek")
            api.wait_for("answerInlineQuery")
            api.wait_for("answerCallbackQuery", count=len(presses) + 1)
            replies_to(api, USER, count=len(commands) + 4)  # and the follow-up, the sticker, the summary
        finally:
            running.stop()
            state.close()
    assert state_calls.on_loop == [] and dialogue_calls.on_loop == []
    no_bad_requests(api)


# --- faults -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["429", "500", "502", "drop"])
def test_api_faults_are_retried_and_answer_exactly_once(bot, fault: str) -> None:
    api, _ = bot
    api.fail_next("sendMessage", fault, times=1, retry_after=1)
    api.send_text(USER, "英伟达股价")
    [answer] = replies_to(api, USER)
    assert "英伟达" in answer["text"] or "英偉達" in answer["text"]
    delivered = [c for c in api.calls_to("sendMessage") if c.ok]
    assert len(delivered) == 1


def test_a_failing_update_gets_an_apology_and_the_bot_keeps_serving(bot) -> None:
    api, running = bot
    dialogue = running.application.bot_data.dialogue
    dialogue.state.close()
    api.send_text(USER, "英伟达股价")
    [apology] = replies_to(api, USER)
    assert "Sorry" in apology["text"]
    dialogue.state = State(":memory:")
    api.send_text(USER, "英伟达股价")
    answers = replies_to(api, USER, count=2)
    assert "英伟达" in answers[1]["text"]


def test_rate_limit_answers_politely(library: Library, tmp_path: Path, state_target: str) -> None:
    with BotApiServer(token=TOKEN) as api:
        settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                            state_path=tmp_path / "s.sqlite", rate_limit_per_minute=2)
        running = RunningBot(api, settings, Dialogue(Engine.over(library), State(state_target))).start()
        try:
            for _ in range(3):
                api.send_text(USER, "DeepSeek")
            answers = replies_to(api, USER, count=3)
            assert sum("faster than I can answer" in a["text"] for a in answers) == 1
        finally:
            running.stop()


def test_a_state_file_used_with_another_bot_still_answers_that_bots_updates(library: Library, tmp_path: Path,
                                                                           state_target: str) -> None:
    """Telegram numbers each bot's updates on its own (here both start at 1): the second bot's first
    update must not be taken for the first bot's, already answered."""
    state_path = tmp_path / "state.sqlite"
    for token in ("111111:first-bot-token_x", "222222:second-bot-token_y"):
        with BotApiServer(token=token) as api:
            settings = Settings(telegram_token=token, telegram_api_base_url=api.base_url, state_path=state_path,
                                rate_limit_per_minute=1000)
            state = State(state_target)
            running = RunningBot(api, settings, Dialogue(Engine.over(library), state)).start()
            try:
                update_id, _ = api.send_text(USER, "英伟达股价")
                assert update_id == 1
                [answer] = replies_to(api, USER)
                assert "英伟达" in answer["text"] or "英偉達" in answer["text"]
            finally:
                running.stop()
                state.close()


def test_the_token_never_appears_in_logs(bot, caplog: pytest.LogCaptureFixture) -> None:
    api, _ = bot
    caplog.set_level(logging.DEBUG)
    api.fail_next("sendMessage", "500")
    api.send_text(USER, "DeepSeek")
    replies_to(api, USER)
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


def test_two_hundred_chats_at_once_each_get_exactly_one_answer(bot) -> None:
    api, _ = bot
    questions = ["DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price", "iyiou", "半导体"]
    chats = range(10_000, 10_200)
    for chat in chats:
        api.send_text(chat, questions[chat % len(questions)])
    api.wait_for(lambda c: c.method == "sendMessage" and c.ok, count=200, timeout=120)
    delivered = [c.params["chat_id"] for c in api.calls_to("sendMessage") if c.ok]
    assert sorted(delivered) == list(chats)
    no_bad_requests(api)


def test_replicas_sharing_a_database_share_each_user_s_rate_limit(postgres_server: Any) -> None:
    """Behind a load balancer a user's requests alternate between replicas: each replica alone sees
    half of them, the database sees them all, and both replicas refuse the user once over the limit
    (each learns it when counting that user's next request, off the event loop)."""
    url = postgres_server.fresh_database()
    states = [State(url, owner=f"replica-{n}") for n in range(2)]
    limiters = [SharedRateLimiter(4, lambda state=state: state) for state in states]
    allowed = 0
    for n in range(6):
        limiter = limiters[n % 2]
        allowed += limiter.wait_needed(USER) == 0
        limiter.counted()
    assert allowed == 6  # the limit, plus one on each replica before it learns the user went over it
    assert all(limiter.wait_needed(USER) > 0 for limiter in limiters)
    assert limiters[0].wait_needed(USER + 1) == 0  # other users are not held up
    for state in states:
        state.close()
