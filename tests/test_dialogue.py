"""dialogue.py: the follow-up rule, and what the Dialogue says where there are no buttons (the terminal).

Telegram's side of the Dialogue is tested end to end in test_telegram.py; here it is called directly,
over the small corpus, with its state in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from bot.config import Settings
from bot.engine.engine import Engine
from bot.search.library import Library
from bot.search.tokens import Tokenizer
from bot.telegram.dialogue import (
    CALLBACK_LIMIT,
    Button,
    Dialogue,
    Reply,
    follow_up_attempts,
    follow_up_cue,
    on_subject,
    question_words,
)
from bot.telegram.state import State

FIRST = "DeepSeek V3 的训练成本是多少？"


# --- the follow-up rule, as a pure function ------------------------------------------------

@pytest.mark.parametrize("question", ["那 R1 呢？", "那么R1呢", "那个 R1 呢?", "R1 呢？", "and R1?", "And R1?",
                                      "what about the cost", "What about R1?", "how about Llama 3",
                                      "and what about the cost?"])
def test_follow_up_cues(question: str) -> None:
    assert follow_up_cue(question)


@pytest.mark.parametrize("question", ["R1", "DeepSeek V3 的训练成本是多少？", "Android phones", "andromeda",
                                      "whatever happened", "How much did it cost?", "呢绒"])
def test_questions_without_a_cue(question: str) -> None:
    assert not follow_up_cue(question)


@pytest.mark.parametrize(("question", "words"), [
    ("那 R1 呢？", 1),                          # cue words do not count
    ("and R1?", 1),
    ("what about the cost", 2),
    ("英伟达股价", 3),                          # five characters: about three words
    ("DeepSeek V3 的训练成本是多少？", 6),       # two Latin words and eight characters
    ("how much did it cost to train", 7),
])
def test_question_words_counts_latin_words_and_half_chinese_characters(question: str, words: int) -> None:
    assert question_words(question) == words


def test_without_a_previous_question_a_question_is_asked_alone() -> None:
    assert follow_up_attempts("那 R1 呢？", has_previous=False) == (False,)


def test_a_short_question_with_a_cue_carries_the_previous_terms_first_then_tries_alone() -> None:
    assert follow_up_attempts("那 R1 呢？", has_previous=True) == (True, False)
    assert follow_up_attempts("and R1?", has_previous=True) == (True, False)
    assert follow_up_attempts("what about the cost", has_previous=True) == (True, False)


def test_a_short_question_without_a_cue_carries_them_only_when_it_finds_nothing_alone() -> None:
    assert follow_up_attempts("cost?", has_previous=True) == (False, True)


def test_a_long_question_is_a_new_question_even_with_a_cue() -> None:
    assert follow_up_attempts("and how did the Comcast broadband subscribers react to the price", True) == (False,)
    assert follow_up_attempts(FIRST, has_previous=True) == (False,)


def test_quotes_found_with_carried_terms_must_hold_one_of_the_questions_own_terms() -> None:
    assert on_subject(["r1"], ["推理模型r1的效果则逼近openai o1"])
    assert not on_subject(["comcast"], ["deepseek宣称v3在性能上接近闭源模型"])


def test_a_question_with_no_term_the_corpus_knows_takes_the_carried_quotes() -> None:
    assert on_subject([], ["deepseek宣称v3在性能上接近闭源模型"])


# --- follow-ups in a conversation -------------------------------------------------------------

@pytest.fixture
def dialogue(small_library: Library) -> Dialogue:
    return Dialogue(Engine.over(small_library), State(":memory:"), surface="terminal")


def test_a_cue_follow_up_says_what_it_follows_and_finds_the_earlier_article(dialogue: Dialogue) -> None:
    first = dialogue.ask(FIRST, None)
    assert first.quoted == (1,)
    follow = dialogue.ask("what about the cost", None, previous=first.query_id)
    assert follow.html.startswith(f"<i>(following up on “{FIRST}”)</i>\n\n")
    assert "DeepSeek，搅了谁的局？" in follow.html


def test_what_a_follow_up_was_asked_with_is_kept_for_its_next_page(dialogue: Dialogue) -> None:
    first = dialogue.ask(FIRST, None)
    follow = dialogue.ask("what about the cost", None, previous=first.query_id)
    assert follow.query_id is not None
    stored = dialogue.state.recall(follow.query_id)
    assert stored is not None and FIRST in stored.context


def test_a_short_question_that_answers_itself_is_no_follow_up(dialogue: Dialogue) -> None:
    first = dialogue.ask(FIRST, None)
    reply = dialogue.ask("Comcast", None, previous=first.query_id)
    assert "following up" not in reply.html
    assert "Comcast" in reply.html


def test_a_cue_question_about_something_else_falls_back_to_asking_it_alone(dialogue: Dialogue) -> None:
    first = dialogue.ask(FIRST, None)
    reply = dialogue.ask("and Comcast?", None, previous=first.query_id)
    assert "Why Comcast Stock Lacks the Moat" in reply.html


def test_a_question_with_nothing_to_search_is_refused_before_any_follow_up(dialogue: Dialogue) -> None:
    first = dialogue.ask(FIRST, None)
    reply = dialogue.ask("？？？", None, previous=first.query_id)
    assert "no words to search for" in reply.html
    assert reply.query_id is None


def test_telegram_replies_carry_the_earlier_question_without_a_note(small_library: Library) -> None:
    telegram = Dialogue(Engine.over(small_library), State(":memory:"))
    first = telegram.ask(FIRST, None)
    reply = telegram.ask("那 R1 呢？", None, context_query=first.query_id)
    assert "following up" not in reply.html and "R1" in reply.html


# --- buttons say what to type ---------------------------------------------------------------

def test_answer_buttons_carry_commands_and_votes_and_links_carry_none(small_library: Library) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"), top_k=1)
    reply = dialogue.ask("英伟达股价", None)
    assert reply.quoted == (1,)
    commands = [b.command for row in reply.buttons for b in row]
    assert commands[:2] == ["more", "summary 1"]
    assert all(b.command is None for row in reply.buttons for b in row if b.url or (b.data or "").startswith("f:"))
    second = dialogue.more(reply.query_id or 0, 1, None)
    assert second.quoted == (2,)
    assert [b.command for b in second.buttons[0]][:2] == ["back", "summary 2"]


def test_suggested_tags_are_typed_as_slash_tag(dialogue: Dialogue) -> None:
    reply = dialogue.ask("how to bake a chocolate cake", None)
    assert not reply.quoted
    assert {b.command for row in reply.buttons for b in row} <= {f"/tag {t}" for t in
                                                                 dialogue.answerer.library.tag_counts}


# --- the terminal's own wording ---------------------------------------------------------------

def test_terminal_help_lists_only_what_works_there(dialogue: Dialogue) -> None:
    text = dialogue.help(None).html
    for command in ("/tags", "/tag NAME", "/latest", "/source", "/about", "more", "summary N", "quit"):
        assert command in text
    for telegram_only in ("inline", "@", "/settings", "groups", "/ask"):
        assert telegram_only not in text


def test_telegram_help_is_unchanged(small_library: Library) -> None:
    telegram = Dialogue(Engine.over(small_library), State(":memory:"))
    assert "/settings" in telegram.help(None).html and "@articlebot" in telegram.help(None).html


def test_terminal_tags_list_the_tags_in_the_message(dialogue: Dialogue) -> None:
    reply = dialogue.tags(1, None)
    assert "Tap" not in reply.html and "/tag NAME" in reply.html
    assert "#iyiou (1)" in reply.html
    assert all(b.command in ("more", "back") for row in reply.buttons for b in row)


def test_counts_read_as_english(dialogue: Dialogue) -> None:
    assert "#iyiou</b> · 1 article\n" in dialogue.tag("iyiou", 1, None).html + "\n"
    assert re.match(r"I have read 4 articles \(\d+ paragraphs, \d+ tags and topics\)", dialogue.about(None).html)
    assert "4 篇文章" in dialogue.about("zh").html


# --- the Summary button holds the article it was shown with -------------------------------------

COMCAST = "Why Comcast Stock Lacks the Moat Charlie Munger Demands"
LOUDER_COMCAST = """---
title: "Comcast, Comcast, Comcast: a cable giant's quarter"
date: 2025-03-01
---

Comcast reported its quarter: Comcast broadband lost subscribers, Comcast wireless grew, and Comcast's
Peacock narrowed its loss. Analysts asked Comcast about Comcast's moat.

Comcast shares rose after the call, and Comcast repeated its buyback plan for the year.
"""
"""An article that outranks the Comcast one for "Comcast": a Summary button that searched again
would summarize this one."""


def summary_button(reply: Reply) -> Button:
    [button] = [b for row in reply.buttons for b in row if b.command and b.command.startswith("summary")]
    return button


@pytest.fixture
def reloading(corpus_dir: Path, make_settings: Callable[..., Settings],
              tokenizer: Tokenizer) -> Callable[[Dialogue], None]:
    """Re-index ``corpus_dir`` as it is now and swap the dialogue's engine, as the reloader does."""
    def reload(dialogue: Dialogue) -> None:
        dialogue.swap(Engine.over(Library.open(make_settings(corpus_dir), tokenizer=tokenizer)))
    return reload


def test_the_summary_button_holds_the_article_of_its_page(small_library: Library) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"))
    reply = dialogue.ask("Comcast", None)
    button = summary_button(reply)
    assert button.data is not None and button.data.startswith("a:") and len(button.data.encode()) <= CALLBACK_LIMIT
    stored = dialogue.state.recall(int(button.data[2:]))
    assert stored is not None and stored.kind == "article" and stored.text.endswith("comcast.en.md")
    assert reply.articles == ((stored.text, COMCAST),) and stored.context == COMCAST
    summary = dialogue.callback(button.data, None)
    assert COMCAST in summary.html and not summary.edit


def test_after_a_reload_the_summary_button_summarizes_what_was_shown_not_a_new_search(
        small_library: Library, corpus_dir: Path, reloading: Callable[[Dialogue], None]) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"))
    button = summary_button(dialogue.ask("Comcast", None))
    write_files(corpus_dir, {"news/comcast-quarter.en.md": LOUDER_COMCAST})
    reloading(dialogue)
    assert "Comcast, Comcast, Comcast" in dialogue.ask("Comcast", None).html.split("\n")[0]  # it would win now
    summary = dialogue.callback(button.data or "", None)
    assert COMCAST in summary.html and "Comcast, Comcast, Comcast" not in summary.html


def test_after_a_reload_without_the_article_the_summary_button_says_it_is_gone(
        small_library: Library, corpus_dir: Path, reloading: Callable[[Dialogue], None]) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"))
    button = summary_button(dialogue.ask("Comcast", None))
    (corpus_dir / "news" / "comcast.en.md").unlink()
    reloading(dialogue)
    assert dialogue.callback(button.data or "", None).html == (
        f"“{COMCAST}” is no longer among the articles I have read, so I cannot summarize it.")
    assert dialogue.callback(button.data or "", "zh-hans").html == f"“{COMCAST}”已不在收录的文章中，无法生成摘要。"


def test_summary_buttons_of_earlier_versions_have_expired(small_library: Library) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:"))
    reply = dialogue.ask("Comcast", None)
    assert dialogue.callback(f"s:{reply.query_id}:0", None).html == "That button has expired; please ask again."


def test_buttons_older_than_the_retention_say_they_expired(small_library: Library) -> None:
    dialogue = Dialogue(Engine.over(small_library), State(":memory:", query_log_days=30), top_k=1)
    reply = dialogue.ask("英伟达股价", None)
    more = next(b for row in reply.buttons for b in row if b.command == "more")
    summary = summary_button(reply)
    dialogue.state.prune_log(now=time.time() + 31 * 86400)
    for button in (more, summary):
        assert dialogue.callback(button.data or "", None).html == "That button has expired; please ask again."
    assert dialogue.callback(button.data or "", "zh").html == "这个按钮已过期，请重新提问。"
