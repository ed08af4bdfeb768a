"""Live corpus updates: real files on disk, the real watcher, Library.open and the Dialogue swap.

Where a test must hold a reload half-way (to ask a question meanwhile, or to pile requests
onto a running one), the real ``Library.open`` is wrapped by a build that waits on a gate;
nothing else is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import LONG_PARAGRAPHS, write_files
from support.botapi import BotApiServer
from test_telegram import TOKEN, RunningBot, buttons, no_bad_requests, replies_to
from watchfiles import Change

from bot.config import Settings, load_settings
from bot.engine.engine import Engine
from bot.engine.reloader import Reloader, is_article_change, open_library
from bot.errors import ConfigError
from bot.search.library import Library
from bot.search.tokens import Tokenizer
from bot.telegram.dialogue import Dialogue
from bot.telegram.state import State

FISH = f"""---
title: "白尾雀鲷的珊瑚礁生活"
date: 2025-03-01
tags: [海洋]
---

{LONG_PARAGRAPHS}
"""
FISH_QUESTION = "白尾雀鲷吃什么"
CASTLE = """---
title: "Castles and their moats"
date: 2025-03-02
tags: [history]
---

A drawbridge spanned the moat of every medieval castle, and the portcullis behind it was lowered at night.

The garrison stored grain in the keep, enough to outlast a siege of several months in winter.

Arrow slits in the curtain wall let archers shoot at attackers while staying almost invisible.

Stonemasons needed ten years or more to finish the outer walls of the larger fortresses.
"""
CASTLE_QUESTION = "drawbridge portcullis"
WAIT = 30.0


def titles(dialogue: Dialogue, question: str) -> set[str]:
    """Titles of the articles the dialogue's current answerer quotes for a question."""
    return {quote.article.title for quote in dialogue.answerer.answer(question, k=5).quotes}


@pytest.fixture
def setup(corpus_dir: Path, make_settings: Callable[..., Settings],
          tokenizer: Tokenizer) -> tuple[Settings, Library, Dialogue]:
    settings = make_settings(corpus_dir)
    library = Library.open(settings, tokenizer=tokenizer)
    return settings, library, Dialogue(Engine.over(library), State(":memory:"))


@pytest.fixture
def stopped() -> Iterator[list[Reloader]]:
    """Reloaders a test started; stopped afterwards whatever happened."""
    started: list[Reloader] = []
    yield started
    for reloader in started:
        reloader.stop()


class Gate:
    """A build that runs the real Library.open only when the test lets it, counting builds."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.building = threading.Event()
        self.builds = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, settings: Settings, previous: Library) -> Library:
        with self._lock:
            self.builds += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.building.set()
        try:
            assert self.open.wait(WAIT), "the test never opened the gate"
            return open_library(settings, previous)
        finally:
            with self._lock:
                self.running -= 1


# --- the watcher ----------------------------------------------------------------------------

def test_watching_picks_up_new_changed_and_deleted_articles(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap, debounce=0.2).start(watch=True)
    stopped.append(reloader)
    assert "白尾雀鲷的珊瑚礁生活" not in titles(dialogue, FISH_QUESTION)

    write_files(corpus_dir, {"ocean/fish.md": FISH})
    assert reloader.wait_for_reloads(1, WAIT), "adding a file did not trigger a reload"
    assert "白尾雀鲷的珊瑚礁生活" in titles(dialogue, FISH_QUESTION)
    assert len(dialogue.answerer.library.articles) == len(library.articles) + 1

    (corpus_dir / "ocean" / "fish.md").write_text(CASTLE, encoding="utf-8")
    assert reloader.wait_for_reloads(2, WAIT), "changing a file did not trigger a reload"
    assert "Castles and their moats" in titles(dialogue, CASTLE_QUESTION)
    assert "白尾雀鲷的珊瑚礁生活" not in titles(dialogue, FISH_QUESTION)

    (corpus_dir / "ocean" / "fish.md").unlink()
    assert reloader.wait_for_reloads(3, WAIT), "deleting a file did not trigger a reload"
    assert "Castles and their moats" not in titles(dialogue, CASTLE_QUESTION)
    assert len(dialogue.answerer.library.articles) == len(library.articles)
    assert reloader.last is not None and reloader.last.ok


def test_files_that_are_not_articles_do_not_trigger_a_reload() -> None:
    assert is_article_change(Change.added, "/corpus/news/new.md")
    assert is_article_change(Change.modified, "/corpus/news/NEW.MD")
    assert is_article_change(Change.deleted, "/corpus/news")  # a folder taking its articles with it
    assert not is_article_change(Change.modified, "/corpus/news/.new.md.swp")
    assert not is_article_change(Change.added, "/corpus/.git/index")
    assert not is_article_change(Change.added, "/corpus/.articlebot-cache/index.npy")
    assert not is_article_change(Change.modified, "/corpus/news/image.png")


def test_a_hugo_sites_configuration_triggers_a_reload() -> None:
    assert is_article_change(Change.modified, "/site/hugo.toml")
    assert is_article_change(Change.modified, "/site/config/_default/config.yaml")
    assert not is_article_change(Change.modified, "/site/package.json")


# --- reloading ------------------------------------------------------------------------------

def test_a_broken_file_is_reported_and_the_rest_of_the_update_lands(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    write_files(corpus_dir, {"ocean/fish.md": FISH, "ocean/broken.md": "---\ntitle: [unclosed\n---\n\nBody text.\n"})

    result = reloader.reload(timeout=WAIT)

    assert result is not None and result.ok
    assert "白尾雀鲷的珊瑚礁生活" in titles(dialogue, FISH_QUESTION)
    [skipped] = [error for error in result.skipped if error.path.name == "broken.md"]
    assert skipped.reason
    summary = result.summary()
    assert summary.startswith(f"{len(library.articles) + 1} articles, {len(result.skipped)} skipped: ")
    assert f"{skipped.path}" in summary and skipped.reason in summary
    reply = dialogue.reloaded(result, "en").html
    assert "broken.md" in reply and f"{len(library.articles) + 1} articles" in reply


def test_questions_during_a_reload_are_answered_from_the_old_index(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    gate = Gate()
    reloader = Reloader(settings, library, dialogue.swap, build=gate).start(watch=False)
    stopped.append(reloader)
    old_answerer, old_summarizer = dialogue.answerer, dialogue.summarizer
    write_files(corpus_dir, {"ocean/fish.md": FISH})

    ticket = reloader.request("test", immediate=True)
    assert gate.building.wait(WAIT)
    # the file is on disk and the re-index is under way: answers still come from the old index
    assert "白尾雀鲷的珊瑚礁生活" not in titles(dialogue, FISH_QUESTION)
    assert dialogue.answerer is old_answerer and dialogue.summarizer is old_summarizer
    assert "Nothing in the articles answers" in dialogue.ask(FISH_QUESTION, "en").html

    gate.open.set()
    result = reloader.wait(ticket, WAIT)
    assert result is not None and result.ok
    assert dialogue.answerer is not old_answerer and dialogue.summarizer is not old_summarizer
    assert dialogue.answerer.library is dialogue.summarizer.library  # swapped together
    assert "白尾雀鲷的珊瑚礁生活" in titles(dialogue, FISH_QUESTION)


def test_requests_during_a_reload_are_coalesced_into_one_more(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    gate = Gate()
    reloader = Reloader(settings, library, dialogue.swap, build=gate, debounce=0.05).start(watch=False)
    stopped.append(reloader)
    first = reloader.request("first", immediate=True)
    assert gate.building.wait(WAIT)
    write_files(corpus_dir, {"ocean/fish.md": FISH})  # lands after the running reload listed the files
    last = max(reloader.request(f"burst {n}") for n in range(10))
    assert last > first

    gate.open.set()
    result = reloader.wait(last, WAIT)

    assert result is not None and result.ok
    assert gate.builds == 2 and reloader.reloads == 2
    assert gate.most_at_once == 1
    assert "白尾雀鲷的珊瑚礁生活" in titles(dialogue, FISH_QUESTION)


def test_a_burst_within_the_debounce_time_makes_one_reload(setup, stopped) -> None:
    settings, library, dialogue = setup
    gate = Gate()
    gate.open.set()
    reloader = Reloader(settings, library, dialogue.swap, build=gate, debounce=0.5).start(watch=False)
    stopped.append(reloader)
    tickets = [reloader.request("file event") for _ in range(20)]
    assert reloader.wait(tickets[-1], WAIT) is not None
    assert gate.builds == 1 and reloader.reloads == 1


def test_a_reload_without_changes_keeps_the_index_in_use(setup, stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    before = dialogue.answerer

    result = reloader.reload(timeout=WAIT)

    assert result is not None and result.ok and not result.changed
    assert dialogue.answerer is before
    assert result.articles == len(library.articles)
    assert dialogue.reloaded(result, "en").html.startswith(f"No file changed: {len(library.articles)} articles")


def test_a_failed_reload_keeps_the_previous_index(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    before = dialogue.answerer
    corpus_dir.rename(corpus_dir.with_name("moved"))

    result = reloader.reload(timeout=WAIT)

    assert result is not None and not result.ok
    assert "corpus folder not found" in (result.error or "")
    assert dialogue.answerer is before
    assert "DeepSeek，搅了谁的局？" in titles(dialogue, "DeepSeek V3 训练成本")
    assert "previous index" in dialogue.reloaded(result, "en").html


# --- /reload on Telegram ----------------------------------------------------------------------

ADMIN = 777
STRANGER = 888


def test_reload_command_is_for_admins_and_reports_skipped_files(setup, corpus_dir: Path, tmp_path: Path,
                                                                 stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    with BotApiServer(token=TOKEN) as api:
        bot_settings = Settings(telegram_token=TOKEN, telegram_api_base_url=api.base_url,
                                rate_limit_per_minute=1000, admin_user_ids=frozenset({ADMIN}))
        running = RunningBot(api, bot_settings, dialogue)
        running.application.bot_data.reloader = reloader
        running.start()
        try:
            write_files(corpus_dir, {"ocean/fish.md": FISH, "ocean/broken.md": b"\x00\x01binary"})
            api.send_text(STRANGER, "/reload")
            [refusal] = replies_to(api, STRANGER)
            assert "only the bot's admins" in refusal["text"]
            assert reloader.reloads == 0

            api.send_text(ADMIN, "/reload")
            [report] = replies_to(api, ADMIN)
            assert f"{len(library.articles) + 1} articles, 1 skipped" in report["text"]
            assert "broken.md: binary file" in report["text"]

            api.send_text(ADMIN, FISH_QUESTION)
            answer = replies_to(api, ADMIN, count=2)[1]
            assert "白尾雀鲷" in answer["text"] and buttons(answer)
            no_bad_requests(api)
        finally:
            running.stop()


def test_watching_is_a_setting_on_by_default() -> None:
    assert Settings().watch is True
    assert load_settings(env={"ARTICLEBOT_WATCH": "0"}).watch is False
    assert load_settings(env={"ARTICLEBOT_WATCH": "off"}).watch is False
    assert load_settings(env={"ARTICLEBOT_WATCH": "yes"}).watch is True
    with pytest.raises(ConfigError, match="ARTICLEBOT_WATCH"):
        load_settings(env={"ARTICLEBOT_WATCH": "sometimes"})


def test_admins_are_a_setting_and_nobody_by_default() -> None:
    assert Settings().admin_user_ids == frozenset()
    assert load_settings(env={"ADMIN_USER_IDS": "12, 34"}).admin_user_ids == frozenset({12, 34})
    with pytest.raises(ConfigError, match="ADMIN_USER_IDS"):
        load_settings(env={"ADMIN_USER_IDS": "@someone"})


def test_a_page_is_answered_from_its_publish_time_without_any_file_changing(
        tmp_path: Path, make_settings: Callable[..., Settings], tokenizer: Tokenizer, stopped) -> None:
    when = time.time() + 2
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when + 1))
    site = write_files(tmp_path / "site", {
        "hugo.toml": 'baseURL = "https://example.org/"\n',
        "content/now.md": f"---\ntitle: Now\n---\n\n{LONG_PARAGRAPHS}\n",
        "content/soon.md": f"---\ntitle: Soon\ndate: {stamp}\n---\n\n礁石上的海鸟在黄昏时归巢，管理员说今年的数量翻了一倍。\n",
    })
    settings = make_settings(site)
    library = Library.open(settings, tokenizer=tokenizer)
    assert library.next_recheck is not None and "Soon" not in [a.title for a in library.articles]
    dialogue = Dialogue(Engine.over(library), State(":memory:"))
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    assert reloader.wait_for_reloads(1, timeout=30)
    assert "Soon" in [a.title for a in dialogue.answerer.library.articles]
    assert dialogue.answerer.library.next_recheck is None


# --- what a reload added ----------------------------------------------------------------------

def test_listeners_learn_the_articles_a_reload_added_not_the_edited_ones(setup, corpus_dir: Path,
                                                                         stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)
    told: list[tuple[Engine, tuple[str, ...]]] = []
    reloader.when_added(lambda engine, added: told.append((engine, tuple(a.title for a in added))))
    (corpus_dir / "fish.md").write_text(FISH, encoding="utf-8")
    edited = corpus_dir / "news" / "comcast.en.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nOne more paragraph about broadband prices.\n",
                      encoding="utf-8")

    assert reloader.reload(timeout=WAIT) is not None
    assert [titles for _engine, titles in told] == [("白尾雀鲷的珊瑚礁生活",)]
    assert told[0][0] is dialogue.engine  # told after the new index was installed

    edited.write_text(edited.read_text(encoding="utf-8") + "\nAnd a last one on cable television.\n",
                      encoding="utf-8")
    assert reloader.reload(timeout=WAIT) is not None
    assert len(told) == 1  # an edit adds nothing


def test_a_failing_listener_does_not_undo_the_reload(setup, corpus_dir: Path, stopped) -> None:
    settings, library, dialogue = setup
    reloader = Reloader(settings, library, dialogue.swap).start(watch=False)
    stopped.append(reloader)

    def broken(engine: Engine, added: object) -> None:
        raise RuntimeError("listener bug")

    reloader.when_added(broken)
    (corpus_dir / "castle.md").write_text(CASTLE, encoding="utf-8")
    result = reloader.reload(timeout=WAIT)
    assert result is not None and result.ok
    assert "Castles and their moats" in titles(dialogue, CASTLE_QUESTION)
