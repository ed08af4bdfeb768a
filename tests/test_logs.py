"""Log output: text or JSON lines, and the bot token in neither, even at DEBUG during a real run."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.botapi import BotApiServer
from test_webhook import TOKEN, RunningWebhook, make_webhook, post, replies_to, user_update

from bot import logs
from bot.search.library import Library
from bot.telegram.app import configure_logging

USER = 6161
NOISY = ("httpx", "httpcore")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Whatever a test installs on the root logger is taken off again."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def records(text: str) -> list[dict[str, object]]:
    """Every line parsed as one JSON object (fails on a line that is not)."""
    return [json.loads(line) for line in text.split("\n") if line]


def test_json_lines_hold_time_level_logger_message_and_the_traceback(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.install(logging.INFO, "json", stream)
    log = logging.getLogger("articlebot.test")
    log.info("two\nlines, 中文 and a \u2028 separator")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("lookup failed for %s", "x")
    log.debug("below the level")
    assert stream.getvalue().count("\n") == 2
    first, second = records(stream.getvalue())
    assert first["message"] == "two\nlines, 中文 and a \u2028 separator"
    assert "\u2028" not in stream.getvalue().split("\n")[0]
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "articlebot.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(first["time"]))
    assert second["level"] == "ERROR" and second["message"] == "lookup failed for x"
    assert str(second["exception"]).startswith("Traceback") and "KeyError: 'missing'" in str(second["exception"])


def test_text_lines_are_the_readable_default(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.install(logging.INFO, "text", stream)
    logging.getLogger("articlebot.test").warning("careful")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING articlebot.test: careful\n",
                        stream.getvalue())


def test_installing_again_replaces_the_handler_instead_of_doubling_lines(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.install(logging.INFO, "text", first)
    logs.install(logging.INFO, "json", second)
    logging.getLogger("articlebot.test").info("once")
    assert first.getvalue() == ""
    assert [r["message"] for r in records(second.getvalue())] == ["once"]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="xml"):
        logs.formatter("xml")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_token_is_redacted_from_messages_arguments_and_tracebacks(log_format: str,
                                                                     restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(TOKEN, logging.DEBUG, log_format, stream)
    log = logging.getLogger("articlebot.test")
    url = f"https://api.telegram.org/bot{TOKEN}/getMe"
    log.debug("calling %s", url)
    log.info(f"direct {url}")
    try:
        raise ConnectionError(f"cannot reach {url}")
    except ConnectionError:
        log.exception("request failed")
    output = stream.getvalue()
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert output.count("bot<token>/getMe") == 3  # two messages and the traceback's exception line
    if log_format == "json":
        assert len(records(output)) == 3


def test_a_real_run_at_debug_in_json_never_logs_the_token(restore_logging: None, bundled_library: Library,
                                                          tmp_path: Path) -> None:
    """The webhook bot answering and retrying at DEBUG, with httpx's URL lines let through on purpose."""
    stream = io.StringIO()
    configure_logging(TOKEN, logging.DEBUG, "json", stream)
    for name in NOISY:  # the worst case: every request line carries the token in its URL
        logging.getLogger(name).setLevel(logging.DEBUG)
    with BotApiServer(token=TOKEN) as api:
        running = RunningWebhook(make_webhook(api, bundled_library, tmp_path)).start()
        try:
            api.fail_next("sendMessage", "500")
            assert post(running, user_update(api, "DeepSeek V3 的训练成本是多少？", USER)).status_code == 200
            assert post(running, {"update_id": 1}, secret="wrong").status_code == 403
            [answer] = replies_to(api, USER)
            assert "557.6万美元" in answer["text"]
        finally:
            running.stop()
    output = stream.getvalue()
    entries = records(output)
    levels = {entry["level"] for entry in entries}
    assert {"DEBUG", "INFO", "WARNING"} <= levels
    assert any("sendMessage failed" in str(entry["message"]) for entry in entries), "the retry was logged"
    assert "/bot<token>/sendMessage" in output, "httpx's URL lines were logged, redacted"
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
