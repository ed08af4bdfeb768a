"""What the bot says to each request: requests in, ``Reply`` objects out, no Telegram types.

Handlers stay thin: they turn an update into a call here and the Reply into an API call.
Everything a user can see is decided (and tested) in this module; buttons are plain data,
with callback data kept under Telegram's 64 bytes by storing the long part in ``State``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from bot.engine.engine import Engine
from bot.errors import QuestionError
from bot.search.answers import Answer, Answerer
from bot.telegram.replies import (
    MESSAGE_LIMIT,
    answer_html,
    count,
    escape,
    pack,
    quote_html,
    shorten,
    text_fragment_url,
    visible_length,
)
from bot.telegram.report import DEFAULT_DAYS, TAG_PREFIX, build_report, report_html
from bot.telegram.state import SENT, UNSURE, ChatSettings, Delivery, Follow, State
from bot.telegram.strings import EXAMPLES, LANGUAGES, strings

if TYPE_CHECKING:
    from bot.engine.reloader import ReloadResult
    from bot.search.articles import Article
    from bot.summaries.catalog import Summarizer

log = logging.getLogger(__name__)

CALLBACK_LIMIT = 64
INLINE_RESULTS = 10
TAGS_PER_PAGE = 8
DIGEST_PER_PAGE = 5
RELOAD_LISTED = 20
PAGE_SIZES = (1, 3, 5)
"""Quotes per answer a chat can choose in /settings (the top_k setting is offered too)."""
TOASTED = ("f:", "cs:", "fo:", "uf:", "ul:")
"""Callback kinds answered with a toast (answerCallbackQuery text): votes, settings and follows."""
FOLLOW_PRESSES = ("fo:", "uf:", "ul:")
"""Callback kinds that change what a chat follows: in groups only its admins may press them."""
MAX_FOLLOWS = 50
"""Names one chat may follow: /following lists each with a button, and a keyboard holds 100 at most."""
FOLLOWABLE = ("tag", "topic")
"""What a name must resolve to for following: a word articles merely mention has no stream of news."""
DIGEST_ROOM = 200
"""Characters a daily digest keeps free under Telegram's 4096 for its "… and N more" line."""
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
    articles: tuple[tuple[str, str], ...] = ()
    """(path, title) of each quote's article, in the order of ``quoted``: "summary N" summarizes
    the article quote N was taken from, whatever a later search would find."""


@dataclass(frozen=True)
class Audience:
    """Whom a reply is for, resolved once per update from the chat's /settings: the language to
    answer in and the quotes per answer page (``Dialogue.audience``)."""

    lang: str | None
    """The chat's language from /settings, else the user's Telegram ``language_code``."""
    k: int
    """Quotes per answer page: the chat's choice, else the top_k setting."""


@dataclass(frozen=True)
class FollowOptions:
    """How following works for this bot (settings ``following``, ``digest_hour``, ``digest_timezone``)."""

    enabled: bool = True
    digest_hour: int = 8
    digest_timezone: str = "UTC"
    bot_id: int = 0
    """Follows and the outbox are kept per bot, like the update ledger (0: no bot, the terminal)."""

    @property
    def digest_time(self) -> str:
        """When digests go out, as readers are told: ``08:00 UTC``."""
        return f"{self.digest_hour:02d}:00 {self.digest_timezone}"


@dataclass(frozen=True)
class BroadcastPace:
    """The pacer's live figures, for /broadcast_status (the rest comes from the state file)."""

    per_second: float
    """The pace: messages per second in all while delivering (answers counted, and first)."""
    current: float
    """Messages per second sent over the last ten seconds."""
    next_digest: float
    """When the next daily digests go out (a timestamp)."""


def latest_digest_moment(now: float, hour: int, timezone: str) -> float:
    """The latest moment at or before ``now`` when daily digests were due: ``hour`` o'clock in ``timezone``.

    Days are counted on the wall clock of that zone, so a digest at 08:00 stays at 08:00 across a
    change to or from summer time.
    """
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    moment = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if moment > local:
        moment = (moment - timedelta(days=1)).replace(hour=hour)
    return moment.timestamp()


def next_digest_moment(now: float, hour: int, timezone: str) -> float:
    """The first digest moment after ``now``."""
    latest = datetime.fromtimestamp(latest_digest_moment(now, hour, timezone), ZoneInfo(timezone))
    return (latest + timedelta(days=1)).replace(hour=hour).timestamp()


def digest_day(moment: float, timezone: str) -> str:
    """The day a digest moment belongs to, in the digest's time zone (YYYY-MM-DD)."""
    return f"{datetime.fromtimestamp(moment, ZoneInfo(timezone)):%Y-%m-%d}"


@dataclass(frozen=True)
class InlineResult:
    id: str
    title: str
    description: str
    html: str
    url: str | None


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
        self.following = FollowOptions(enabled=surface == "telegram")
        """Following tags: set by the Telegram application from the settings (off in the terminal)."""

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
            chat_id: int | None = None, chat_type: str | None = None, previous: int | None = None,
            k: int | None = None) -> Reply:
        """Answer a question; ``context_query`` is the stored question a follow-up replies to.

        ``previous`` is the question asked just before in the same conversation (the terminal's,
        where there is no "reply to"): its key terms are carried over only as
        ``follow_up_attempts`` decides, and the reply then says so in its first line. ``k`` is the
        quotes per page when the caller has read the chat's settings already (``audience``);
        None reads them here.

        The question goes into the question log with whether anything answered it and how long
        that took (``chat_type`` says where it was asked), for ``bot.report``.
        """
        started = time.perf_counter()
        context = self._context(context_query)
        k = k or self.page_size(chat_id)
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

    def audience(self, chat_id: int | None, user_lang: str | None) -> Audience:
        """The language and page size for a request from ``chat_id``: its /settings, read once.

        A chat that never chose (or no chat: the terminal, tests) gets the user's language and
        the top_k setting. The state file failing must not cost the answer: the defaults then.
        """
        chosen = ChatSettings()
        if chat_id is not None:
            try:
                chosen = self.state.chat_settings(chat_id)
            except self.state.errors as error:
                log.warning("could not read the chat's settings: %s", error)
        return Audience(chosen.lang or user_lang, chosen.per_page or self.top_k)

    def page_size(self, chat_id: int | None) -> int:
        """Quotes per answer page: the chat's choice in /settings, else the top_k setting."""
        return self.audience(chat_id, None).k

    def follows(self, chat_id: int, message_id: int) -> int | None:
        """The stored question the bot's message ``message_id`` answered: a reply to it follows up."""
        stored = self.state.query_for_reply(chat_id, message_id)
        return stored.id if stored else None

    def sent(self, chat_id: int, message_id: int, reply: Reply) -> None:
        """Note that ``reply`` went out as that message, so that replies to it are follow-ups (best effort)."""
        if reply.query_id is not None:
            query_id = reply.query_id
            self._note(lambda: self.state.link_reply(chat_id, message_id, query_id))

    def count(self, name: str) -> None:
        """Add one to today's usage counter ``name`` (best effort, like every usage record)."""
        self._note(lambda: self.state.count_usage(name))

    def _note(self, record: Callable[[], object]) -> None:
        """Record usage best effort: a failing state file must not cost the reader an answer."""
        try:
            record()
        except self.state.errors as error:
            log.warning("could not record usage in the state file: %s", error)

    def more(self, query_id: int, offset: int, lang: str | None, k: int | None = None) -> Reply:
        """The next page of an earlier answer, replacing the message it was asked from.

        ``k``: the quotes per page of the chat pressing (read already); None reads the asking chat's.
        """
        stored = self.state.recall(query_id)
        if stored is None or stored.kind != "ask":
            return Reply(escape(strings(lang)["expired"]))
        k = k or self.page_size(stored.chat_id)
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
        top = answer.quotes[0]
        row.append(self._summary_button(top.article.path, top.article.title, t["summary"], f"summary {which}"))
        if top.article.source_url:
            row.append(Button(t["source"], url=text_fragment_url(top.article.source_url, top.sentence_text)))
        votes = tuple(Button(label, data=f"f:{query_id}:{key}") for key, (_vote, label) in VOTES.items())
        return Reply(html, (tuple(row), votes), query_id=query_id, quoted=numbers,
                     articles=tuple((quote.article.path, quote.article.title) for quote in answer.quotes))

    def _summary_button(self, path: str, title: str, label: str, command: str) -> Button:
        """Summary of the page's first article: the button holds that article (by path), not the
        question, so that pressing it after a re-index summarizes what was shown or says it is gone."""
        article_id = self.state.remember("article", path, title)
        return Button(label, data=f"a:{article_id}", command=command)

    def summary(self, article_id: int, lang: str | None) -> Reply:
        """The Summary button: the summary of the article it holds (``StoredQuery`` of kind "article")."""
        stored = self.state.recall(article_id)
        if stored is None or stored.kind != "article":
            return Reply(escape(strings(lang)["expired"]))
        return self.article_summary(stored.text, lang, title=stored.context)

    def article_summary(self, path: str, lang: str | None, title: str = "") -> Reply:
        """An article's summary by its path; one no longer in the library is said to be gone
        (``title``: what to call it then, as it was shown)."""
        t = strings(lang)
        article = self.summarizer.article(path)
        if article is None:
            return Reply(escape(t["article_gone"].format(title=shorten(title or path, 100))))
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

    def tag(self, name: str, page: int, lang: str | None, edit: bool = False, chat_id: int | None = None) -> Reply:
        """A tag's (or topic's) articles, newest first, each with a short summary; paged.

        With ``chat_id`` (on Telegram) the page has a Follow or Unfollow button for that chat.
        """
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
        rows: list[tuple[Button, ...]] = [tuple(nav)] if nav else []
        if chat_id is not None and self.following.enabled and digest.kind in FOLLOWABLE:
            followed = any(f.key == self.name_key(digest.name) for f in self._follows(chat_id))
            rows.append((self._follow_button(digest.name, followed, digest.page, lang),))
        return Reply(messages[0], tuple(rows), edit=edit, extra=tuple(messages[1:]))

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
                 may_change: bool = True, k: int | None = None) -> Reply:
        """Dispatch a button press; unknown or stale data gets a polite 'expired'.

        ``user_id`` and ``chat_id`` say who pressed where (votes are per user, settings per chat);
        ``may_change`` is False where the presser may not change the chat's settings (a group
        member who is not an admin); ``k`` is the chat's quotes per page, if read already.
        Summary buttons of earlier versions ("s:", which searched again) have expired.
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
                return self.more(int(query_id), int(offset), lang, k)
            if kind == "q":
                return dataclasses.replace(self.more(int(rest), 0, lang, k), edit=False)
            if kind == "a":
                return self.summary(int(rest), lang)
            if kind == "tp":
                return self.tags(int(rest), lang)
            if kind == "tn":
                return self.tag(rest, 1, lang, chat_id=chat_id)
            if kind == "t":
                query_id, page = rest.split(":")
                stored = self.state.recall(int(query_id))
                if stored and stored.kind == "tag":
                    return self.tag(stored.text, int(page), lang, edit=int(page) > 1, chat_id=chat_id)
            if kind in ("fo", "uf", "ul"):
                return self.follow_press(kind, rest, lang, chat_id, may_change)
        except ValueError:
            pass
        return Reply(escape(strings(lang)["expired"]))

    def press(self, data: str, user_lang: str | None, user_id: int | None, chat_id: int | None,
              may_change: bool) -> Reply:
        """A button press on Telegram, the chat's settings read once: a /settings button speaks the
        user's own language (the chat's is what it may be changing), any other the chat's."""
        if data.startswith("cs:"):
            return self.callback(data, user_lang, user_id, chat_id, may_change)
        audience = self.audience(chat_id, user_lang)
        return self.callback(data, audience.lang, user_id, chat_id, may_change, audience.k)

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

    def settings(self, chat_id: int, lang: str | None, chosen: ChatSettings | None = None) -> Reply:
        """The /settings message: the chat's language and quotes per answer, with buttons to change them.

        ``lang`` is the user's own language; ``chosen`` the chat's settings if read already.
        """
        chosen = self.state.chat_settings(chat_id) if chosen is None else chosen
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
        """A /settings button: store the choice and redraw the message in place (in the new language).

        ``lang`` is the user's own language; the chat's settings are read once, before the change.
        """
        if chat_id is None:
            return Reply("", toast=strings(lang)["expired"])
        chosen = self.state.chat_settings(chat_id)
        t = strings(chosen.lang or lang)
        if not may_change:
            return Reply("", toast=t["admin_only_settings"])
        if setting == "l" and value in dict(LANGUAGES):
            chosen = dataclasses.replace(chosen, lang=None if value == "auto" else value)
            self.state.set_chat_lang(chat_id, chosen.lang)
        elif setting == "k" and value.isdigit() and int(value) in {*PAGE_SIZES, self.top_k}:
            chosen = dataclasses.replace(chosen, per_page=None if int(value) == self.top_k else int(value))
            self.state.set_chat_per_page(chat_id, chosen.per_page)
        else:
            return Reply("", toast=t["expired"])
        menu = self.settings(chat_id, lang, chosen)
        return Reply(menu.html, menu.buttons, edit=True, toast=strings(chosen.lang or lang)["saved"])

    # --- following tags ----------------------------------------------------------------------

    def name_key(self, name: str) -> str:
        """The form followed names are compared in, as the catalog compares names: NFKC, lower case,
        Simplified, without spaces, hyphens, underscores or dots ("Deep-Seek" is "deepseek")."""
        return re.sub(r"[\s\-_·.]+", "", self.answerer.library.tokenizer.normalize(name))

    def _follows(self, chat_id: int) -> list[Follow]:
        try:
            return self.state.follows_of(self.following.bot_id, chat_id)
        except self.state.errors as error:
            log.warning("could not read what a chat follows: %s", error)
            return []

    def _follow_button(self, name: str, followed: bool, page: int, lang: str | None) -> Button:
        """Follow or Unfollow ``name``; ``page`` is the tag page to redraw (0: a confirmation message)."""
        t = strings(lang)
        kind = "uf" if followed else "fo"
        return Button(t["unfollow_button" if followed else "follow_button"],
                      data=self._name_data(kind, f"{page}:", name))

    def _name_data(self, kind: str, middle: str, name: str) -> str:
        """Callback data naming a tag (``kind:middle name``), or its stored id (``kind:middle #id``)
        when the name would pass Telegram's 64 bytes."""
        data = f"{kind}:{middle}{name}"
        if len(data.encode()) > CALLBACK_LIMIT:
            data = f"{kind}:{middle}#{self.state.remember('tag', name)}"
        return data

    def _named(self, text: str) -> str | None:
        """The name a follow button carries (``#id``: a stored one; None when it has expired)."""
        if not text.startswith("#"):
            return text
        stored = self.state.recall(int(text[1:])) if text[1:].isdigit() else None
        return stored.text if stored is not None and stored.kind == "tag" else None

    def follow(self, chat_id: int, name: str, daily: bool, lang: str | None, may_change: bool = True) -> Reply:
        """/follow NAME [daily]: follow a tag or topic, named as /tag resolves names, in this chat.

        ``may_change`` is False for a group member who is not its admin. A name that only some
        articles mention cannot be followed (nothing would say which new article is "of" it); the
        reply then offers tags to follow instead.
        """
        t = strings(lang)
        refused = self._follow_refusal(name, lang, may_change, "follow_usage")
        if refused is not None:
            return refused
        name = name.strip().lstrip("#")
        resolution = self.summarizer.resolve(name)
        if resolution.kind not in FOLLOWABLE:
            key = "follow_not_a_tag" if resolution.kind == "search" else "follow_unknown"
            offered = list(resolution.suggestions) or [entry.name for entry in self.summarizer.tags(top_topics=4)]
            buttons = tuple((Button(f"🔔 #{s}", data=self._name_data("fo", "0:", s)),) for s in offered[:4])
            return Reply(escape(t[key].format(name=shorten(name, 60))), buttons)
        written = resolution.name
        stored = self.state.follow(self.following.bot_id, chat_id, self.name_key(written), written, daily, lang,
                                   limit=MAX_FOLLOWS)
        if stored is None:
            return Reply(escape(t["follow_limit"].format(n=MAX_FOLLOWS)))
        return self._follow_confirmation(written, daily, lang)

    def _follow_refusal(self, name: str, lang: str | None, may_change: bool, usage: str) -> Reply | None:
        """Why /follow or /unfollow cannot go on (following off, not an admin, no name), if it cannot."""
        t = strings(lang)
        if not self.following.enabled:
            return Reply(escape(t["following_off"]))
        if not may_change:
            return Reply(escape(t["admin_only_follow"]))
        if not name.strip().lstrip("#"):
            return Reply(escape(t[usage]))
        return None

    def _follow_confirmation(self, name: str, daily: bool, lang: str | None) -> Reply:
        t = strings(lang)
        text = t["followed_daily" if daily else "followed"].format(name=name, time=self.following.digest_time)
        return Reply(escape(text), ((self._follow_button(name, True, 0, lang),),))

    def unfollow(self, chat_id: int, name: str, lang: str | None, may_change: bool = True) -> Reply:
        """/unfollow NAME: stop following it here (named as followed, or as /tag resolves it now)."""
        t = strings(lang)
        refused = self._follow_refusal(name, lang, may_change, "unfollow_usage")
        if refused is not None:
            return refused
        name = name.strip().lstrip("#")
        follow = self._followed_as(chat_id, name)
        if follow is None or not self.state.unfollow(self.following.bot_id, chat_id, follow.key):
            return Reply(escape(t["not_following"].format(name=shorten(name, 60))))
        return Reply(escape(t["unfollowed"].format(name=follow.name)),
                     ((self._follow_button(follow.name, False, 0, lang),),))

    def _followed_as(self, chat_id: int, name: str) -> Follow | None:
        """The chat's follow that ``name`` means: its own key, else what the name resolves to now."""
        follows = {f.key: f for f in self._follows(chat_id)}
        found = follows.get(self.name_key(name))
        if found is None:
            resolution = self.summarizer.resolve(name)
            if resolution.kind in FOLLOWABLE:
                found = follows.get(self.name_key(resolution.name))
        return found

    def following_list(self, chat_id: int, lang: str | None, edit: bool = False) -> Reply:
        """/following: what this chat follows and how, with an Unfollow button for each."""
        t = strings(lang)
        if not self.following.enabled:
            return Reply(escape(t["following_off"]), edit=edit)
        follows = self._follows(chat_id)
        if not follows:
            return Reply(escape(t["following_none"]), edit=edit)
        lines = [f"<b>{escape(t['following_title'])}</b>"]
        for follow in follows:
            how = t["following_daily"].format(time=self.following.digest_time) if follow.daily \
                else t["following_each"]
            lines.append(f"#{escape(follow.name)} · {escape(how)}")
        buttons = tuple((Button(f"🔕 #{f.name}", data=self._name_data("ul", "", f.name)),) for f in follows)
        return Reply(pack(["\n".join(lines)])[0], buttons, edit=edit)

    def follow_press(self, kind: str, rest: str, lang: str | None, chat_id: int | None, may_change: bool) -> Reply:
        """A Follow or Unfollow button: under a tag page (redrawn in place), under a confirmation, or in
        /following (the list redrawn); answered with a toast."""
        t = strings(lang)
        page_text, _, carried = rest.partition(":") if kind != "ul" else ("", "", rest)
        name = self._named(carried)
        if chat_id is None or name is None or (kind != "ul" and not page_text.isdigit()):
            return Reply("", toast=t["expired"])
        if not self.following.enabled:
            return Reply("", toast=t["following_off"])
        if not may_change:
            return Reply("", toast=t["admin_only_follow"])
        if kind == "fo":
            reply = self.follow(chat_id, name, False, lang)
            followed = self._followed_as(chat_id, name)
            if followed is None:  # not followable after all, or the chat follows the most it may
                return Reply("", toast=shorten(html_text(reply.html), 190))
            toast = t["followed_toast"].format(name=followed.name)
        else:
            reply = self.unfollow(chat_id, name, lang)
            toast = html_text(reply.html)
        if kind == "ul":
            return dataclasses.replace(self.following_list(chat_id, lang, edit=True), toast=shorten(toast, 190))
        page = int(page_text)
        if page > 0:
            return dataclasses.replace(self.tag(name, page, lang, edit=True, chat_id=chat_id),
                                       edit=True, toast=shorten(toast, 190))
        return dataclasses.replace(reply, edit=True, toast=shorten(toast, 190))

    # --- deliveries to followers (what the broadcaster sends) -----------------------------------

    def article_keys(self, engine: Engine, article: Article) -> dict[str, str]:
        """The names an article may be followed under (its tags and topics): key → name as written."""
        names = [*article.tags, *engine.summarizer.topics(article)]
        return {self.name_key(name): name for name in reversed(names)}

    def announcements(self, engine: Engine, articles: Sequence[Article], serves: Callable[[int], bool],
                      when: float | None = None) -> list[Delivery]:
        """The messages that tell followers of new articles: one per (article, chat), whichever and
        however many of the article's names the chat follows. Rendered once per language and names.

        Also notes each article under its names for the daily digests (``when``: the clock's time).
        """
        deliveries: list[Delivery] = []
        arrivals: list[tuple[str, str, str]] = []
        for article in articles:
            keys = self.article_keys(engine, article)
            arrivals += [(key, article.path, article.title) for key in keys]
            per_chat: dict[int, list[Follow]] = {}
            for follow in self.state.followers(self.following.bot_id, keys, daily=False):
                if serves(follow.chat_id):
                    per_chat.setdefault(follow.chat_id, []).append(follow)
            groups: dict[tuple[str | None, tuple[str, ...]], list[int]] = {}
            for chat, follows in per_chat.items():
                groups.setdefault((follows[0].lang, tuple(f.name for f in follows)), []).append(chat)
            if not groups:
                continue
            summary = engine.summarizer.summarize(article).text
            article_id = self.state.remember("article", article.path, article.title)
            for (lang, names), chats in groups.items():
                reply = self.announcement(article, summary, names, lang, article_id)
                deliveries.append(Delivery(f"a:{article.path}", reply.html, _stored_buttons(reply),
                                           tuple(chats), reply.preview_url))
        self.state.record_arrivals(arrivals, when)
        return deliveries

    def announcement(self, article: Article, summary: str, names: Sequence[str], lang: str | None,
                     article_id: int) -> Reply:
        """A new article for its followers: title linked to the source, date and the followed names,
        the summary, and Summary/Source buttons as under answers."""
        t = strings(lang)
        tags = " ".join(f"#{escape(name)}" for name in names)
        html = (f"{_article_link(article.title, article.source_url)}\n"
                f"<i>{escape(article.date_text or t['no_date'])}</i> · {tags}\n{escape(summary)}")
        footer = f"<i>{escape(t['new_article_footer'].format(tags=' '.join('#' + n for n in names)))}</i>"
        html = pack([html], MESSAGE_LIMIT - visible_length(footer) - 2)[0] + "\n\n" + footer
        row = [Button(t["summary"], data=f"a:{article_id}")]
        if article.source_url:
            row.append(Button(t["source"], url=article.source_url))
        return Reply(html, (tuple(row),), preview_url=None)

    def daily_digests(self, moment: float, since: float, serves: Callable[[int], bool]) -> list[Delivery]:
        """The digests due at ``moment``: for each name followed daily, the articles that arrived under it
        in (since, moment], in /tag's format; nothing for a name without new articles."""
        by_name: dict[str, list[Follow]] = {}
        for follow in self.state.daily_follows(self.following.bot_id):
            if serves(follow.chat_id):
                by_name.setdefault(follow.key, []).append(follow)
        day = digest_day(moment, self.following.digest_timezone)
        deliveries = []
        for key, follows in by_name.items():
            articles = [a for a in (self.summarizer.article(path) for path, _title in
                                    self.state.arrivals(key, since, moment)) if a is not None]
            if not articles:
                continue
            langs: dict[str | None, list[int]] = {}
            for follow in follows:
                langs.setdefault(follow.lang, []).append(follow.chat_id)
            for lang, chats in langs.items():
                reply = self.digest_message(follows[0].name, articles, day, lang)
                deliveries.append(Delivery(f"d:{key}:{day}", reply.html, _stored_buttons(reply), tuple(chats)))
        return deliveries

    def digest_message(self, name: str, articles: Sequence[Article], day: str, lang: str | None) -> Reply:
        """One day's new articles of a followed name, newest first, as /tag shows a page: count, overview,
        then each title (linked), date and summary; one message, the rest left to /tag."""
        t = strings(lang)
        newest = sorted(articles, key=lambda a: a.date or datetime.min, reverse=True)
        blocks = [f"<b>{escape(t['digest_title'].format(name=name, day=day))}</b>",
                  f"<b>#{escape(name)}</b> · {escape(count(len(newest), 'article', lang))}"]
        if len(newest) > 1:
            lines = [f"• {escape(s)} {_article_link('↗', a.source_url)}" if a.source_url else f"• {escape(s)}"
                     for s, a in self.summarizer.overview(newest, name)]
            if lines:
                blocks.append("<blockquote>" + "\n".join(lines) + "</blockquote>")
        shown = 0
        for number, article in enumerate(newest, 1):
            block = (f"{number}. {_article_link(article.title, article.source_url)}\n"
                     f"<i>{escape(article.date_text or t['no_date'])}</i>\n"
                     f"{escape(self.summarizer.summarize(article).text)}")
            if visible_length("\n\n".join([*blocks, block])) > MESSAGE_LIMIT - DIGEST_ROOM:
                break
            blocks.append(block)
            shown += 1
        if shown < len(newest):
            blocks.append(f"<i>{escape(t['digest_more'].format(n=len(newest) - shown, name=name))}</i>")
        return Reply(pack(["\n\n".join(blocks)])[0], ((self._tag_button(name),),))

    def broadcast_status(self, pace: BroadcastPace | None, lang: str | None, now: float | None = None) -> Reply:
        """/broadcast_status (admins): follows, the outbox, the pace and the next digest time."""
        t = strings(lang)
        if not self.following.enabled or pace is None:
            return Reply(escape(t["broadcast_off"]))
        now = time.time() if now is None else now
        bot_id = self.following.bot_id
        counts = self.state.follow_counts()
        chats, follows, daily = self.state.follow_totals(bot_id)
        outcomes = self.state.outbox_outcomes(bot_id, now - 86400)
        failed = sum(n for outcome, n in outcomes.items() if outcome.startswith("failed"))
        zone = ZoneInfo(self.following.digest_timezone)
        lines = [f"<b>{escape(t['broadcast_title'])}</b>",
                 escape(t["broadcast_follows"].format(follows=follows, chats=chats, daily=daily)),
                 escape(t["broadcast_queue"].format(pending=self.state.pending_deliveries(bot_id),
                                                    sent=outcomes.get(SENT, 0), dropped=outcomes.get("dropped", 0),
                                                    unsure=outcomes.get(UNSURE, 0), failed=failed)),
                 escape(t["broadcast_pace"].format(rate=pace.per_second, current=pace.current)),
                 escape(t["broadcast_digest"].format(
                     time=self.following.digest_time,
                     next=f"{datetime.fromtimestamp(pace.next_digest, zone):%Y-%m-%d %H:%M}"))]
        if counts:
            lines.append(escape(", ".join(f"#{name} {n}" for name, n in list(counts.items())[:20])))
        return Reply(pack(["\n".join(lines)])[0])

    # --- admins -----------------------------------------------------------------------------

    def stats(self, days: int = DEFAULT_DAYS, lang: str | None = None) -> Reply:
        """/stats: the same report as ``articlebot report``, as Telegram messages."""
        messages = report_html(build_report(self.state, days=min(max(1, days), 3660)), lang)
        return Reply(messages[0], extra=tuple(messages[1:]))

    # --- commands without a corpus question ---------------------------------------------

    def start(self, payload: str, lang: str | None, chat_id: int | None = None, may_change: bool = True) -> Reply:
        """Welcome, or a deep link: ``t.me/<bot>?start=tag_<name>`` opens that tag, ``follow_<name>``
        follows it in one tap."""
        if payload.startswith("tag_"):
            return self.tag(payload[4:], 1, lang, chat_id=chat_id)
        if payload.startswith("follow_") and chat_id is not None:
            return self.follow(chat_id, payload[7:], False, lang, may_change)
        t = strings(lang)
        html = escape(t["welcome"].format(articles=count(len(self.answerer.library.articles), "article", lang)))
        buttons = tuple((Button(example, data=f"q:{self.state.remember('ask', example)}"),)
                        for example in EXAMPLES)
        return Reply(html + "\n\n" + self.help(lang).html, buttons)

    def help(self, lang: str | None) -> Reply:
        """Usage, in the user's language, of what works where the dialogue is shown."""
        if self.surface == "terminal":
            return Reply(strings(lang)["help_terminal"])
        return Reply(strings(lang)["help"].replace("{bot}", escape(self.bot_username)))

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
        t = strings(lang)
        if result is None:
            return Reply(escape(t["reload_unavailable"]))
        if result.error is not None:
            return Reply(escape(t["reload_failed"].format(error=result.error)))
        done = t["reloaded_in"].format(seconds=result.seconds) if result.changed else t["no_file_changed"]
        head = t["reload_head"].format(done=done, articles=count(result.articles, "article", lang),
                                       skipped=len(result.skipped))
        lines = [str(error) for error in result.skipped[:RELOAD_LISTED]]
        if len(result.skipped) > RELOAD_LISTED:
            lines.append(t["reload_more"].format(n=len(result.skipped) - RELOAD_LISTED))
        colon = t["colon"] if lines else ""
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


def _stored_buttons(reply: Reply) -> tuple[tuple[dict[str, str], ...], ...]:
    """A reply's buttons as the outbox keeps them (label with callback data or URL)."""
    return tuple(tuple({k: v for k, v in (("label", b.label), ("data", b.data), ("url", b.url)) if v is not None}
                       for b in row) for row in reply.buttons)


def html_text(markup: str) -> str:
    """The plain text of a reply's HTML (for a toast, which shows no markup)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _article_link(title: str, url: str | None) -> str:
    return f'<a href="{escape(url)}">{escape(title)}</a>' if url else f"<b>{escape(title)}</b>"
