"""report.py and `articlebot report`: the figures editors read, from a real state file.

A state file is filled through ``State``'s own methods with questions, votes and counters at known
times; the report must count them exactly, leave out what is older than its window, and render
as text, as JSON (also through the real CLI in a subprocess) and as Telegram HTML the stand-in's
parser accepts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import pytest
from support.botapi import MAX_TEXT_UTF16, render_text, utf16_len

from bot.telegram.database import is_postgres_url
from bot.telegram.report import Asked, Day, Disliked, build_report, report_html, report_text
from bot.telegram.state import Delivery, State

DAY = 86400.0
NOON = datetime.combine(date.today(), clock(12)).timestamp()
"""Today at local noon: rows a day or more apart land on distinct local days, whatever the clock says."""


def day(offset: int) -> str:
    return f"{date.today() - timedelta(days=offset):%Y-%m-%d}"


@pytest.fixture
def state(state_target: str) -> State:
    """Seven questions this week (three found nothing), one older, votes and tag counters (in SQLite and
    in PostgreSQL: the report reads either)."""
    state = State(state_target)
    deepseek = state.remember("ask", "DeepSeek 成本", chat_id=1)
    bitcoin = state.remember("ask", "Bitcoin", chat_id=1)
    nvidia = state.remember("ask", "英伟达股价", chat_id=1)
    rows = [("DeepSeek 成本", "private", True, 10.0, 0), ("DeepSeek 成本", "private", True, 20.0, 0),
            ("how to bake a cake", "private", False, 1.0, 0), ("How to  bake a CAKE", "supergroup", False, 2.0, 0),
            ("quantum pizza", "group", False, 3.0, 1), ("Bitcoin", "private", True, 30.0, 2),
            ("英伟达股价", "private", True, 40.0, 6), ("old miss", "private", False, 99.0, 8)]
    for question, chat_type, found, ms, days_ago in rows:
        state.log_question(question, chat_type, found, ms, when=NOON - days_ago * DAY)
    for user in (1, 2):
        state.vote(deepseek, user, -1, when=NOON)
    state.vote(deepseek, 3, 1, when=NOON)
    state.vote(bitcoin, 1, -1, when=NOON - DAY)
    state.vote(nvidia, 1, 1, when=NOON)
    state.vote(nvidia, 2, -1, when=NOON - 9 * DAY)  # outside a week
    for name, times, days_ago in [("tag:iyiou", 3, 0), ("tag:AI", 1, 3), ("tag:old", 5, 9), ("/tag", 4, 0),
                                  ("question", 7, 1), ("inline", 2, 0)]:
        for _ in range(times):
            state.count_usage(name, when=NOON - days_ago * DAY)
    return state


def test_the_week_is_counted_exactly(state: State) -> None:
    report = build_report(state, days=7, now=NOON)
    assert (report.days, report.since, report.until) == (7, day(6), day(0))
    assert (report.questions, report.nothing) == (7, 3)
    assert report.per_day == (Day(day(6), 1, 0), Day(day(5), 0, 0), Day(day(4), 0, 0), Day(day(3), 0, 0),
                              Day(day(2), 1, 0), Day(day(1), 1, 1), Day(day(0), 4, 2))
    latencies = [10.0, 20.0, 1.0, 2.0, 3.0, 30.0, 40.0]
    assert report.latency_p50_ms == statistics.median(latencies) == 10.0
    assert report.latency_p99_ms == max(latencies)
    assert report.chat_types == {"private": 5, "supergroup": 1, "group": 1}


def test_questions_that_found_nothing_are_grouped_and_ranked(state: State) -> None:
    report = build_report(state, days=7, now=NOON)
    assert report.unanswered == (Asked("How to  bake a CAKE", 2), Asked("quantum pizza", 1))
    assert "old miss" not in json.dumps(report.as_json())
    assert build_report(state, days=9, now=NOON).unanswered == (  # ties in alphabetical order
        Asked("How to  bake a CAKE", 2), Asked("old miss", 1), Asked("quantum pizza", 1))


def test_answers_with_the_most_thumbs_down_come_first(state: State) -> None:
    report = build_report(state, days=7, now=NOON)
    assert report.disliked == (Disliked("DeepSeek 成本", 2, 1), Disliked("Bitcoin", 1, 0))
    assert (report.up, report.down) == (2, 3)
    assert build_report(state, days=10, now=NOON).disliked[-1] == Disliked("英伟达股价", 1, 1)


def test_tags_and_request_counters(state: State) -> None:
    report = build_report(state, days=7, now=NOON)
    assert report.tags == (Asked("iyiou", 3), Asked("AI", 1))
    assert report.usage == {"/tag": 4, "inline": 2, "question": 7}
    assert build_report(state, days=1, now=NOON).tags == (Asked("iyiou", 3),)


def test_an_empty_state_file_gives_a_report_of_zeros(state_target: str) -> None:
    report = build_report(State(state_target), days=3)
    assert (report.questions, report.nothing, report.latency_p50_ms, report.latency_p99_ms) == (0, 0, 0.0, 0.0)
    assert [d.questions for d in report.per_day] == [0, 0, 0]
    assert report.unanswered == report.disliked == report.tags == ()
    assert "(none)" in report_text(report)
    with pytest.raises(ValueError):
        build_report(State(state_target), days=0)


def test_json_and_text_carry_the_same_figures(state: State) -> None:
    report = build_report(state, days=7, now=NOON)
    data = json.loads(json.dumps(report.as_json(), ensure_ascii=False))
    assert data["questions"] == 7 and data["nothing"] == 3 and data["latency_p99_ms"] == 40.0
    assert data["per_day"][-1] == {"day": day(0), "questions": 4, "nothing": 2}
    assert data["unanswered"][0] == {"text": "How to  bake a CAKE", "times": 2}
    assert data["disliked"][0] == {"question": "DeepSeek 成本", "down": 2, "up": 1}
    text = report_text(report)
    assert "questions: 7, nothing found: 3 (43%)" in text
    assert "latency ms: p50 10, p99 40" in text
    assert "feedback: 2 👍, 3 👎" in text
    assert f"{day(0)}      4  (2 nothing found)" in text
    assert "2×  How to  bake a CAKE" in text and "2👎 1👍  DeepSeek 成本" in text and "3×  iyiou" in text


def assert_telegram_accepts(messages: list[str]) -> str:
    """Each message parses as Telegram HTML and fits in 4096; returns the plain text of all."""
    plain = []
    for markup in messages:
        text, _entities = render_text(markup, "HTML", None, strict_ampersand=True)
        assert 0 < utf16_len(text) <= MAX_TEXT_UTF16
        plain.append(text)
    return "\n".join(plain)


def test_stats_html_is_valid_telegram_html_in_both_languages(state: State) -> None:
    state.log_question("<b>AT&T</b> & <script>", "private", False, 1.0, when=NOON)
    report = build_report(state, days=7, now=NOON)
    english = assert_telegram_accepts(report_html(report, "en"))
    assert "Questions: 8, nothing found: 4 (50%)" in english
    assert "<b>AT&T</b> & <script>" in english and "#iyiou" in english
    chinese = assert_telegram_accepts(report_html(report, "zh-hans"))
    assert "提问：8，未找到答案：4" in chinese and "得到 👎 最多的提问" in chinese


def test_a_long_report_is_split_over_messages_telegram_accepts(state: State) -> None:
    for number in range(40):
        state.log_question(f"{number} " + "长问题" * 200, "private", False, 1.0, when=NOON)
    messages = report_html(build_report(state, days=366, now=NOON, top=40), "en")
    assert len(messages) >= 2
    assert_telegram_accepts(messages)


# --- the command ---------------------------------------------------------------------------

def run_cli(*args: str, state_path: Path | str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``articlebot report`` on an SQLite file (``ARTICLEBOT_STATE``) or a PostgreSQL URL (``ARTICLEBOT_STATE_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    env["ARTICLEBOT_STATE_URL" if is_postgres_url(state_path) else "ARTICLEBOT_STATE"] = str(state_path)
    return subprocess.run([sys.executable, "-m", "bot", "report", *args], check=False,
                          capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd or Path(state_path).parent)


def test_articlebot_report_prints_the_figures(state_target: str, tmp_path: Path) -> None:
    path = state_target
    state = State(path)
    state.log_question("DeepSeek 成本", "private", True, 12.0)
    state.log_question("how to bake a cake", "private", False, 3.0)
    state.log_question("how to bake a cake", "group", False, 5.0, when=time.time() - 3 * DAY)
    state.count_usage("tag:iyiou")
    state.close()
    result = run_cli("--json", "--days", "2", state_path=path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["days"], data["questions"], data["nothing"]) == (2, 2, 1)
    assert data["unanswered"] == [{"text": "how to bake a cake", "times": 1}]
    assert data["tags"] == [{"text": "iyiou", "times": 1}]
    week = run_cli(state_path=path, cwd=tmp_path)
    assert week.returncode == 0, week.stderr
    assert "last 7 day(s)" in week.stdout and "questions: 3, nothing found: 2 (67%)" in week.stdout


def test_articlebot_report_without_a_state_file_says_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    result = run_cli(state_path=missing)
    assert result.returncode == 1
    assert "no state file at" in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.stderr and not missing.exists()
    bad_days = run_cli("--days", "0", state_path=missing)
    assert bad_days.returncode == 2  # argparse's usage error, before any state file is looked for
    assert "argument --days: must be 1 or more (got 0)" in bad_days.stderr


def test_follows_per_tag_and_deliveries_per_day(state_target: str) -> None:
    state = State(state_target)
    for chat in (1, 2, 3):
        state.follow(7, chat, "iyiou", "iyiou", False, None)
    state.follow(7, 2, "ai", "AI", True, "zh")
    state.queue_deliveries(7, [Delivery("a:new.md", "<b>new</b>", (), (1, 2, 3))], when=NOON - DAY)
    rows = state.due_deliveries(7, NOON, 10)
    state.delivered(rows[0].rowid, when=NOON - DAY)
    state.delivered(rows[1].rowid, when=NOON)
    state.drop_chat(7, 3, when=NOON)  # blocked: not a delivery
    report = build_report(state, days=2, now=NOON)
    assert report.follows == {"iyiou": 2, "AI": 1}
    assert [(d.messages) for d in report.deliveries] == [1, 1]
    data = report.as_json()
    assert data["follows"] == {"iyiou": 2, "AI": 1} and data["deliveries"][1]["messages"] == 1
    text = report_text(report)
    assert "follows per tag:" in text and "deliveries to followers per day:" in text
    assert "Follows per tag" in "".join(report_html(report, "en"))


def test_a_database_password_never_reaches_the_error(tmp_path: Path) -> None:
    url = "postgresql://articlebot:hunter2-secret@127.0.0.1:1/articlebot?connect_timeout=2"
    result = run_cli(state_path=url, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot connect to the state database postgresql://articlebot:***@127.0.0.1:1/" in result.stderr
    assert "hunter2-secret" not in result.stderr and "Traceback" not in result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    env["ARTICLEBOT_STATE_URL"] = "mysql://articlebot:hunter2-secret@db/x"
    bad = subprocess.run([sys.executable, "-m", "bot", "report"], check=False, capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert bad.returncode != 0 and "must be a PostgreSQL URL" in bad.stderr
    assert "hunter2-secret" not in bad.stderr + bad.stdout and "mysql://articlebot:***@db/x" in bad.stderr
