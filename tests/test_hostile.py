"""Hostile input, property-based: whatever the files and the questions, nothing crashes and
every reply is a message Telegram accepts.

* Random bytes and random YAML, written to real files: the loader either makes an article of
  each or skips it with a ``CorpusError`` that names the file and gives a reason; it never
  raises anything else, never hangs on a tiny file (YAML aliases), and ``Library.open`` on a
  folder of such files accounts for every one of them.
* Random Unicode (RTL and zero-width marks, joiners, astral characters, 10,000-character lines,
  HTML and Markdown fragments, lone ``<`` and ``&``, unbalanced tags) as article text and as
  questions: every reply the Dialogue renders (ask, more, summary, tag, latest, source,
  inline, and every button of every reply pressed once) passes the Bot API stand-in's own
  parser (tests/support/botapi.py: Telegram's HTML rules, not empty, ≤ 4096 UTF-16 units) and every
  button's callback data is 1–64 bytes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.botapi import MAX_TEXT_UTF16, ApiError, check_inline_button, render_text, utf16_len

from bot.config import Settings
from bot.engine.engine import Engine
from bot.errors import CorpusError
from bot.search.articles import Article, load_article, read_text
from bot.search.library import Library
from bot.search.tokens import Tokenizer
from bot.telegram.dialogue import CALLBACK_LIMIT, Dialogue, InlineResult, Reply
from bot.telegram.state import State

MAX_BYTES = 1 << 20


def examples(n: int) -> settings:
    """Modest example counts, no deadline: the suite runs on two shared cores."""
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (hypothesis runs many examples in one test call)."""
    folder = Path(tempfile.mkdtemp(prefix="articlebot-hostile-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- strategies ----------------------------------------------------------------------------

HOSTILE_PIECES = [
    "<", ">", "&", "&amp;", "&lt;", "&#0;", "&#x110000;", "&nbsp;", "&#xD800;", '"', "'", "`", "\\",
    "<b>", "</b>", "<i>", "</u>", "<a href=\"javascript:alert(1)\">", "</a>", "<script>", "<br>", "<!--",
    "-->", "<tg-spoiler>", "<blockquote>", "</blockquote>", "<pre><code class=\"x\">", "<<>>", "</",
    "**", "__", "*", "_", "~~", "#", "## ", "> ", "- ", "1. ", "|", "| --- |", "[", "]", "(", ")",
    "[x](https://example.com/a b)", "![img](x.png)", "[[wiki|链接]]", "\\*", "```", "---", "{{< x >}}",
    "\u200f", "\u200e", "\u202e", "\u2066", "\u200d", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u0301",
    "😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "𝕏", "𠀀", "\U0010fffd", "\U000f0001", "ﷺ", "עברית", "العربية", "中文", "繁體",
    "DeepSeek", "训练成本", "英伟达", "Bitcoin", " ", "\n", "\n\n", "\t", "。", "…", "!", "?",
]
"""What breaks naive renderers: markup, entities, bidi and zero-width marks, astral characters."""
PIECE = st.sampled_from(HOSTILE_PIECES)
HOSTILE_TEXT = st.lists(st.one_of(PIECE, st.text(max_size=20)), max_size=40).map("".join)
LONG_LINE = st.tuples(st.sampled_from(["x", "中", "😀", "<", "&", "a ", "長文。"]),
                      st.integers(2_000, 10_000)).map(lambda t: (t[0] * t[1])[:10_000])
"""A single line of up to 10,000 characters, of one repeated piece."""

YAML_KEYS = ["title", "date", "发布日期", "published", "tags", "categories", "url", "link", "source",
             "原文链接", "summary", "description", "author", "作者", "lang", "language", "Title", "DATE"]
YAML_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True), HOSTILE_TEXT,
    st.dates(), st.datetimes(), st.sampled_from(["https://example.com/a?b=1&c=<2>", "javascript:x",
                                                  "2025-02-10 16:26:13", "2025年2月10日", "..."]))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(YAML_KEYS) | st.text(max_size=8), inner,
                                                 max_size=4)), max_leaves=12)
YAML_NOISE = st.sampled_from([
    "key: ", "- ", "[", "]", "{", "}", ": ", ":", "? ", "|", ">", "'", '"', "#", "&a ", "*a", "*b", "<<: *a",
    "!!binary ", "!!int ", "!!float ", "!!timestamp ", "!!set ", "!!omap ", "!!python/object:os.system ",
    "!custom ", "%YAML 1.1", "%TAG ! x", "---", "...", "\t", "  ", "\n", "\n  ", "null", "~", "0x1F",
    "2025-02-30", "0000-01-01", "2025-13-01", "2001-12-14t21:59:43.10-05:00", "1e999", ".nan", "title: ",
    "date: ", "tags: ", "url: ", "中文: ", "\x07", "\x85", "\u2028", "\ufeff"])
RAW_YAML = st.lists(st.one_of(YAML_NOISE, st.text(max_size=10)), max_size=40).map("".join)
BODIES = st.one_of(HOSTILE_TEXT, LONG_LINE, st.just(""), st.just("正文。" * 30))


@st.composite
def structured_yaml(draw: st.DrawFn) -> str:
    """A YAML mapping (as safe_dump writes it) of known and unknown keys with any values."""
    mapping = draw(st.dictionaries(st.sampled_from(YAML_KEYS) | st.text(max_size=8), YAML_VALUES, max_size=6))
    return yaml.safe_dump(mapping, allow_unicode=draw(st.booleans()))


@st.composite
def article_bytes(draw: st.DrawFn) -> bytes:
    """What a corpus folder may hold: random bytes, or front matter (well-formed or not) and a body."""
    kind = draw(st.sampled_from(["bytes", "structured", "raw", "unterminated"]))
    if kind == "bytes":
        head = draw(st.sampled_from([b"", b"---\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf---\n", b"\xff\xfe"]))
        return head + draw(st.binary(max_size=400))
    front = draw(structured_yaml()) if kind == "structured" else draw(RAW_YAML)
    body = draw(BODIES)
    closing = "" if kind == "unterminated" else "---\n"
    text = f"---\n{front}\n{closing}\n{body}\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "gb18030"]))
    return text.encode(encoding, "surrogatepass")


# --- helpers -------------------------------------------------------------------------------

def load(path: Path) -> Article | CorpusError:
    """The article the loader makes of a file, or the CorpusError it skips it with; anything else fails."""
    try:
        return load_article(path, read_text(path, MAX_BYTES))
    except CorpusError as error:
        return error


def assert_sane(outcome: Article | CorpusError, path: Path) -> None:
    if isinstance(outcome, CorpusError):
        assert outcome.path == path and outcome.reason.strip(), outcome
        assert str(path) in str(outcome)
        return
    assert isinstance(outcome.title, str) and len(outcome.title) < 20_000
    assert outcome.paragraphs and all(p.text.strip() for p in outcome.paragraphs)
    assert all(isinstance(tag, str) and tag and len(tag) < 20_000 for tag in outcome.tags)
    assert outcome.date is None or isinstance(outcome.date, datetime)
    assert outcome.source_url is None or outcome.source_url.lower().startswith(("http://", "https://"))


def assert_telegram_accepts(markup: str, where: str) -> None:
    """The stand-in's own rules: Telegram's HTML parser, not empty after parsing, ≤ 4096 UTF-16."""
    try:
        plain, _entities = render_text(markup, "HTML", None, strict_ampersand=True)
    except ApiError as error:
        raise AssertionError(f"{where}: Telegram would answer 400 {error.description!r} to {markup[:600]!r}") \
            from None
    assert utf16_len(plain) <= MAX_TEXT_UTF16


def assert_buttons(reply: Reply, where: str) -> list[str]:
    """Every button is one Telegram accepts; returns the callback data to press."""
    data = []
    for row in reply.buttons:
        for button in row:
            assert button.label.strip(), f"{where}: a button without a label"
            wire = {"text": button.label} | ({"callback_data": button.data} if button.data is not None
                                             else {"url": button.url})
            try:
                check_inline_button(wire)
            except ApiError as error:
                raise AssertionError(f"{where}: button {wire!r} refused: {error.description}") from None
            if button.data is not None:
                assert 1 <= len(button.data.encode()) <= CALLBACK_LIMIT == 64
                data.append(button.data)
    return data


def assert_reply(reply: Reply, where: str) -> list[str]:
    assert_telegram_accepts(reply.html, where)
    for number, extra in enumerate(reply.extra, 2):
        assert_telegram_accepts(extra, f"{where} (message {number})")
    return assert_buttons(reply, where)


def assert_inline(results: list[InlineResult], where: str) -> None:
    assert len(results) <= 50
    assert len({r.id for r in results}) == len(results)
    for result in results:
        assert 1 <= len(result.id.encode()) <= 64
        assert utf16_len(result.title) <= 200 and utf16_len(result.description) <= 300
        assert_telegram_accepts(result.html, f"{where}: inline result {result.title!r}")


def exercise(dialogue: Dialogue, question: str, lang: str | None) -> int:
    """Everything a user can reach from one question, every button pressed once; returns replies checked."""
    checked = 0
    pending: list[tuple[str, Reply]] = [
        ("ask", dialogue.ask(question, lang)),
        ("source", dialogue.source(question, lang)),
        ("tag", dialogue.tag(question, 1, lang)),
        ("latest", dialogue.latest(20, lang)),
        ("tags", dialogue.tags(1, lang)),
        ("start", dialogue.start(f"tag_{question}", lang)),
    ]
    pressed: set[str] = set()
    while pending:
        where, reply = pending.pop()
        checked += 1
        if not reply.html and reply.toast is not None:  # a vote or setting: only a notice, ≤ 200 characters
            assert 0 < len(reply.toast) <= 200, where
            continue
        for data in assert_reply(reply, f"{where} {question[:80]!r}"):
            if data not in pressed and len(pressed) < 12:
                pressed.add(data)
                pending.append((f"button {data!r} after {where}", dialogue.callback(data, lang)))
    assert_inline(dialogue.inline(question, lang), f"inline {question[:80]!r}")
    return checked


# --- the loader ------------------------------------------------------------------------------

@examples(200)
@given(article_bytes())
def test_any_file_is_an_article_or_a_corpus_error_with_a_reason(content: bytes) -> None:
    with scratch() as folder:
        path = folder / "article.md"
        path.write_bytes(content)
        assert_sane(load(path), path)


@examples(60)
@given(st.sampled_from(["2025-02-30", "0000-01-01", "!!timestamp not-a-date", "!!int abc", "!!float abc",
                        "!!binary '%%%'", "!!python/object/apply:os.system ['true']", "&t [*t]",
                        "!!set {a, b}", "!!omap [a: 1]"]),
       st.sampled_from(["date", "title", "tags", "url", "summary", "发布日期"]))
def test_yaml_values_that_fail_to_construct_are_corpus_errors(value: str, key: str) -> None:
    with scratch() as folder:
        path = folder / "article.md"
        path.write_text(f"---\n{key}: {value}\n---\n\n正文。{'足够长的正文内容。' * 5}\n", encoding="utf-8")
        assert_sane(load(path), path)


def test_a_yaml_alias_bomb_loads_quickly_with_short_metadata() -> None:
    """A few hundred bytes of aliases expand to 9⁹ strings if anything turns the value into text."""
    levels = [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    front = "\n".join(levels) + "\ntitle: *l8\ntags: *l8\ncategories: [*l8]\nsummary: *l8\nauthor: *l8\n"
    with scratch() as folder:
        path = folder / "bomb.md"
        path.write_text(f"---\n{front}---\n\n正文。{'足够长的正文内容。' * 5}\n", encoding="utf-8")
        assert path.stat().st_size < 2_000
        started = time.monotonic()
        outcome = load(path)
        assert time.monotonic() - started < 2
        assert_sane(outcome, path)
        if isinstance(outcome, Article):
            assert len(outcome.title) < 100 and sum(len(tag) for tag in outcome.tags) < 1_000


@examples(25)
@given(st.lists(article_bytes(), min_size=1, max_size=6))
def test_library_open_accounts_for_every_file_and_never_crashes(tokenizer: Tokenizer,
                                                                  contents: list[bytes]) -> None:
    with scratch() as folder:
        corpus = folder / "corpus"
        paths = []
        for number, content in enumerate(contents):
            path = corpus / f"sub{number % 2}" / f"{number:02d}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            paths.append(path)
        expected = {str(path): load(path) for path in paths}
        library = Library.open(Settings(corpus=(corpus,), cache_dir=folder / "cache", workers=1),
                               tokenizer=tokenizer)
        loaded = {article.path for article in library.articles}
        skipped = {str(error.path) for error in library.report.skipped}
        assert loaded | skipped == set(expected) and not loaded & skipped
        assert loaded == {path for path, outcome in expected.items() if isinstance(outcome, Article)}
        assert library.paragraph_count == sum(len(a.paragraphs) for a in library.articles)
        again = Library.open(Settings(corpus=(corpus,), cache_dir=folder / "cache", workers=1),
                             tokenizer=tokenizer)
        assert not again.rebuilt and [a.path for a in again.articles] == [a.path for a in library.articles]


# --- rendering: hostile questions over the bundled corpus ---------------------------------------

@pytest.fixture(scope="module")
def bundled_dialogue(bundled_library: Library) -> Iterator[Dialogue]:
    state = State(":memory:")
    yield Dialogue(Engine.over(bundled_library), state)
    state.close()


QUESTIONS = st.one_of(
    HOSTILE_TEXT,
    LONG_LINE,
    st.tuples(st.sampled_from(["DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price", "iyiou", "半导体"]),
              HOSTILE_TEXT).map(lambda pair: pair[0] + pair[1]),
    st.text(min_size=1, max_size=60),
)


@examples(50)
@given(QUESTIONS, st.sampled_from([None, "en", "zh-hans", "zh-TW", "ar", ""]))
def test_any_question_gets_replies_telegram_accepts(bundled_dialogue: Dialogue, question: str,
                                                    lang: str | None) -> None:
    assert exercise(bundled_dialogue, question, lang) >= 6


# --- rendering: hostile articles ------------------------------------------------------------------

@st.composite
def hostile_article(draw: st.DrawFn, number: int) -> str:
    """An article that loads, with hostile title, tags, link, summary and body paragraphs."""
    title = draw(st.one_of(HOSTILE_TEXT, LONG_LINE.map(lambda line: line[:3000])))
    tags = draw(st.lists(st.one_of(HOSTILE_TEXT, st.text(min_size=40, max_size=80)), max_size=4))
    url = draw(st.none() | st.sampled_from(["https://example.com/a?b=1&c=<2>&d=\"3\"",
                                            "https://例子.测试/路径?q=中文#frag", "https://x.io/" + "y" * 3000]))
    front: dict[str, object] = {"title": title, "tags": tags, "date": draw(st.none() | st.dates())}
    if url:
        front["url"] = url
    if draw(st.booleans()):
        front["summary"] = draw(HOSTILE_TEXT)
    paragraphs = draw(st.lists(st.one_of(HOSTILE_TEXT, LONG_LINE), min_size=1, max_size=5))
    # Searchable words in every paragraph, so that questions do reach the hostile text.
    anchors = ["DeepSeek 训练成本 英伟达 Bitcoin", f"编号{number} article{number}"]
    body = "\n\n".join(f"{anchors[i % 2]} {text} {anchors[(i + 1) % 2]}" for i, text in enumerate(paragraphs))
    if draw(st.booleans()):
        body = "## " + draw(HOSTILE_TEXT).replace("\n", " ") + "\n\n" + body
    if draw(st.booleans()):
        body += "\n\n## 摘要\n\n" + draw(HOSTILE_TEXT)
    return "---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n\n" + body + "\n"


FILLER = ("Ordinary article {n}: the weather report says rain tomorrow, markets were calm, and the "
          "local library extended its opening hours for the summer holidays, readers said.\n\n"
          "第{n}篇普通文章：明天有雨，市场平静，图书馆暑假延长开放时间，读者表示欢迎。\n")


@examples(30)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=3).flatmap(
           lambda ns: st.tuples(*[hostile_article(i) for i in range(len(ns))])),
       st.lists(QUESTIONS, min_size=1, max_size=2),
       st.sampled_from([None, "zh-hans"]))
def test_hostile_articles_render_as_replies_telegram_accepts(tokenizer: Tokenizer, articles: tuple[str, ...],
                                                             questions: list[str], lang: str | None) -> None:
    with scratch() as folder:
        corpus = folder / "corpus"
        corpus.mkdir()
        for number, text in enumerate(articles):
            (corpus / f"hostile{number}.md").write_text(text, encoding="utf-8")
        for number in range(4):  # enough ordinary paragraphs for BM25's idf to be positive
            (corpus / f"filler{number}.md").write_text(FILLER.format(n=number), encoding="utf-8")
        library = Library.open(Settings(corpus=(corpus,), cache_dir=folder / "cache", workers=1),
                               tokenizer=tokenizer)
        assert len(library.articles) >= 4, [str(e) for e in library.report.skipped]
        state = State(":memory:")
        try:
            dialogue = Dialogue(Engine.over(library), state)
            for question in ["DeepSeek 训练成本", "编号0 article0", "英伟达 Bitcoin", *questions]:
                exercise(dialogue, question, lang)
            for article in library.articles:
                assert_reply(dialogue.article_summary(article.path, lang), f"summary of {article.path}")
                for name in article.tags:
                    assert_reply(dialogue.tag(name, 1, lang), f"tag {name!r}")
            assert_inline(dialogue.inline("", lang), "inline with no query")
        finally:
            state.close()


def test_the_checks_here_fail_on_what_telegram_refuses() -> None:
    """The assertions above are not vacuous: each refuses a reply Telegram would refuse."""
    for markup in ["<b>x", "AT&T", "<script>x</script>", "x" * 4097, "😀" * 2049, " \n ", "<b></b>"]:
        with pytest.raises(AssertionError):
            assert_reply(Reply(markup), "check")
    from bot.telegram.dialogue import Button
    for button in [Button("x", data="d" * 65), Button("x", data="é" * 33), Button("x", url="javascript:x"),
                   Button(" ", data="ok")]:
        with pytest.raises(AssertionError):
            assert_reply(Reply("ok", ((button,),)), "check")
    with pytest.raises(AssertionError):
        assert_inline([InlineResult("a", "t", "d", "<i>x", None)], "check")
    with pytest.raises(AssertionError):
        assert_inline([InlineResult("a", "t", "d", "x", None)] * 2, "check")
    assert assert_reply(Reply("<b>ok</b> &amp;", ((Button("x", data="d" * 64),),)), "check") == ["d" * 64]


# --- a replayed button press ------------------------------------------------------------------

def test_a_press_answered_before_a_crash_is_still_carried_out_without_an_apology(
        bundled_library: Library, tmp_path: Path) -> None:
    """After a crash the bot handles again a press it had already answered: Telegram then refuses
    the second answerCallbackQuery ("query is too old"), which must not stop the page turn."""
    import httpx
    from support.botapi import BotApiServer
    from support.bots import RunningBot

    token, chat = "123456:ABC-replayed-press-token", 4343
    with BotApiServer(token=token) as api:
        api.send_text(chat, "/tags")  # makes the chat known; the bot answers it once it runs
        markup = {"inline_keyboard": [[{"text": "More", "callback_data": "tp:2"}]]}
        with httpx.Client(timeout=10) as http:
            earlier = http.post(f"{api.base_url}{token}/sendMessage",
                                json={"chat_id": chat, "text": "Tags, page 1", "reply_markup": markup}).json()
            query_id = api.press(earlier["result"], "tp:2", user_id=chat)
            answered = http.post(f"{api.base_url}{token}/answerCallbackQuery",
                                 json={"callback_query_id": query_id}).json()
        assert answered["ok"]  # what the crashed process had done before it died
        settings = Settings(corpus=(CORPUS,), telegram_token=token,
                            telegram_api_base_url=api.base_url, state_path=tmp_path / "state.sqlite",
                            rate_limit_per_minute=1000)
        state = State(settings.state_path)
        running = RunningBot(api, settings, Dialogue(Engine.over(bundled_library), state)).start()
        try:
            [edit] = api.wait_for("editMessageText", timeout=20)
            assert edit.params["message_id"] == earlier["result"]["message_id"]
            api.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == chat, count=2)
            refused = [c for c in api.calls_to("answerCallbackQuery") if c.status == 400]
            assert refused, "the stand-in refuses a second answer to the same press"
            texts = [m["text"] for m in api.sent_messages(chat)]
            assert not any(t.startswith("Sorry") for t in texts), texts
        finally:
            running.stop()
            state.close()
