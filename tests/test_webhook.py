"""Webhook mode end to end: the real tornado server on a free local port, real HTTP requests
playing Telegram's side, and the Application answering through the Bot API stand-in.

Nothing in articlebot is mocked; Telegram's servers are replaced by tests/support/botapi.py (which
also records the setWebhook call), and Telegram's POSTs by httpx requests carrying the very
update JSON the stand-in generates for a user's message.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.botapi import BotApiServer, JsonDict
from support.bots import RunningWebhook, replies_to

from bot.config import Settings
from bot.engine.engine import Engine
from bot.errors import ConfigError
from bot.search.library import Library
from bot.telegram.app import build_application
from bot.telegram.dialogue import Dialogue
from bot.telegram.state import State
from bot.telegram.webhook import SECRET_HEADER, Webhook, corpus_health

REPO = Path(__file__).parents[1]
CORPUS = REPO / "corpus"
TOKEN = "123456:ABC-def_ghi-webhook-token"
SECRET = "s3cret_Webhook-token_0123456789"
PUBLIC_URL = "https://bot.example.org/articlebot/telegram"
USER = 5151


def make_webhook(api: BotApiServer, library: Library, tmp_path: Path, **options: Any) -> Webhook:
    settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                        state_path=tmp_path / "state.sqlite", rate_limit_per_minute=1000)
    dialogue = Dialogue(Engine.over(library), State(settings.state_path))
    application = build_application(settings, dialogue, overall_rate=1000)
    values: dict[str, Any] = {"url": PUBLIC_URL, "secret": SECRET, "listen": "127.0.0.1", "port": 0,
                              "path": "/telegram", "health": lambda: corpus_health(library)}
    values.update(options)
    return Webhook(application, **values)


@pytest.fixture
def served(bundled_library: Library, tmp_path: Path) -> Iterator[tuple[BotApiServer, RunningWebhook]]:
    with BotApiServer(token=TOKEN) as api:
        running = RunningWebhook(make_webhook(api, bundled_library, tmp_path)).start()
        try:
            yield api, running
        finally:
            if running.alive:
                running.stop()


def user_update(api: BotApiServer, text: str, chat_id: int = USER) -> JsonDict:
    """The update Telegram would post for a user's message (the stand-in makes the chat known)."""
    update_id, message = api.send_text(chat_id, text)
    return {"update_id": update_id, "message": message}


def post(running: RunningWebhook, update: JsonDict | bytes, secret: str | None = SECRET,
         path: str = "/telegram") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    body = update if isinstance(update, bytes) else json.dumps(update, ensure_ascii=False).encode()
    return httpx.post(running.url + path, content=body, headers=headers, timeout=10)


# --- registration ------------------------------------------------------------------------------

def test_start_registers_the_webhook_with_its_secret(served) -> None:
    api, _ = served
    [call] = api.calls_to("setWebhook")
    assert call.ok
    assert call.params["url"] == PUBLIC_URL
    assert call.params["secret_token"] == SECRET
    assert {"message", "callback_query", "inline_query"} <= set(call.params["allowed_updates"])
    assert api.state.webhook_url == PUBLIC_URL
    assert not api.calls_to("getUpdates"), "a webhook bot must not poll"


# --- the secret token --------------------------------------------------------------------------

def test_an_update_without_the_right_secret_is_refused_and_never_answered(served) -> None:
    api, running = served
    update = user_update(api, "DeepSeek V3 的训练成本是多少？")
    for secret in (None, "", "wrong-secret", SECRET + "x", SECRET.upper()):
        response = post(running, update, secret=secret)
        assert response.status_code == 403, secret
        assert SECRET not in response.text
    with pytest.raises(AssertionError):
        replies_to(api, USER, timeout=1.5)
    assert running.webhook.refused == 5 and running.webhook.accepted == 0


def test_an_update_with_the_secret_is_answered_through_the_bot_api(served) -> None:
    api, running = served
    update = user_update(api, "DeepSeek V3 的训练成本是多少？")
    response = post(running, update)
    assert response.status_code == 200
    [answer] = replies_to(api, USER)
    assert "557.6万美元" in answer["text"]
    assert answer["reply_to_message"]["message_id"] == update["message"]["message_id"]
    time.sleep(0.5)
    assert len([c for c in api.calls_to("sendMessage") if c.ok]) == 1, "answered exactly once"


def test_button_presses_arrive_through_the_webhook_too(served) -> None:
    api, running = served
    assert post(running, user_update(api, "DeepSeek")).status_code == 200
    [answer] = replies_to(api, USER)
    more = next(b for row in answer["reply_markup"]["inline_keyboard"] for b in row if "More" in b["text"])
    api.press(answer, more["callback_data"], user_id=USER)
    with api.state.cond:
        press = api.state.updates[-1]
    assert "callback_query" in press
    assert post(running, press).status_code == 200
    [edit] = api.wait_for("editMessageText")
    assert edit.params["message_id"] == answer["message_id"]
    api.wait_for("answerCallbackQuery")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"no_update_id": 1}', b'{"update_id": "7"}', b""])
def test_a_malformed_body_with_the_secret_is_400_and_the_bot_keeps_serving(served, body: bytes) -> None:
    api, running = served
    response = post(running, body)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert post(running, user_update(api, "英伟达股价")).status_code == 200
    [answer] = replies_to(api, USER)
    assert "英伟达" in answer["text"] or "英偉達" in answer["text"]


def test_other_paths_and_methods_are_not_served(served) -> None:
    _, running = served
    assert post(running, {"update_id": 1}, path="/").status_code == 404
    assert post(running, {"update_id": 1}, path="/telegram/x").status_code == 404
    assert httpx.get(running.url + "/telegram", headers={SECRET_HEADER: SECRET}).status_code == 405


# --- health ------------------------------------------------------------------------------------

def test_health_reports_the_corpus_and_uptime_and_no_secrets(served, bundled_library: Library) -> None:
    api, running = served
    post(running, user_update(api, "DeepSeek"))
    post(running, {"update_id": 99}, secret=None)
    replies_to(api, USER)
    response = httpx.get(running.url + "/health", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    health = response.json()
    assert health["status"] == "ok"
    assert health["articles"] == len(bundled_library.articles) == 40
    assert health["paragraphs"] == bundled_library.paragraph_count > 0
    built = datetime.fromisoformat(health["index_built_at"])
    assert abs(built.timestamp() - bundled_library.built_at) < 1 and built.utcoffset() is not None
    assert 0 <= health["uptime_s"] < 600
    assert health["updates"] == {"accepted": 1, "refused": 1}
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in response.text


def test_uptime_grows(served) -> None:
    _, running = served
    first = httpx.get(running.url + "/health").json()["uptime_s"]
    time.sleep(0.3)
    assert httpx.get(running.url + "/health").json()["uptime_s"] > first


# --- stopping and refusing to start ------------------------------------------------------------

def test_stop_answers_queued_updates_then_closes_the_port(served) -> None:
    api, running = served
    assert post(running, user_update(api, "DeepSeek V3 的训练成本是多少？")).status_code == 200
    running.stop()
    [answer] = replies_to(api, USER, timeout=1)  # already delivered when stop() returned
    assert "557.6万美元" in answer["text"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url + "/health", timeout=2)
    assert not api.calls_to("deleteWebhook"), "updates sent during a restart must wait at Telegram"
    assert api.state.webhook_url == PUBLIC_URL


def test_a_webhook_url_telegram_refuses_is_a_clear_error(bundled_library: Library, tmp_path: Path) -> None:
    with BotApiServer(token=TOKEN) as api:
        webhook = make_webhook(api, bundled_library, tmp_path, url="http://bot.example.org/telegram")
        with pytest.raises(ConfigError, match="(?i)Telegram refused the webhook.*https") as error:
            RunningWebhook(webhook).start()
        assert TOKEN not in str(error.value)
        assert not webhook.application.running
        port = webhook.port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_a_busy_port_is_a_clear_error(served, bundled_library: Library, tmp_path: Path) -> None:
    api, running = served
    second = make_webhook(api, bundled_library, tmp_path, port=running.webhook.port)
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{running.webhook.port}"):
        RunningWebhook(second).start()
    assert httpx.get(running.url + "/health").status_code == 200


@pytest.mark.parametrize("secret", ["", "has space", "ünïcode", "x" * 257, "newline-at-end\n"])
def test_a_secret_telegram_would_refuse_is_a_config_error_that_does_not_echo_it(
        secret: str, bundled_library: Library, tmp_path: Path) -> None:
    with BotApiServer(token=TOKEN) as api, pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET") as error:
        make_webhook(api, bundled_library, tmp_path, secret=secret)
    assert not secret or secret not in str(error.value)


# --- the command ---------------------------------------------------------------------------------

def _clean_environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "TELEGRAM_"))}
    return env | values


def test_articlebot_telegram_webhook_serves_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real command: JSON logs at DEBUG, the update answered, /health, SIGTERM → exit 0."""
    with BotApiServer(token=TOKEN) as api:
        env = _clean_environment(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url, TELEGRAM_WEBHOOK_SECRET=SECRET,
            ARTICLEBOT_LOG_FORMAT="json", ARTICLEBOT_LOG_LEVEL="DEBUG", ARTICLEBOT_WORKERS="1",
            ARTICLEBOT_STATE=str(tmp_path / "state.sqlite"), ARTICLEBOT_WEBHOOK_PATH="/hook")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "telegram", "--webhook", PUBLIC_URL, "--listen", "127.0.0.1",
             "--port", "0", "--corpus", str(CORPUS), "--cache-dir", str(tmp_path / "cache")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        lines: queue.Queue[str] = queue.Queue()
        seen: list[str] = []

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.put(line)

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            port = None
            deadline = time.monotonic() + 120
            while port is None and time.monotonic() < deadline and process.poll() is None:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    continue
                seen.append(line)
                found = re.search(r"listening on 127\.0\.0\.1:(\d+)/hook", line)
                port = int(found.group(1)) if found else None
            assert port, "no 'listening' log line:\n" + "".join(seen)
            running_url = f"http://127.0.0.1:{port}"
            update = user_update(api, "DeepSeek V3 的训练成本是多少？")
            body = json.dumps(update).encode()
            assert httpx.post(running_url + "/hook", content=body, timeout=10).status_code == 403
            assert httpx.post(running_url + "/hook", content=body, headers={SECRET_HEADER: SECRET},
                              timeout=10).status_code == 200
            [answer] = replies_to(api, USER, timeout=30)
            assert "557.6万美元" in answer["text"]
            health = httpx.get(running_url + "/health", timeout=10).json()
            assert health["status"] == "ok" and health["articles"] == 40
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        reader.join(10)
        stdout = process.stdout.read()  # type: ignore[union-attr]
    while not lines.empty():
        seen.append(lines.get())
    records = [json.loads(line) for line in seen]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any(r["level"] == "DEBUG" for r in records)
    assert any("refused: missing or wrong secret token" in m for m in messages)
    assert any("SIGTERM received" in m for m in messages)
    assert "webhook server stopped" in messages
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in "".join(seen) + stdout


# --- several replicas over one shared state (PostgreSQL) ----------------------------------------

def test_replicas_sharing_a_database_answer_each_update_once_whichever_gets_it(
        bundled_library: Library, tmp_path: Path, postgres_server: Any) -> None:
    """Three webhook replicas over one PostgreSQL state, as behind a load balancer: each update is
    posted to one replica and Telegram's retry of it to another (and a third copy to the third);
    every update is answered exactly once, and all replicas register the same webhook."""
    url = postgres_server.fresh_database()
    with BotApiServer(token=TOKEN) as api:
        replicas = []
        for n in range(3):
            settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                                state_path=tmp_path / f"unused-{n}.sqlite", rate_limit_per_minute=1000)
            state = State(url, owner=f"replica-{n}")
            application = build_application(settings, Dialogue(Engine.over(bundled_library), state), overall_rate=1000)
            replicas.append(RunningWebhook(Webhook(application, url=PUBLIC_URL, secret=SECRET, port=0)).start())
        try:
            chats = list(range(7001, 7013))
            updates = [user_update(api, "DeepSeek V3 的训练成本是多少？", chat_id=chat) for chat in chats]
            for n, update in enumerate(updates):
                for copy in range(3):  # the first post, then Telegram's retries, each to the next replica
                    assert post(replicas[(n + copy) % 3], update).status_code == 200
            for chat in chats:
                [answer] = replies_to(api, chat, timeout=30)
                assert "557.6万美元" in answer["text"]
            time.sleep(1.0)
            sent = [c for c in api.calls_to("sendMessage") if c.ok]
            assert len(sent) == len(chats)
            assert {call.params["url"] for call in api.calls_to("setWebhook")} == {PUBLIC_URL}
            assert sum(replica.webhook.accepted for replica in replicas) == 3 * len(chats)

            # a replica took an update (recorded, answered 200) and died before answering it: once
            # its claim expires, a live replica's sweep answers it, once
            orphan = user_update(api, "英伟达股价", chat_id=7100)
            dead = State(url, owner="replica-dead", update_lease=1.0)
            dead.receive_update(int(TOKEN.split(":")[0]), orphan["update_id"], json.dumps(orphan))
            dead.close()
            [answer] = replies_to(api, 7100, timeout=20, settle=1.0)
            assert "英伟达" in answer["text"] or "英偉達" in answer["text"]
        finally:
            for replica in replicas:
                replica.stop()
                replica.webhook.application.bot_data.dialogue.state.close()  # type: ignore[union-attr]


def test_replicas_re_index_a_change_once_and_each_installs_it(postgres_server: Any, corpus_dir: Path,
                                                              make_settings: Any, tokenizer: Any) -> None:
    """Two replicas sharing a database and an index cache both see a new article: one re-indexes it,
    the other waits, then opens the index it wrote without re-indexing, and both answer from the new
    index. (On one host the cache folder's own file lock already makes the second wait; the advisory
    lock held around each build, checked on its own in test_state.py, is what makes it hold across
    hosts whose shared volume does not carry file locks.)"""
    from bot.engine.reloader import Reloader, open_library

    url = postgres_server.fresh_database()
    settings = make_settings(corpus_dir)
    library = Library.open(settings, tokenizer=tokenizer)
    builds: list[bool] = []

    def build(settings: Settings, previous: Library) -> Library:
        opened = open_library(settings, previous)
        builds.append(opened.rebuilt)
        return opened

    states = [State(url, owner=f"replica-{n}") for n in range(2)]
    installed: list[list[Engine]] = [[], []]
    reloaders = [Reloader(settings, library, installed[n].append, build=build) for n in range(2)]
    for reloader, state in zip(reloaders, states):
        reloader.exclusive = state.exclusive
        reloader.start(watch=False)
    try:
        (corpus_dir / "news" / "fish.md").write_text(
            "---\ntitle: Fish\n---\n\n白尾雀鲷是一种生活在珊瑚礁附近的小型海鱼，尾鳍是醒目的白色。\n", encoding="utf-8")
        tickets = [reloader.request("a file changed", immediate=True) for reloader in reloaders]
        results = [reloader.wait(ticket, 120) for reloader, ticket in zip(reloaders, tickets)]
        assert all(result is not None and result.ok and result.changed for result in results), results
        assert sorted(builds) == [False, True]  # one re-indexed; the other found the cache up to date
        assert [len(engines) for engines in installed] == [1, 1]
        assert all(any(a.title == "Fish" for a in engines[0].library.articles) for engines in installed)
    finally:
        for reloader in reloaders:
            reloader.stop()
        for state in states:
            state.close()
