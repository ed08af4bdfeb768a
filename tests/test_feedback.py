"""Votes, /settings, /stats and allowed chats, end to end: python-telegram-bot over real HTTP.

The bot runs against the Bot API stand-in (tests/support/botapi.py) with its state in a real SQLite
file; restarts are real too (the Application stopped, a new one started on the same file), and
`articlebot report` is run as a subprocess on the file the bot wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.botapi import BotApiServer
from support.bots import RunningBot, buttons, no_bad_requests, replies_to
from test_telegram import TOKEN

from bot.config import Settings
from bot.engine.engine import Engine
from bot.search.library import Library
from bot.telegram.database import is_postgres_url
from bot.telegram.dialogue import Dialogue
from bot.telegram.state import State

USER = 4242
OTHER = 5151
ADMIN = 777
STRANGER = 9999
GROUP = -100123
OTHER_GROUP = -100999
BOT = "@articlebot_test_bot"
QUESTION = "DeepSeek V3 的训练成本是多少？"
NOTHING = "how to bake a chocolate cake"

Start = Callable[..., RunningBot]


@pytest.fixture
def api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


@pytest.fixture
def state_target(backend: str, state_path: Path, request: pytest.FixtureRequest) -> str:
    """The bot's state: the SQLite file at ``state_path``, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return str(state_path)
    return str(request.getfixturevalue("postgres_server").fresh_database())


@pytest.fixture
def start(api: BotApiServer, state_path: Path, state_target: str, bundled_library: Library) -> Iterator[Start]:
    """Starts a bot on the stand-in and the state file (again after ``stop``: a restart)."""
    running: list[RunningBot] = []

    def start_bot(**overrides: Any) -> RunningBot:
        settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url, state_path=state_path,
                            rate_limit_per_minute=1000, admin_user_ids=frozenset({ADMIN}), **overrides)
        dialogue = Dialogue(Engine.over(bundled_library), State(state_target))
        bot = RunningBot(api, settings, dialogue).start()
        running.append(bot)
        return bot

    yield start_bot
    for bot in running:
        bot.stop()
        bot.application.bot_data.dialogue.state.close()  # type: ignore[union-attr]


def state_of(bot: RunningBot) -> State:
    dialogue = bot.application.bot_data.dialogue
    assert dialogue is not None
    return dialogue.state


def press(api: BotApiServer, message: dict, data: str, user_id: int) -> str | None:
    """Tap a button and return the toast the bot answered the tap with (None: no text)."""
    query_id = api.press(message, data, user_id=user_id)
    [call] = api.wait_for(lambda c: c.method == "answerCallbackQuery"
                          and str(c.params.get("callback_query_id")) == query_id, timeout=20)
    return call.params.get("text")


def vote_buttons(message: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for b in buttons(message) if b.get("callback_data", "").startswith("f:")}


def edits_of(api: BotApiServer, chat_id: int, message_id: int, count: int = 1) -> list[dict]:
    """The first ``count`` edits of a message, waiting for them (paging answers the tap first)."""
    calls = api.wait_for(lambda c: c.method == "editMessageText" and c.params["chat_id"] == chat_id
                         and c.params["message_id"] == message_id, count=count, timeout=20)
    return [c.result for c in calls]


# --- votes -----------------------------------------------------------------------------------

def test_answers_carry_votes_and_a_second_press_changes_the_vote(api: BotApiServer, start: Start) -> None:
    bot = start()
    api.send_text(USER, QUESTION)
    [answer] = replies_to(api, USER)
    votes = vote_buttons(answer)
    assert list(votes) == ["👍", "👎"]
    assert all(len(data.encode()) <= 64 for data in votes.values())
    assert press(api, answer, votes["👍"], USER) == "Thanks! Your 👍 is noted."
    assert press(api, answer, votes["👎"], USER) == "Changed to 👎."
    assert press(api, answer, votes["👎"], USER) == "You already gave this 👎."
    assert press(api, answer, votes["👍"], OTHER) == "Thanks! Your 👍 is noted."  # one vote per user
    assert sorted((v.user_id, v.vote, v.question) for v in state_of(bot).votes(0)) == [
        (USER, -1, QUESTION), (OTHER, 1, QUESTION)]
    assert len(replies_to(api, USER)) == 1 and not api.calls_to("editMessageText")  # a vote sends nothing
    no_bad_requests(api)


def test_pages_of_an_answer_keep_their_vote_buttons(api: BotApiServer, start: Start) -> None:
    start()
    api.send_text(USER, "DeepSeek")
    [answer] = replies_to(api, USER)
    more = next(b for b in buttons(answer) if "More" in b["text"])
    press(api, answer, more["callback_data"], USER)
    [paged] = edits_of(api, USER, answer["message_id"])
    assert vote_buttons(paged) == vote_buttons(answer)
    no_bad_requests(api)


# --- /settings ---------------------------------------------------------------------------------

def test_settings_change_in_place_and_shape_answers_across_a_restart(api: BotApiServer, start: Start) -> None:
    bot = start()
    api.send_text(USER, QUESTION)
    [answer] = replies_to(api, USER)
    assert press(api, answer, vote_buttons(answer)["👍"], USER)
    api.send_text(USER, "/settings")
    menu = replies_to(api, USER, count=2)[1]
    assert "Settings for this chat" in menu["text"] and "Quotes per answer: 3" in menu["text"]
    assert "✓ 3" in [b["text"] for b in buttons(menu)]
    assert press(api, menu, "cs:k:1", USER) == "Saved."
    assert "Quotes per answer: 1" in edits_of(api, USER, menu["message_id"])[-1]["text"]
    assert press(api, menu, "cs:l:zh", USER) == "已保存。"
    redrawn = edits_of(api, USER, menu["message_id"], count=2)[-1]
    assert "本聊天的设置" in redrawn["text"] and "✓ 中文" in [b["text"] for b in buttons(redrawn)]

    bot.stop()
    state_of(bot).close()
    start()  # a restart: a new Application and State on the same file
    assert press(api, answer, vote_buttons(answer)["👎"], USER) == "已改为 👎。"
    api.send_text(USER, "DeepSeek", language_code="en")
    fresh = replies_to(api, USER, count=3)[2]
    assert fresh["text"].startswith("1.") and "\n2." not in fresh["text"]  # one quote per page
    labels = [b["text"] for b in buttons(fresh)]
    assert "摘要" in labels and "更多 ▸" in labels  # the chat's language, not the user's
    more = next(b for b in buttons(fresh) if b["text"] == "更多 ▸")
    press(api, fresh, more["callback_data"], USER)
    [page_two] = edits_of(api, USER, fresh["message_id"])
    assert page_two["text"].startswith("2.") and "\n3." not in page_two["text"]
    no_bad_requests(api)


def test_in_groups_only_admins_change_the_settings(api: BotApiServer, start: Start) -> None:
    bot = start()
    api.send_text(GROUP, "/settings", chat_type="supergroup", user_id=USER)
    [menu] = replies_to(api, GROUP)
    assert press(api, menu, "cs:l:zh", USER) == "Sorry, only the bot's admins can change this group's settings."
    assert state_of(bot).chat_settings(GROUP).lang is None and not api.calls_to("editMessageText")
    assert press(api, menu, "cs:l:zh", ADMIN) == "已保存。"
    assert state_of(bot).chat_settings(GROUP).lang == "zh"
    api.send_text(GROUP, f"{BOT} 英伟达股价", chat_type="supergroup", user_id=USER)
    answer = replies_to(api, GROUP, count=2)[1]
    assert "摘要" in [b["text"] for b in buttons(answer)]
    assert press(api, menu, "cs:l:auto", ADMIN) == "Saved."  # back to each user's own language
    redrawn = edits_of(api, GROUP, menu["message_id"], count=2)[-1]
    assert "Settings for this chat" in redrawn["text"] and "✓ each user's own" in [b["text"] for b in buttons(redrawn)]
    assert state_of(bot).chat_settings(GROUP).lang is None
    no_bad_requests(api)


# --- /stats and `articlebot report` ----------------------------------------------------------

def report_json(target: str, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    env["ARTICLEBOT_STATE_URL" if is_postgres_url(target) else "ARTICLEBOT_STATE"] = target
    result = subprocess.run([sys.executable, "-m", "bot", "report", "--json"], check=False,
                            capture_output=True, text=True,
                            timeout=120, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_stats_is_refused_to_readers_and_counts_real_questions_for_admins(
        api: BotApiServer, start: Start, state_target: str, tmp_path: Path) -> None:
    start()
    api.send_text(USER, QUESTION)
    api.send_text(USER, NOTHING)
    answers = replies_to(api, USER, count=2)
    answered = next(a for a in answers if "557.6万美元" in a["text"])
    assert press(api, answered, vote_buttons(answered)["👎"], USER)
    api.send_text(GROUP, "英伟达股价", chat_type="supergroup", user_id=USER)  # not addressed: not logged
    api.send_text(GROUP, f"{BOT} 英伟达股价", chat_type="supergroup", user_id=USER)
    api.send_text(USER, "/tag iyiou")
    replies_to(api, GROUP)
    replies_to(api, USER, count=3)

    api.send_text(USER, "/stats")
    refusal = replies_to(api, USER, count=4)[3]
    assert refusal["text"] == "Sorry, only the bot's admins can use that command."
    api.send_text(ADMIN, "/stats")
    [stats] = replies_to(api, ADMIN)
    text = stats["text"]
    assert "Last 7 day(s)" in text and "Questions: 3, nothing found: 1 (33%)" in text
    assert f"1× {NOTHING}" in text and f"1👎 0👍 {QUESTION}" in text and "1× #iyiou" in text
    api.send_text(ADMIN, "/stats 0")
    assert "Usage: /stats" in replies_to(api, ADMIN, count=2)[1]["text"]

    report = report_json(state_target, tmp_path)
    assert (report["questions"], report["nothing"], report["down"]) == (3, 1, 1)
    assert report["chat_types"] == {"private": 2, "supergroup": 1}
    assert report["per_day"][-1]["questions"] == 3
    assert report["unanswered"] == [{"text": NOTHING, "times": 1}]
    assert report["disliked"] == [{"question": QUESTION, "down": 1, "up": 0}]
    assert report["tags"] == [{"text": "iyiou", "times": 1}]
    assert 0 < report["latency_p50_ms"] <= report["latency_p99_ms"]
    assert report["usage"]["question"] == 3 and report["usage"]["/tag"] == 1 and report["usage"]["button"] == 1
    assert report["usage"]["/stats"] == 3
    assert len(replies_to(api, GROUP)) == 1  # the unaddressed message was left alone
    no_bad_requests(api)


# --- allowed chats ----------------------------------------------------------------------------

def test_only_allowed_chats_are_answered_and_others_politely_refused(api: BotApiServer, start: Start) -> None:
    bot = start(allowed_chat_ids=frozenset({USER, GROUP}))
    refusal = "Sorry, this bot only answers in the chats it was set up for."
    api.send_text(STRANGER, QUESTION)
    [refused] = replies_to(api, STRANGER)
    assert refused["text"] == refusal
    api.send_text(OTHER_GROUP, QUESTION, chat_type="supergroup", user_id=USER)  # chatter: no answer at all
    api.send_text(OTHER_GROUP, f"{BOT} {QUESTION}", chat_type="supergroup", user_id=USER)
    [refused_group] = replies_to(api, OTHER_GROUP)
    assert refused_group["text"] == refusal
    api.send_text(USER, QUESTION)
    api.send_text(GROUP, f"{BOT} {QUESTION}", chat_type="supergroup", user_id=STRANGER)
    api.send_text(ADMIN, QUESTION)  # admins are served everywhere
    for chat in (USER, GROUP, ADMIN):
        [answer] = replies_to(api, chat)
        assert "557.6万美元" in answer["text"]

    stranger_query = api.inline_query(STRANGER, "DeepSeek")
    user_query = api.inline_query(USER, "DeepSeek")
    answers = {str(c.params["inline_query_id"]): c.params for c in api.wait_for("answerInlineQuery", count=2)}
    assert answers[stranger_query]["results"] == [] and answers[stranger_query]["button"]["text"] == refusal
    assert len(answers[user_query]["results"]) >= 1 and "button" not in answers[user_query]

    assert not [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] in (STRANGER, OTHER_GROUP)]
    assert len(state_of(bot).logged_questions(0)) == 3  # nothing from the refused chats
    assert len(replies_to(api, OTHER_GROUP)) == 1
    no_bad_requests(api)
