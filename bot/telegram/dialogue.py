"""What the bot says to each request: requests in, ``Reply`` objects out, no Telegram types.

Handlers stay thin: they turn an update into a call here and the Reply into an API call.
Everything a user can see is decided (and tested) in this module; buttons are plain data,
with callback data kept under Telegram's 64 bytes by storing the long part in ``State``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from bot.engine.engine import Engine
from bot.errors import QuestionError
from bot.search.answers import Answer, Answerer
from bot.telegram.replies import (
    MESSAGE_LIMIT,
    answer_html,
    count,
    escape,
    pack,
    plural,
    quote_html,
    shorten,
    strings,
    text_fragment_url,
    visible_length,
)
from bot.telegram.report import DEFAULT_DAYS, TAG_PREFIX, build_report, report_html
from bot.telegram.state import State

if TYPE_CHECKING:
    from bot.engine.reloader import ReloadResult
    from bot.summaries.summarizer import Summarizer

log = logging.getLogger(__name__)

CALLBACK_LIMIT = 64
INLINE_RESULTS = 10
TAGS_PER_PAGE = 8
DIGEST_PER_PAGE = 5
RELOAD_LISTED = 20
PAGE_SIZES = (1, 3, 5)
"""Quotes per answer a chat can choose in /settings (the top_k setting is offered too)."""
LANGUAGES = (("auto", None), ("en", "English"), ("zh", "中文"))
"""Languages a chat can choose in /settings; "auto" follows each user's Telegram language."""
TOASTED = ("f:", "cs:")
"""Callback kinds answered with a toast (answerCallbackQuery text): votes and settings."""
VOTES = {"1": (1, "👍"), "-1": (-1, "👎")}
FOLLOW_UP_WORDS = 4
"""A question of at most this many words (``question_words``) may follow up on the one before it."""
FOLLOWED_QUESTION_CHARS = 80
"""The previous question is quoted in a follow-up's note up to this length."""

Surface = Literal["telegram", "terminal"]
"""Where the dialogue is shown: Telegram (buttons, inline mode, groups) or a terminal (typed commands)."""


@dataclass(frozen=True)
class Button:
    """An inline-keyboard button: either callback data (≤ 64 bytes) or a URL."""

    label: str
    data: str | None = None
    url: str | None = None
    command: str | None = None
    """What to type instead of pressing it where there are no buttons (the terminal): "more",
    "summary 1", "/tag iyiou". None for buttons that only make sense as buttons (votes, links)."""


@dataclass(frozen=True)
class Reply:
    """One message to send (or to edit in place, for paging)."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    preview_url: str | None = None
    """The link to preview, or None for no preview (answers carry several links)."""
    query_id: int | None = None
    """The stored question this message answers, so a reply to it can be a follow-up."""
    edit: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)
    """Further messages, when a reply is too long for one (tag digests)."""
    toast: str | None = None
    """Plain text shown briefly over the chat in answer to a button press; with ``html`` empty it
    is the whole response (a vote changes no message)."""
    quoted: tuple[int, ...] = ()
    """The numbers of the quotes this message shows (an answer's page), so that a terminal can
    offer "summary N" for them; empty when it quotes nothing."""


@dataclass(frozen=True)
class InlineResult:
    id: str
    title: str
    description: str
    html: str
    url: str | None


EN_HELP = """<b>articlebot</b> answers questions by quoting the articles it has read, with links to the originals.

Just type a question, e.g. <i>DeepSeek V3 的训练成本是多少？</i>
/ask QUESTION: ask (in groups too)
/tags: browse tags
/tag NAME: a tag's articles with short summaries
/latest [N]: the newest articles
/source QUERY: links to the original articles
/about: what I have read
/settings: this chat's language and quotes per answer
In groups, mention me or reply to my message. In any chat, type @{bot} and a question."""

ZH_HELP = """<b>articlebot</b> 引用已收录文章的原文来回答问题，并附上原文链接。

直接输入问题即可，例如 <i>DeepSeek V3 的训练成本是多少？</i>
/ask 问题：提问（群组中也可用）
/tags：浏览标签
/tag 名称：某标签下的文章及摘要
/latest [N]：最新文章
/source 关键词：原文链接
/about：收录情况
/settings：本聊天的语言和每次回答的引文数
在群组中请 @我 或回复我的消息；在任意聊天中输入 @{bot} 加问题即可内联搜索。"""

TERMINAL_EN_HELP = """<b>articlebot</b> answers questions by quoting the articles it has read, with links to the originals.

Type a question, e.g. <i>DeepSeek V3 的训练成本是多少？</i>
A short question after an answer follows up on it, e.g. <i>那 R1 呢？</i> or <i>and R1?</i>
more, back: the next or previous quotes (or page of a list)
summary N: a summary of the article quote N comes from
/tags: browse tags and topics
/tag NAME: a tag's articles with short summaries
/latest [N]: the newest articles
/source QUERY: links to the original articles
/about: what I have read
/help: this help · quit, exit or Ctrl-D: leave"""
"""The help where there are no buttons, groups, inline mode or /settings: only what works in a terminal."""

TERMINAL_ZH_HELP = """<b>articlebot</b> 引用已收录文章的原文来回答问题，并附上原文链接。

直接输入问题即可，例如 <i>DeepSeek V3 的训练成本是多少？</i>
回答之后的简短问题会接着上一个问题，例如 <i>那 R1 呢？</i>
more、back：后面或前面的引文（或列表的下一页、上一页）
summary N：第 N 条引文所在文章的摘要
/tags：浏览标签和主题
/tag 名称：某标签下的文章及摘要
/latest [N]：最新文章
/source 关键词：原文链接
/about：收录情况
/help：本帮助 · quit、exit 或 Ctrl-D：退出"""

EXAMPLES = ("DeepSeek V3 的训练成本是多少？", "英偉達股價", "Bitcoin price this week")

_CUE_START = re.compile(r"^(?:\s*(?:那么|那个|那|(?:and|what about|how about)\b)[\s,，、]*)+", re.IGNORECASE)
_CUE_END = re.compile(r"\s*呢[\s?？!！。.…]*$")
_LATIN_WORD = re.compile(r"[^\W\u3400-\u9fff\uf900-\ufaff]+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def follow_up_cue(question: str) -> bool:
    """Whether the question opens (or, in Chinese, ends) the way a follow-up does: 那/那么/那个…呢,
    "and …", "what about …", "how about …"."""
    return bool(_CUE_START.match(question) or _CUE_END.search(question))


def question_words(question: str) -> int:
    """How long a question is, in words, cue words left out: a Latin word counts one and a Chinese
    character half (a Chinese word is about two characters long).

    Counted on the text rather than on index tokens: the tokenizer adds overlapping bigrams to
    Chinese, so a short Chinese question would look as long as an English paragraph.
    """
    text = _CUE_END.sub("", _CUE_START.sub("", question))
    return len(_LATIN_WORD.findall(text)) + (len(_HAN.findall(text)) + 1) // 2


def follow_up_attempts(question: str, has_previous: bool) -> tuple[bool, ...]:
    """How to ask a question that comes right after an answer, as attempts in order: True asks it
    with the previous question's key terms, False alone. The first attempt that quotes anything is
    shown.

    A longer question (over FOLLOW_UP_WORDS words) is a new question. A short one that opens like a
    follow-up ("那 R1 呢？", "and R1?", "what about the cost") is asked with the previous terms first,
    then alone (for "and Comcast?" after a question about DeepSeek, the DeepSeek terms would crowd
    out Comcast). Any other short one is asked alone first and carries the previous terms over only
    when it finds nothing alone ("how much did it cost?").
    """
    if not has_previous or question_words(question) > FOLLOW_UP_WORDS:
        return (False,)
    return (True, False) if follow_up_cue(question) else (False, True)


def on_subject(own_terms: Sequence[str], quoted: Sequence[str]) -> bool:
    """Whether quotes found with a previous question's terms still answer the new question: one of
    them holds one of its own terms (``quoted``: their normalized text), or it has no term the
    corpus knows ("what about the cost" over Chinese articles), so the earlier terms are all it has.

    Without this, "and Comcast?" after a question about DeepSeek would quote DeepSeek again: its
    three carried terms outweigh the one new one.
    """
    return not own_terms or any(term in text for term in own_terms for text in quoted)


class Dialogue:
    """The bot's side of every conversation."""

    def __init__(self, engine: Engine, state: State, top_k: int = 3, bot_username: str = "articlebot",
                 surface: Surface = "telegram") -> None:
        self.engine = engine
        """What answers: replaced whole when the corpus is re-indexed (``swap``)."""
        self.state = state
        self.top_k = top_k
        self.bot_username = bot_username
        self.surface: Surface = surface
        """The terminal gets its own help, and lists in text what Telegram offers as buttons."""

    # --- the index behind the answers, replaceable while the bot runs ---------------------

    @property
    def answerer(self) -> Answerer:
        return self.engine.answerer

    @property
    def summarizer(self) -> Summarizer:
        return self.engine.summarizer

    def swap(self, engine: Engine) -> None:
        """Answer from a new library from now on (the reloader calls this after a re-index).

        One assignment, so no request sees a new answerer next to an old summarizer; a request
        already running keeps the engine it read, which stays valid.
        """
        self.engine = engine

    # --- questions ----------------------------------------------------------------------

    def ask(self, question: str, lang: str | None, context_query: int | None = None,
            chat_id: int | None = None, chat_type: str | None = None, previous: int | None = None) -> Reply:
        """Answer a question; ``context_query`` is the stored question a follow-up replies to.

        ``previous`` is the question asked just before in the same conversation (the terminal's,
        where there is no "reply to"): its key terms are carried over only as
        ``follow_up_attempts`` decides, and the reply then says so in its first line.

        The question goes into the question log with whether anything answered it and how long
        that took (``chat_type`` says where it was asked), for ``bot.report``.
        """
        started = time.perf_counter()
        context = self._context(context_query)
        k = self.page_size(chat_id)
        following = None
        try:
            if previous is not None and context_query is None:
                answer, context, following = self._follow_up(question, k, previous)
            else:
                answer = self.answerer.answer(question, k=k, context=context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        query_id = self.state.remember("ask", question, context, chat_id)
        reply = self._answer_reply(answer, query_id, lang, k, following)
        latency_ms = (time.perf_counter() - started) * 1000
        self._note(lambda: self.state.log_question(question, chat_type, bool(answer.quotes), latency_ms, query_id))
        return reply

    def _context(self, query_id: int | None) -> str:
        """The text a follow-up of stored question ``query_id`` carries: that question and its own context."""
        stored = self.state.recall(query_id) if query_id is not None else None
        if stored is None or stored.kind != "ask":
            return ""
        return " ".join(filter(None, (stored.text, stored.context)))

    def _follow_up(self, question: str, k: int, previous: int) -> tuple[Answer, str, str | None]:
        """Answer ``question`` alone or with question ``previous``'s key terms, as ``follow_up_attempts``
        orders; returns the answer, the context it was asked with (kept for "more"), and the previous
        question's text when carrying it over is what found the quotes (the reply says so)."""
        stored = self.state.recall(previous)
        context = self._context(previous)
        tokens = self.answerer.tokens(question)  # a question with nothing to search fails here, alone
        carried = stored is not None and any(t not in tokens for t in self.answerer.key_terms(context))
        own_terms = self.answerer.key_terms(question)
        normalize = self.answerer.library.tokenizer.normalize
        alone = None
        for with_context in follow_up_attempts(question, carried):
            answer = self.answerer.answer(question, k=k, context=context if with_context else "")
            if not with_context:
                alone = answer
                if answer.quotes:
                    return answer, "", None
            elif answer.quotes and on_subject(own_terms, [normalize(q.paragraph.text) for q in answer.quotes]):
                return answer, context, stored.text if stored is not None else None
        return alone or self.answerer.answer(question, k=k), "", None

    def page_size(self, chat_id: int | None) -> int:
        """Quotes per answer page: the chat's choice in /settings, else the top_k setting."""
        if chat_id is None:
            return self.top_k
        return self.state.chat_settings(chat_id).per_page or self.top_k

    def lang_for(self, chat_id: int | None, lang: str | None) -> str | None:
        """The chat's language from /settings, else ``lang`` (the user's Telegram language)."""
        if chat_id is None:
            return lang
        return self.state.chat_settings(chat_id).lang or lang

    def count(self, name: str) -> None:
        """Add one to today's usage counter ``name`` (best effort, like every usage record)."""
        self._note(lambda: self.state.count_usage(name))

    def _note(self, record: Callable[[], object]) -> None:
        """Record usage best effort: a failing state file must not cost the reader an answer."""
        try:
            record()
        except sqlite3.Error as error:
            log.warning("could not record usage in the state file: %s", error)

    def more(self, query_id: int, offset: int, lang: str | None) -> Reply:
        """The next page of an earlier answer, replacing the message it was asked from."""
        stored = self.state.recall(query_id)
        if stored is None or stored.kind != "ask":
            return Reply(escape(strings(lang)["expired"]))
        k = self.page_size(stored.chat_id)
        try:
            answer = self.answerer.answer(stored.text, k=k, offset=max(0, offset), context=stored.context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        reply = self._answer_reply(answer, query_id, lang, k)
        return dataclasses.replace(reply, edit=True)

    def _answer_reply(self, answer: Answer, query_id: int, lang: str | None, k: int | None = None,
                      following: str | None = None) -> Reply:
        """An answer's page with its buttons; ``following`` is the question a follow-up carried over."""
        t = strings(lang)
        k = k or self.top_k
        note = ""
        if following is not None:
            note = f"<i>{escape(t['following_up'].format(question=shorten(following, FOLLOWED_QUESTION_CHARS)))}</i>\n\n"
        html = note + answer_html(answer, lang, MESSAGE_LIMIT - visible_length(note))
        if not answer.quotes:
            buttons = tuple((self._tag_button(tag),) for tag in answer.suggestions[:4])
            return Reply(html, buttons, query_id=query_id)
        row: list[Button] = []
        if answer.has_more:
            row.append(Button(f"{t['more']} ▸", data=f"m:{query_id}:{answer.offset + len(answer.quotes)}",
                              command="more"))
        if answer.offset > 0:
            row.insert(0, Button(f"◂ {t['back']}", data=f"m:{query_id}:{max(0, answer.offset - k)}",
                                 command="back"))
        numbers = tuple(range(answer.offset + 1, answer.offset + len(answer.quotes) + 1))
        which = f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])
        row.append(Button(t["summary"], data=f"s:{query_id}:{answer.offset}", command=f"summary {which}"))
        top = answer.quotes[0]
        if top.article.source_url:
            row.append(Button(t["source"], url=text_fragment_url(top.article.source_url, top.sentence_text)))
        votes = tuple(Button(label, data=f"f:{query_id}:{key}") for key, (_vote, label) in VOTES.items())
        return Reply(html, (tuple(row), votes), query_id=query_id, quoted=numbers)

    def summary(self, query_id: int, offset: int, lang: str | None) -> Reply:
        """The extractive summary of the first article on that page of an answer."""
        stored = self.state.recall(query_id)
        if stored is None or stored.kind != "ask":
            return Reply(escape(strings(lang)["expired"]))
        try:
            answer = self.answerer.answer(stored.text, k=1, offset=max(0, offset), context=stored.context)
        except QuestionError as error:
            return Reply(escape(str(error)))
        if not answer.quotes:
            return Reply(escape(strings(lang)["expired"]))
        return self.article_summary(answer.quotes[0].article.path, lang)

    def article_summary(self, path: str, lang: str | None) -> Reply:
        t = strings(lang)
        article = self.summarizer.article(path)
        if article is None:
            return Reply(escape(t["expired"]))
        summary = self.summarizer.summarize(article)
        label = t["author_summary"] if summary.source == "author" else t["extract_summary"]
        html = (f"{_article_link(article.title, article.source_url)}\n<i>{escape(article.date_text)}</i>\n"
                f"<blockquote>{escape(summary.text)}</blockquote>\n<i>{escape(label)}</i>")
        buttons = ((Button(t["source"], url=article.source_url),),) if article.source_url else ()
        return Reply(pack([html])[0], buttons, preview_url=article.source_url)

    def source(self, query: str, lang: str | None) -> Reply:
        """Links to the originals of the best-matching articles."""
        t = strings(lang)
        try:
            answer = self.answerer.answer(query, k=5)
        except QuestionError as error:
            return Reply(escape(str(error)))
        if not answer.quotes:
            return Reply(answer_html(answer, lang))
        lines = []
        for number, quote in enumerate(answer.quotes, 1):
            article = quote.article
            where = escape(article.source_url) if article.source_url else escape(article.path)
            if self.surface == "terminal" and article.source_url:
                where = ""  # a terminal prints the link's URL after its title already
            lines.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                         f"<i>{escape(article.date_text or t['no_date'])}</i> {where}".rstrip())
        first = answer.quotes[0].article.source_url
        messages = pack(lines)  # long titles or links could pass Telegram's 4096 in one message
        return Reply(messages[0], preview_url=first, extra=tuple(messages[1:]))

    # --- browsing -----------------------------------------------------------------------

    def tags(self, page: int, lang: str | None) -> Reply:
        """Tags and topics with article counts, as buttons, paged."""
        t = strings(lang)
        entries = self.summarizer.tags()
        pages = max(1, -(-len(entries) // TAGS_PER_PAGE))
        page = min(max(1, page), pages)
        shown = entries[(page - 1) * TAGS_PER_PAGE: page * TAGS_PER_PAGE]
        nav = []
        if page > 1:
            nav.append(Button(f"◂ {t['back']}", data=f"tp:{page - 1}", command="back"))
        if page < pages:
            nav.append(Button(f"{t['more']} ▸", data=f"tp:{page + 1}", command="more"))
        if self.surface == "terminal":  # no buttons to tap: the tags are the message
            html = escape(t["tags_title_typed"].format(page=page, pages=pages, total=len(entries)))
            lines = [f"#{escape(name)} ({total})" for name, total, _kind in shown]
            return Reply("\n".join([html, *lines]), (tuple(nav),) if nav else (), edit=page > 1)
        rows: list[tuple[Button, ...]] = [(self._tag_button(name, f"{name} ({total})"),)
                                          for name, total, _kind in shown]
        if nav:
            rows.append(tuple(nav))
        html = escape(t["tags_title"].format(page=page, pages=pages, total=len(entries)))
        return Reply(html, tuple(rows), edit=page > 1)

    def tag(self, name: str, page: int, lang: str | None, edit: bool = False) -> Reply:
        """A tag's (or topic's) articles, newest first, each with a short summary; paged."""
        t = strings(lang)
        name = name.strip().lstrip("#")
        if not name:
            return Reply(escape(t["tag_usage"]))
        digest = self.summarizer.digest(name, page=page, per_page=DIGEST_PER_PAGE)
        if not digest.items:
            buttons = tuple((self._tag_button(s),) for s in digest.suggestions[:4])
            return Reply(escape(t["unknown_tag"].format(name=shorten(name, 60))), buttons)
        blocks = [f"<b>#{escape(digest.name)}</b> · {escape(count(digest.total, 'article', lang))}"]
        if digest.overview and digest.page == 1:
            lines = [f"• {escape(s)} {_article_link('↗', a.source_url)}" if a.source_url else f"• {escape(s)}"
                     for s, a in digest.overview]
            blocks.append("<blockquote>" + "\n".join(lines) + "</blockquote>")
        for number, (article, summary) in enumerate(digest.items, (digest.page - 1) * DIGEST_PER_PAGE + 1):
            blocks.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                          f"<i>{escape(article.date_text or t['no_date'])}</i>\n{escape(summary.text)}")
        query_id = self.state.remember("tag", name)
        if digest.page == 1 and not edit:
            self.count(TAG_PREFIX + digest.name)
        nav = []
        if digest.page > 1:
            nav.append(Button(f"◂ {t['back']}", data=f"t:{query_id}:{digest.page - 1}", command="back"))
        if digest.page < digest.pages:
            nav.append(Button(f"{t['more']} ▸", data=f"t:{query_id}:{digest.page + 1}", command="more"))
        messages = pack(blocks)
        return Reply(messages[0], (tuple(nav),) if nav else (), edit=edit, extra=tuple(messages[1:]))

    def latest(self, n: int, lang: str | None) -> Reply:
        t = strings(lang)
        n = min(max(1, n), 20)
        blocks = [f"<b>{escape(t['latest_title'])}</b>"]
        for number, (article, summary) in enumerate(self.summarizer.latest(n), 1):
            tags = " ".join(f"#{escape(tag)}" for tag in article.tags[:2])
            blocks.append(f"{number}. {_article_link(article.title, article.source_url)}\n"
                          f"<i>{escape(article.date_text or t['no_date'])}</i> {tags}\n{escape(summary.text)}")
        messages = pack(blocks)
        return Reply(messages[0], extra=tuple(messages[1:]))

    def _tag_button(self, name: str, label: str | None = None) -> Button:
        data = f"tn:{name}"
        if len(data.encode()) > CALLBACK_LIMIT:
            data = f"t:{self.state.remember('tag', name)}:1"
        return Button(label or f"#{name}", data=data, command=f"/tag {name}")

    # --- buttons --------------------------------------------------------------------------

    def callback(self, data: str, lang: str | None, user_id: int | None = None, chat_id: int | None = None,
                 may_change: bool = True) -> Reply:
        """Dispatch a button press; unknown or stale data gets a polite 'expired'.

        ``user_id`` and ``chat_id`` say who pressed where (votes are per user, settings per chat);
        ``may_change`` is False where the presser may not change the chat's settings (a group
        member who is not an admin).
        """
        kind, _, rest = data.partition(":")
        try:
            if kind == "f":
                query_id, key = rest.split(":")
                return self.feedback(int(query_id), user_id, key, lang)
            if kind == "cs":
                setting, value = rest.split(":")
                return self.change_setting(chat_id, setting, value, lang, may_change)
            if kind == "m":
                query_id, offset = rest.split(":")
                return self.more(int(query_id), int(offset), lang)
            if kind == "q":
                return dataclasses.replace(self.more(int(rest), 0, lang), edit=False)
            if kind == "s":
                query_id, offset = rest.split(":")
                return self.summary(int(query_id), int(offset), lang)
            if kind == "tp":
                return self.tags(int(rest), lang)
            if kind == "tn":
                return self.tag(rest, 1, lang)
            if kind == "t":
                query_id, page = rest.split(":")
                stored = self.state.recall(int(query_id))
                if stored and stored.kind == "tag":
                    return self.tag(stored.text, int(page), lang, edit=int(page) > 1)
        except ValueError:
            pass
        return Reply(escape(strings(lang)["expired"]))

    def feedback(self, query_id: int, user_id: int | None, key: str, lang: str | None) -> Reply:
        """A 👍/👎 press: one vote per answer and user, a second press changes it; answered by a toast."""
        t = strings(lang)
        stored = self.state.recall(query_id)
        if user_id is None or key not in VOTES or stored is None or stored.kind != "ask":
            return Reply("", toast=t["expired"])
        vote, label = VOTES[key]
        previous = self.state.vote(query_id, user_id, vote)
        if previous is None:
            return Reply("", toast=t["feedback_thanks"].format(vote=label))
        return Reply("", toast=t["feedback_same" if previous == vote else "feedback_changed"].format(vote=label))

    # --- chat settings --------------------------------------------------------------------

    def settings(self, chat_id: int, lang: str | None) -> Reply:
        """The /settings message: the chat's language and quotes per answer, with buttons to change them."""
        chosen = self.state.chat_settings(chat_id)
        t = strings(chosen.lang or lang)
        names = dict(LANGUAGES)
        language = names.get(chosen.lang or "auto") or t["settings_auto"]
        per_page = chosen.per_page or self.top_k
        html = (f"<b>{escape(t['settings_title'])}</b>\n{escape(t['settings_language'].format(value=language))}\n"
                f"{escape(t['settings_per_page'].format(value=per_page))}\n<i>{escape(t['settings_hint'])}</i>")
        languages = tuple(Button(("✓ " if (chosen.lang or "auto") == code else "") + (name or t["settings_auto"]),
                                 data=f"cs:l:{code}") for code, name in LANGUAGES)
        sizes = tuple(Button(("✓ " if per_page == n else "") + str(n), data=f"cs:k:{n}")
                      for n in sorted({*PAGE_SIZES, self.top_k}))
        return Reply(html, (languages, sizes))

    def change_setting(self, chat_id: int | None, setting: str, value: str, lang: str | None,
                       may_change: bool = True) -> Reply:
        """A /settings button: store the choice and redraw the message in place (in the new language)."""
        t = strings(self.lang_for(chat_id, lang))
        if chat_id is None:
            return Reply("", toast=t["expired"])
        if not may_change:
            return Reply("", toast=t["admin_only_settings"])
        if setting == "l" and value in dict(LANGUAGES):
            self.state.set_chat_lang(chat_id, None if value == "auto" else value)
        elif setting == "k" and value.isdigit() and int(value) in {*PAGE_SIZES, self.top_k}:
            self.state.set_chat_per_page(chat_id, None if int(value) == self.top_k else int(value))
        else:
            return Reply("", toast=t["expired"])
        menu = self.settings(chat_id, lang)
        return Reply(menu.html, menu.buttons, edit=True, toast=strings(self.lang_for(chat_id, lang))["saved"])

    # --- admins -----------------------------------------------------------------------------

    def stats(self, days: int = DEFAULT_DAYS, lang: str | None = None) -> Reply:
        """/stats: the same report as ``articlebot report``, as Telegram messages."""
        messages = report_html(build_report(self.state, days=min(max(1, days), 3660)), lang)
        return Reply(messages[0], extra=tuple(messages[1:]))

    # --- commands without a corpus question ---------------------------------------------

    def start(self, payload: str, lang: str | None) -> Reply:
        """Welcome, or a deep link: ``t.me/<bot>?start=tag_<name>`` opens that tag."""
        if payload.startswith("tag_"):
            return self.tag(payload[4:], 1, lang)
        t = strings(lang)
        html = escape(t["welcome"].format(articles=count(len(self.answerer.library.articles), "article", lang)))
        buttons = tuple((Button(example, data=f"q:{self.state.remember('ask', example)}"),)
                        for example in EXAMPLES)
        return Reply(html + "\n\n" + self.help(lang).html, buttons)

    def help(self, lang: str | None) -> Reply:
        """Usage, in the user's language, of what works where the dialogue is shown."""
        zh = strings(lang) is strings("zh")
        if self.surface == "terminal":
            return Reply(TERMINAL_ZH_HELP if zh else TERMINAL_EN_HELP)
        return Reply((ZH_HELP if zh else EN_HELP).replace("{bot}", escape(self.bot_username)))

    def about(self, lang: str | None) -> Reply:
        t = strings(lang)
        library = self.answerer.library
        built = datetime.fromtimestamp(library.built_at).strftime("%Y-%m-%d %H:%M")
        dates = [a.date for a in library.articles if a.date]
        span = f"{min(dates):%Y-%m-%d} – {max(dates):%Y-%m-%d}" if dates else "–"
        return Reply(escape(t["about"].format(articles=count(len(library.articles), "article", lang),
                                              paragraphs=count(library.paragraph_count, "paragraph", lang),
                                              tags=count(len(self.summarizer.tags()), "tag", lang), span=span,
                                              built=built, skipped=len(library.report.skipped))))

    def say(self, key: str, lang: str | None, **values: object) -> Reply:
        """A fixed message by its key in the UI strings (unknown command, rate limit, apology…)."""
        return Reply(escape(strings(lang)[key].format(**values)))

    def reloaded(self, result: ReloadResult | None, lang: str | None) -> Reply:
        """The /reload reply: ``n articles, m skipped: path: reason; …``, or why nothing changed.

        Skipped files are listed (up to RELOAD_LISTED) because the admin asked in order to learn
        whether a new file made it in; the full list is in the log.
        """
        zh = strings(lang) is strings("zh")
        if result is None:
            return Reply(escape("索引更新不可用或仍在进行，请稍后查看日志。" if zh else
                                "Reloading is not available, or still running; see the log."))
        if result.error is not None:
            text = (f"重新索引失败：{result.error}。仍使用之前的索引回答。" if zh else
                    f"Reload failed: {result.error}. Still answering from the previous index.")
            return Reply(escape(text))
        if zh:
            done = f"已重新索引（{result.seconds:.1f} 秒）" if result.changed else "文件没有变化"
            head = f"{done}：{result.articles} 篇文章，跳过 {len(result.skipped)} 个文件"
        else:
            done = f"Reloaded in {result.seconds:.1f} s" if result.changed else "No file changed"
            head = f"{done}: {plural(result.articles, 'article')}, {len(result.skipped)} skipped"
        lines = [str(error) for error in result.skipped[:RELOAD_LISTED]]
        if len(result.skipped) > RELOAD_LISTED:
            more = len(result.skipped) - RELOAD_LISTED
            lines.append(f"……另有 {more} 个" if zh else f"… and {more} more")
        colon = ("：" if zh else ":") if lines else ""
        blocks = [escape(head + colon)] + [f"• {escape(line)}" for line in lines]
        return Reply(pack(["\n".join(blocks)])[0])  # ≤ 4096: a very long list is shortened

    # --- inline mode ----------------------------------------------------------------------

    def inline(self, query: str, lang: str | None) -> list[InlineResult]:
        """Up to ten quotes, each a ready-to-send message with its link; ids unique and short."""
        if not query.strip():
            return [self._inline_article(article, summary.text, lang)
                    for article, summary in self.summarizer.latest(INLINE_RESULTS)]
        try:
            answer = self.answerer.answer(query, k=INLINE_RESULTS)
        except QuestionError:
            return []
        results = []
        for number, quote in enumerate(answer.quotes, 1):
            html = pack([quote_html(quote, number, lang)])[0]  # ≤ 4096, or Telegram refuses every result
            key = hashlib.sha1(f"{query}\0{quote.article.path}\0{quote.paragraph.position}".encode()).hexdigest()
            results.append(InlineResult(key[:32], shorten(quote.article.title, 100),
                                        shorten(quote.sentence_text.strip(), 120), html, quote.article.source_url))
        return results

    def _inline_article(self, article, text: str, lang: str | None) -> InlineResult:  # type: ignore[no-untyped-def]
        html = f"{_article_link(article.title, article.source_url)}\n<i>{escape(article.date_text)}</i>\n{escape(text)}"
        html = pack([html])[0]
        key = hashlib.sha1(article.path.encode()).hexdigest()[:32]
        return InlineResult(key, shorten(article.title, 100), shorten(text, 120), html, article.source_url)


def _article_link(title: str, url: str | None) -> str:
    return f'<a href="{escape(url)}">{escape(title)}</a>' if url else f"<b>{escape(title)}</b>"
